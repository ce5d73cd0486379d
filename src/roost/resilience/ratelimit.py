"""Request rate limits (docs/ratelimits.md), as Mastodon applies them.

Fixed windows aligned to the clock, as Rack::Attack (Mastodon's limiter) counts: a
bucket's window is `now // period`, the count of requests in it is kept under a key
that expires with the window, and a request is refused once the count passes the
limit. Two backends sit behind one small interface:

- `MemoryRateLimiter`: a dict in this process (the embedded default, one process);
- `RedisRateLimiter`: INCR + EXPIRE in one MULTI/EXEC pipeline, one round trip for all
  of a request's buckets, so that every process and server shares the same count.

`RateLimitMiddleware` applies the rules to /api/* and /oauth/token only (never to
health checks, metrics or static files), with a media-upload bucket per account on top
of the API one for POST /api/v1|v2/media (counted before the body is read, so a refused
upload is neither decoded nor stored), answers 429 {"error": "Too many requests"}
when a bucket is spent, and adds X-RateLimit-Limit/-Remaining/-Reset to API answers,
describing the bucket closest to running out. When Redis fails, `FallbackRateLimiter`
counts in this process instead (behind a circuit breaker, so requests do not wait on
a dead Redis); if even that fails, requests are let through and the failure is
logged: a broken limiter must not take the API down with it.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import orjson
import structlog
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roost.api.auth import _viewer, bearer_token
from roost.errors import ApiError
from roost.resilience.breaker import FAILURES, BreakerOpen, CircuitBreaker

log = structlog.get_logger(__name__)

DEFAULT_KEY_PREFIX = "roost:rl:"
TOO_MANY_REQUESTS = "Too many requests"  # Mastodon's errors.429


@dataclass(frozen=True)
class Hit:
    """One request counted against one bucket: `limit` requests per `period` seconds."""

    key: str
    limit: int
    period: int


@dataclass(frozen=True)
class Verdict:
    limit: int
    count: int  # requests in the window so far, this one included
    reset_at: float  # epoch seconds when the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)


class RateLimiter(Protocol):
    async def hit(self, hits: Sequence[Hit]) -> list[Verdict]:
        """Counts one request against each bucket; one verdict per hit, in order."""
        ...

    async def close(self) -> None: ...


def _window(now: float, period: int) -> int:
    return int(now // period)


class MemoryRateLimiter:
    """Counts in this process only: right for one process, wrong across several."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # key -> (window, count); entries of past windows are swept now and then.
        self._counts: dict[str, tuple[int, int]] = {}
        self._next_sweep = 0.0

    async def hit(self, hits: Sequence[Hit]) -> list[Verdict]:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        verdicts = []
        for one in hits:
            window = _window(now, one.period)
            key = f"{one.key}:{one.period}"
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._counts[key] = (window, count)
            verdicts.append(Verdict(one.limit, count, (window + 1) * one.period))
        return verdicts

    def _sweep(self, now: float) -> None:
        stale = [
            key
            for key, (window, _count) in self._counts.items()
            if (window + 1) * int(key.rsplit(":", 1)[1]) <= now
        ]
        for key in stale:
            del self._counts[key]
        self._next_sweep = now + 60

    def __len__(self) -> int:
        return len(self._counts)

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """Counts in Redis, shared by every process; keys are `<prefix><bucket>:<window>`."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 1.0,
    ) -> None:
        self._redis = Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        self._prefix = key_prefix
        self._clock = clock

    def key_of(self, hit: Hit, now: float) -> str:
        return f"{self._prefix}{hit.key}:{hit.period}:{_window(now, hit.period)}"

    async def hit(self, hits: Sequence[Hit]) -> list[Verdict]:
        now = self._clock()
        pipe = self._redis.pipeline(transaction=True)
        for one in hits:
            key = self.key_of(one, now)
            pipe.incr(key)
            # A second of slack: a window's key outlives it slightly, never the reverse.
            pipe.expire(key, one.period + 1)
        replies = await pipe.execute()
        counts = replies[0::2]
        return [
            Verdict(one.limit, int(count), (_window(now, one.period) + 1) * one.period)
            for one, count in zip(hits, counts, strict=True)
        ]

    async def close(self) -> None:
        await self._redis.aclose()


# --- what is limited, and for whom -----------------------------------------------------


# Media uploads, per account: Mastodon's `throttle_api_media` (30 per 30 minutes). Decoding
# and re-encoding a picture is the most CPU-costly request Roost answers; the web composer
# counts its pictures in the same bucket (web/session.py), so pages are no way around it.
MEDIA_UPLOADS = 30
MEDIA_UPLOAD_PERIOD = 1800
MEDIA_UPLOAD_PATHS = frozenset({"/api/v1/media", "/api/v2/media"})


@dataclass(frozen=True)
class RateLimitRules:
    requests: int = 300  # per account (signed in) or per IP (anonymous)
    period: int = 300
    signups: int = 5  # POST /api/v1/accounts, per IP
    signup_period: int = 1800
    media_uploads: int = MEDIA_UPLOADS  # POST /api/v1|v2/media, per signed-in account
    media_upload_period: int = MEDIA_UPLOAD_PERIOD


def media_upload_hit(account_id: int, limit: int = MEDIA_UPLOADS,
                     period: int = MEDIA_UPLOAD_PERIOD) -> Hit:
    """One media upload counted against its account's bucket (API and web alike)."""
    return Hit(f"media:account:{account_id}", limit, period)


