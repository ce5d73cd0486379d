"""Every setting Roost reads, from ROOST_* environment variables only.

The README's configuration table documents each one; keep the two in step.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Registrations = Literal["open", "approval", "closed"]
REGISTRATION_MODES: tuple[Registrations, ...] = ("open", "approval", "closed")


class ConfigError(ValueError):
    """A setting has a value Roost cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    domain: str | None
    secret_key: str
    registrations: Registrations
    password_grant: bool
    max_status_chars: int
    log_level: str
    # Rate limits (resilience/ratelimit.py, docs/ratelimits.md): requests per period
    # (seconds) per account or anonymous IP, and sign-ups per period per IP.
    rate_limits: bool = True
    rate_limit_requests: int = 300
    rate_limit_period: int = 300
    rate_limit_signups: int = 5
    rate_limit_signup_period: int = 1800
    rate_limit_key_prefix: str = "roost:rl:"
    # Where this server's source code can be had (the AGPL asks operators to offer it);
    # /api/v2/instance shows it. Empty until the operator sets it.
    source_url: str = ""
    # argon2id cost of new password hashes (security/passwords.py).
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    # The event log (roost.events, docs/events.md).
    event_log: str = "outbox"  # outbox (in-process), redis or nats://host:port
    event_max_attempts: int = 5  # a handler failing this often sends its event to the dead letters
    event_retry_base_ms: int = 500  # first retry after up to this long, doubling each time
    event_retention_hours: int = 24  # the outbox keeps events this long, for replays
    # The Redis Streams log (events/redis_log.py): an account's events go to stream
    # `{prefix}events:{account_id % partitions}`, each capped near `maxlen` entries;
    # an entry a dead consumer left unacknowledged this long is claimed by another.
    event_partitions: int = 8
    event_stream_prefix: str = "roost:"
    event_stream_maxlen: int = 1_000_000
    event_claim_idle_ms: int = 30_000
    # The NATS JetStream log (events/nats_log.py): one stream, subjects
    # `{stream lowercase}.events.{account_id % partitions}`; a message a consumer took
    # and did not acknowledge within `ack_wait` goes to another process.
    event_nats_stream: str = "ROOST_EVENTS"
    event_nats_ack_wait_ms: int = 30_000
    # How long an idle outbox reader (the dispatcher, the relays) sleeps between looks at
    # the outbox when nothing woke it: its own process's commits wake it at once, other
    # processes' on PostgreSQL too (LISTEN/NOTIFY); on SQLite, other processes' events
    # wait for this poll.
    event_poll_ms: int = 1_000
    # Whether `roost serve` runs the consumers itself (the embedded default); with a
    # separate `roost worker`, turn it off.
    serve_consumers: bool = True
    # Every key Roost keeps in Redis outside the event streams and rate limits (home
    # timelines, caches, streaming channels) starts with this: one Redis can serve
    # several deployments.
    redis_key_prefix: str = "roost:"
    # Home timelines in Redis (timelines/redis_home.py): each keeps this many statuses,
    # and lives this many days after its owner last read it (no fan-out after that).
    home_timeline_size: int = 800
    active_days: int = 7
    # Streaming connections (docs/streaming.md) send a heartbeat after this long
    # without a message: an SSE `:thump` comment line.
    streaming_heartbeat_ms: int = 15_000
    # Authors followed by more accounts than this are not fanned out: their statuses
    # are merged into home pages when they are read (timelines/fanout.py).
    fanout_max_followers: int = 10_000
    # The object cache (cache/objects.py): "redis" (shared by every process), "local"
    # (an LRU in this process: only right when all writes happen in it, the embedded
    # server), "off", or "auto": redis with ROOST_REDIS_URL, else local for the
    # embedded server on SQLite that runs its own consumers in its one process, else off.
    object_cache: str = "auto"
    # How many processes `roost serve` started (it sets ROOST_SERVE_PROCESSES itself).
    serve_processes: int = 1
    # Media (roost.media, docs/media.md): where clients fetch stored files (a CDN or
    # nginx; unset: this server's /media), the upload limits, and the size above which
    # POST /api/v2/media answers 202 and processes the file off the request path.
    media_url: str | None = None
    media_max_image_bytes: int = 16 * 1024 * 1024
    media_max_image_pixels: int = 50_000_000
    media_async_bytes: int = 2 * 1024 * 1024

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")


def _http_url(name: str, raw: str | None) -> str:
    value = (raw or "").strip()
    if value and not value.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http:// or https:// URL, not {raw!r}")
    return value


def _positive(
    name: str, raw: str | None, default: int, minimum: int = 1, maximum: int = 1_000_000_000
) -> int:
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
        raise ConfigError(
            f"{name} must be a whole number from {minimum} to {maximum}, not {raw!r}"
        )
    return int(text)


def _key_prefix(name: str, raw: str | None, default: str) -> str:
    """A Redis key prefix: printable ASCII without spaces (it is part of every key)."""
    if raw is None or raw == "":
        return default
    if len(raw) > 100 or not all(33 <= ord(c) <= 126 for c in raw):
        raise ConfigError(f"{name} must be up to 100 printable characters without spaces, "
                          f"not {raw!r}")
    return raw