def is_limited_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/oauth/token"


def client_ip(scope: Scope) -> str:
    """The client's address (uvicorn has already applied trusted X-Forwarded-For);
    IPv6 addresses count per /64, as one host usually holds the whole prefix."""
    client = scope.get("client")
    raw = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def iso_reset(epoch: float) -> str:
    """X-RateLimit-Reset as Mastodon sends it: ISO 8601 with microseconds."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rate_limit_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(verdict.limit).encode()),
        (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
        (b"x-ratelimit-reset", iso_reset(verdict.reset_at).encode()),
    ]


def closest_to_limit(verdicts: Sequence[Verdict]) -> Verdict:
    """A refused bucket if any, else the one with the fewest requests left."""
    refused = [v for v in verdicts if not v.allowed]
    return min(refused or verdicts, key=lambda v: (v.remaining, v.reset_at))


async def signed_in_account(scope: Scope) -> int | None:
    """The account behind the bearer token, through the same lookup (and the same
    per-request memo) as the routes' auth dependency, so that it costs no extra
    statement. A bad token counts as anonymous here; the route still answers 401."""
    request = Request(scope)
    if bearer_token(request) is None:
        return None
    try:
        viewer = await _viewer(request)
    except ApiError:
        return None
    return viewer.maybe_account_id if viewer is not None else None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter, rules: RateLimitRules) -> None:
        self.app = app
        self.limiter = limiter
        self.rules = rules

    def hits_for(self, scope: Scope, account_id: int | None) -> list[Hit]:
        ip = client_ip(scope)
        rules = self.rules
        who = f"account:{account_id}" if account_id is not None else f"ip:{ip}"
        hits = [Hit(f"api:{who}", rules.requests, rules.period)]
        if scope["method"] == "POST" and scope["path"] == "/api/v1/accounts":
            hits.append(Hit(f"signup:ip:{ip}", rules.signups, rules.signup_period))
        if (scope["method"] == "POST" and scope["path"] in MEDIA_UPLOAD_PATHS
                and account_id is not None):  # without an account the route answers 401
            hits.append(media_upload_hit(account_id, rules.media_uploads,
                                         rules.media_upload_period))
        return hits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_limited_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            hits = self.hits_for(scope, await signed_in_account(scope))
            verdict = closest_to_limit(await self.limiter.hit(hits))
        except Exception as exc:  # fail open: a broken limiter must not stop the API
            log.warning("rate limiter unavailable", error=f"{type(exc).__name__}: {exc}")
            await self.app(scope, receive, send)
            return
        headers = rate_limit_headers(verdict)
        if not verdict.allowed:
            await _too_many_requests(send, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _too_many_requests(send: Send, headers: list[tuple[bytes, bytes]]) -> None:
    body = orjson.dumps({"error": TOO_MANY_REQUESTS})
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class FallbackRateLimiter:
    """Redis while it answers; this process's own counts while it does not (its circuit
    breaker open, or a call failing). A client then gets up to the limit from each
    process for a while: looser than one count for all, far better than none."""

    def __init__(self, primary: RateLimiter, fallback: RateLimiter,
                 breaker: CircuitBreaker) -> None:
        self.primary = primary
        self.fallback = fallback
        self.breaker = breaker

    async def hit(self, hits: Sequence[Hit]) -> list[Verdict]:
        try:
            return await self.breaker.call(lambda: self.primary.hit(hits))
        except BreakerOpen:
            return await self.fallback.hit(hits)
        except FAILURES as exc:
            log.warning("rate limits counted in this process: Redis failed",
                        error=f"{type(exc).__name__}: {exc}")
            return await self.fallback.hit(hits)

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()


def build_limiter(redis_url: str | None, key_prefix: str = DEFAULT_KEY_PREFIX) -> RateLimiter:
    if redis_url:
        return FallbackRateLimiter(RedisRateLimiter(redis_url, key_prefix=key_prefix),
                                   MemoryRateLimiter(), CircuitBreaker("ratelimit-redis"))
    return MemoryRateLimiter()