def _stream_name(name: str, raw: str | None, default: str) -> str:
    """A JetStream stream name: letters, digits, _ and - (it is also a subject token)."""
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    if len(value) > 64 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        raise ConfigError(f"{name} must be up to 64 letters, digits, _ or -, not {raw!r}")
    return value


def normalise_database_url(url: str) -> str:
    """Accept plain postgresql:// URLs and pick the async drivers ourselves.

    psycopg 3 is used for PostgreSQL because it works through PgBouncer in transaction
    mode once server-side prepared statements are off (see db/engine.py).
    """
    for prefix in (
        "postgresql+psycopg://",
        "postgresql+asyncpg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite+aiosqlite://"):
        return url
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    raise ConfigError(f"ROOST_DATABASE_URL must be a postgresql:// or sqlite:// URL, not {url!r}")


def _secret_key(data_dir: Path, configured: str | None) -> str:
    if configured:
        return configured
    # Generated once and kept in the data dir, so sessions and signed forms survive restarts.
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("ROOST_DATA_DIR") or "./data").resolve()
    raw_url = env.get("ROOST_DATABASE_URL") or f"sqlite:///{data_dir / 'roost.sqlite3'}"
    registrations = (env.get("ROOST_REGISTRATIONS") or "open").strip().lower()
    if registrations not in REGISTRATION_MODES:
        raise ConfigError(
            f"ROOST_REGISTRATIONS must be one of {', '.join(REGISTRATION_MODES)}, "
            f"not {registrations!r}"
        )
    raw_limit = env.get("ROOST_MAX_STATUS_CHARS") or "500"
    # isascii(): superscripts and non-Latin digits pass isdigit() but are not wanted here.
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= 100_000:
        raise ConfigError(f"ROOST_MAX_STATUS_CHARS must be 1 to 100000, not {raw_limit!r}")
    # Redis Streams when there is a Redis (the "at scale" default), else the outbox.
    event_log = (env.get("ROOST_EVENT_LOG") or "").strip() or (
        "redis" if env.get("ROOST_REDIS_URL") else "outbox"
    )
    if event_log not in ("outbox", "redis") and not event_log.startswith("nats://"):
        raise ConfigError(
            f"ROOST_EVENT_LOG must be outbox, redis or nats://host:port, not {event_log!r}"
        )
    if event_log == "redis" and not env.get("ROOST_REDIS_URL"):
        raise ConfigError("ROOST_EVENT_LOG=redis needs ROOST_REDIS_URL")
    return Settings(
        data_dir=data_dir,
        database_url=normalise_database_url(raw_url),
        redis_url=env.get("ROOST_REDIS_URL") or None,
        domain=env.get("ROOST_DOMAIN") or None,
        secret_key=_secret_key(data_dir, env.get("ROOST_SECRET_KEY")),
        registrations=registrations,  # checked against REGISTRATION_MODES above
        password_grant=_bool("ROOST_PASSWORD_GRANT", env.get("ROOST_PASSWORD_GRANT"), True),
        max_status_chars=int(raw_limit),
        log_level=(env.get("ROOST_LOG_LEVEL") or "info").lower(),
        rate_limits=_bool("ROOST_RATE_LIMITS", env.get("ROOST_RATE_LIMITS"), True),
        rate_limit_requests=_positive(
            "ROOST_RATE_LIMIT_REQUESTS", env.get("ROOST_RATE_LIMIT_REQUESTS"), 300
        ),
        rate_limit_period=_positive(
            "ROOST_RATE_LIMIT_PERIOD", env.get("ROOST_RATE_LIMIT_PERIOD"), 300
        ),
        rate_limit_signups=_positive(
            "ROOST_RATE_LIMIT_SIGNUPS", env.get("ROOST_RATE_LIMIT_SIGNUPS"), 5
        ),
        rate_limit_signup_period=_positive(
            "ROOST_RATE_LIMIT_SIGNUP_PERIOD", env.get("ROOST_RATE_LIMIT_SIGNUP_PERIOD"), 1800
        ),
        rate_limit_key_prefix=env.get("ROOST_RATE_LIMIT_KEY_PREFIX") or "roost:rl:",
        source_url=_http_url("ROOST_SOURCE_URL", env.get("ROOST_SOURCE_URL")),
        password_hash_time_cost=_positive(
            "ROOST_PASSWORD_HASH_TIME_COST", env.get("ROOST_PASSWORD_HASH_TIME_COST"), 3
        ),
        # argon2 needs 8 KiB per lane, and Roost hashes with 4 lanes.
        password_hash_memory_kib=_positive(
            "ROOST_PASSWORD_HASH_MEMORY_KIB", env.get("ROOST_PASSWORD_HASH_MEMORY_KIB"),
            65536, minimum=32,
        ),
        event_log=event_log,
        event_max_attempts=_positive(
            "ROOST_EVENT_MAX_ATTEMPTS", env.get("ROOST_EVENT_MAX_ATTEMPTS"), 5
        ),
        event_retry_base_ms=_positive(
            "ROOST_EVENT_RETRY_BASE_MS", env.get("ROOST_EVENT_RETRY_BASE_MS"), 500
        ),
        event_retention_hours=_positive(
            "ROOST_EVENT_RETENTION_HOURS", env.get("ROOST_EVENT_RETENTION_HOURS"), 24
        ),
        event_partitions=_positive(
            "ROOST_EVENT_PARTITIONS", env.get("ROOST_EVENT_PARTITIONS"), 8, maximum=1024
        ),
        event_stream_prefix=_key_prefix(
            "ROOST_EVENT_STREAM_PREFIX", env.get("ROOST_EVENT_STREAM_PREFIX"), "roost:"
        ),
        event_stream_maxlen=_positive(
            "ROOST_EVENT_STREAM_MAXLEN", env.get("ROOST_EVENT_STREAM_MAXLEN"), 1_000_000,
            minimum=1000,
        ),
        event_claim_idle_ms=_positive(
            "ROOST_EVENT_CLAIM_IDLE_MS", env.get("ROOST_EVENT_CLAIM_IDLE_MS"), 30_000,
            minimum=100,
        ),
        event_nats_stream=_stream_name(
            "ROOST_EVENT_NATS_STREAM", env.get("ROOST_EVENT_NATS_STREAM"), "ROOST_EVENTS"
        ),
        event_nats_ack_wait_ms=_positive(
            "ROOST_EVENT_NATS_ACK_WAIT_MS", env.get("ROOST_EVENT_NATS_ACK_WAIT_MS"), 30_000,
            minimum=100,
        ),
        event_poll_ms=_positive(
            "ROOST_EVENT_POLL_MS", env.get("ROOST_EVENT_POLL_MS"), 1_000, minimum=10,
            maximum=60_000,
        ),
        serve_consumers=_bool("ROOST_SERVE_CONSUMERS", env.get("ROOST_SERVE_CONSUMERS"), True),
        home_timeline_size=_positive(
            "ROOST_HOME_TIMELINE_SIZE", env.get("ROOST_HOME_TIMELINE_SIZE"), 800, maximum=10_000
        ),
        active_days=_positive("ROOST_ACTIVE_DAYS", env.get("ROOST_ACTIVE_DAYS"), 7, maximum=365),
        streaming_heartbeat_ms=_positive(
            "ROOST_STREAMING_HEARTBEAT_MS", env.get("ROOST_STREAMING_HEARTBEAT_MS"), 15_000,
            minimum=50, maximum=300_000,
        ),
        fanout_max_followers=_positive(
            "ROOST_FANOUT_MAX_FOLLOWERS", env.get("ROOST_FANOUT_MAX_FOLLOWERS"), 10_000
        ),
        redis_key_prefix=_key_prefix(
            "ROOST_REDIS_KEY_PREFIX", env.get("ROOST_REDIS_KEY_PREFIX"), "roost:"
        ),
        object_cache=_object_cache(env),
        serve_processes=_positive(
            "ROOST_SERVE_PROCESSES", env.get("ROOST_SERVE_PROCESSES"), 1, maximum=1024
        ),
        media_url=_http_url("ROOST_MEDIA_URL", env.get("ROOST_MEDIA_URL")).rstrip("/") or None,
        media_max_image_bytes=_positive(
            "ROOST_MEDIA_MAX_IMAGE_BYTES", env.get("ROOST_MEDIA_MAX_IMAGE_BYTES"),
            16 * 1024 * 1024, maximum=256 * 1024 * 1024,
        ),
        media_max_image_pixels=_positive(
            "ROOST_MEDIA_MAX_IMAGE_PIXELS", env.get("ROOST_MEDIA_MAX_IMAGE_PIXELS"), 50_000_000,
            maximum=100_000_000,
        ),
        media_async_bytes=_positive(
            "ROOST_MEDIA_ASYNC_BYTES", env.get("ROOST_MEDIA_ASYNC_BYTES"), 2 * 1024 * 1024,
        ),
    )


OBJECT_CACHE_MODES = ("auto", "redis", "local", "off")


def _object_cache(env: Mapping[str, str]) -> str:
    mode = (env.get("ROOST_OBJECT_CACHE") or "auto").strip().lower()
    if mode not in OBJECT_CACHE_MODES:
        raise ConfigError(
            f"ROOST_OBJECT_CACHE must be one of {', '.join(OBJECT_CACHE_MODES)}, not {mode!r}"
        )
    if mode == "redis" and not env.get("ROOST_REDIS_URL"):
        raise ConfigError("ROOST_OBJECT_CACHE=redis needs ROOST_REDIS_URL")
    if mode == "local" and (env.get("ROOST_SERVE_PROCESSES") or "1") != "1":
        raise ConfigError(
            "ROOST_OBJECT_CACHE=local needs a single process: with several, one would keep "
            "what another changed (use redis)"
        )
    return mode
