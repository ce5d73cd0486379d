"""Who is signed in to the web pages, and the CSRF check every web form passes.

The web session IS an OAuth access token of a built-in application, "Roost Web" (created
on first use with the scopes "read write follow push"), issued at sign-in and sign-up and
kept in the `roost_session` cookie. Pages therefore authenticate through the same
`lookup_token` and the same `Viewer` as the API: a disabled or unapproved user, or a
revoked token, is signed out of the pages exactly as it is refused by the API, and
"authorized apps → revoke" and sign-out both end a session by revoking its token.

Cookies are HttpOnly (scripts never see the token), SameSite=Lax (other sites' POSTs carry
no session), Path=/, and Secure when the request arrived over https by the same rule as
roost.api.context.base_url: ROOST_DOMAIN's scheme when it is set, otherwise the scheme
uvicorn reports (which honours X-Forwarded-Proto only from its trusted proxies).

CSRF: a form carries `csrf_token()`, an HMAC (keyed by the server's secret) of the session
token when signed in, else of a random `roost_csrf` cookie set on first render. A
cross-site page can neither read that cookie nor compute the HMAC, so it cannot forge a
form; SameSite=Lax is a second, independent layer. `checked_form` verifies it on EVERY
web POST before anything is read or written.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import FormData
from starlette.responses import Response

from roost.api.auth import Viewer
from roost.api.context import base_url, roost_of
from roost.db.tables import accounts, applications
from roost.ids import IdGenerator
from roost.oauth import operations as oauth
from roost.oauth.scopes import expand
from roost.resilience.ratelimit import Hit, RateLimiter, client_ip, media_upload_hit
from roost.security.tokens import digest, matches, sign

log = structlog.get_logger(__name__)

SESSION_COOKIE = "roost_session"
CSRF_COOKIE = "roost_csrf"
CSRF_FIELD = "csrf_token"
WEB_APP_NAME = "Roost Web"
WEB_APP_SCOPES = ("read", "write", "follow", "push")
# The built-in app is found by this website, which /api/v1/apps can never register (it
# accepts only http(s) URLs): nobody can plant an app that pages would then issue tokens for.
WEB_APP_MARKER = "roost:web"
SESSION_MAX_AGE_S = 365 * 24 * 3600  # the token itself never expires; revoking ends it
MAX_COOKIE_TOKEN = 512  # as the API: a longer "token" is not looked up


class SignInRequired(Exception):
    """A signed-out browser asked for a page that needs an account: 303 to the sign-in
    page with `next` set to where it was going (app.py's handler)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Exception):
    """A web form without a valid csrf_token: a 403 page, nothing read or written."""


@dataclass(frozen=True)
class SignedIn:
    """The few account fields the layout shows for the signed-in person."""

    account_id: int
    username: str
    display_name: str


def is_https(request: Request) -> bool:
    return base_url(request).startswith("https://")


def _session_value(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > MAX_COOKIE_TOKEN:
        return None
    return value


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None; a revoked token, a disabled or unapproved user count
    as signed out. Computed once per request (the layout reads it again)."""
    if hasattr(request.state, "web_viewer"):
        cached: Viewer | None = request.state.web_viewer
        return cached
    viewer = None
    signed_in = None
    token = _session_value(request)
    if token is not None:
        async with roost_of(request).db.read() as conn:
            info = await oauth.lookup_token(conn, token)
            if (
                info is not None
                and info.account_id is not None
                and info.user_approved
                and not info.user_disabled
            ):
                viewer = Viewer(token=info, scopes=expand(info.scopes))
                row = (
                    await conn.execute(
                        select(accounts.c.username, accounts.c.display_name).where(
                            accounts.c.id == info.account_id
                        )
                    )
                ).first()
                if row is not None:
                    signed_in = SignedIn(info.account_id, row.username, row.display_name or "")
    request.state.web_viewer = viewer
    request.state.web_signed_in = signed_in
    return viewer


async def require_viewer(request: Request) -> Viewer:
    """FastAPI dependency for pages that need an account."""
    viewer = await current_viewer(request)
    if viewer is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        raise SignInRequired(target)
    return viewer


def signed_in_of(request: Request) -> SignedIn | None:
    """The signed-in person as current_viewer found them (None when it was not asked)."""
    found: SignedIn | None = getattr(request.state, "web_signed_in", None)
    return found


# --- CSRF ------------------------------------------------------------------------------


def _csrf_binding(request: Request) -> str:
    session = _session_value(request)
    if session is not None:
        return "session|" + session
    anonymous = getattr(request.state, "new_csrf_cookie", None) or request.cookies.get(
        CSRF_COOKIE
    )
    if not anonymous or len(anonymous) > 128:
        anonymous = secrets.token_urlsafe(24)
        request.state.new_csrf_cookie = anonymous
    return "anonymous|" + anonymous


def csrf_token(request: Request) -> str:
    """The token this browser's forms carry (also the Jinja global `csrf_token()`, called
    by every form of a page: a home page has a few per status), made once per request."""
    token: str | None = getattr(request.state, "csrf_token", None)
    if token is None:
        token = sign(roost_of(request).settings.secret_key, "csrf|" + _csrf_binding(request))
        request.state.csrf_token = token
    return token


def _expected_csrf(request: Request) -> str | None:
    """The token a valid form must carry, without minting a new anonymous cookie."""
    session = _session_value(request)
    if session is not None:
        binding = "session|" + session
    else:
        anonymous = request.cookies.get(CSRF_COOKIE)
        if not anonymous or len(anonymous) > 128:
            return None
        binding = "anonymous|" + anonymous
    return sign(roost_of(request).settings.secret_key, "csrf|" + binding)


def form_text(form: FormData, name: str) -> str:
    """A text field of a form; "" when it is missing or is a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def checked_form(request: Request) -> FormData:
    """The request's form (urlencoded or multipart) once its csrf_token checks out;
    otherwise CsrfRejected (a 403 page). Every web POST handler reads its form here."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    expected = _expected_csrf(request)
    if expected is None or not isinstance(given, str) or not matches(expected, given):
        raise CsrfRejected()
    return form


# --- starting and ending sessions ------------------------------------------------------


async def web_application(conn: AsyncConnection, ids: IdGenerator) -> Row[Any]:
    """The built-in "Roost Web" application, registered on first use. Two processes racing
    on the first sign-in may both register one; the oldest is used from then on."""
    found = (
        await conn.execute(
            select(applications)
            .where(applications.c.website == WEB_APP_MARKER)
            .order_by(applications.c.id)
            .limit(1)
        )
    ).first()
    if found is not None:
        return found
    row, _secret = await oauth.register_app(
        conn,
        ids,
        name=WEB_APP_NAME,
        redirect_uris=[oauth.OOB_REDIRECT],
        scopes=WEB_APP_SCOPES,
        website=WEB_APP_MARKER,
    )
    return row


async def start_session(conn: AsyncConnection, ids: IdGenerator, account_id: int) -> str:
    """A new session token for this account (written in the caller's transaction)."""
    app = await web_application(conn, ids)
    token, _row = await oauth.issue_token(
        conn, ids, application_id=app.id, account_id=account_id, scopes=WEB_APP_SCOPES
    )
    return token


async def end_session(request: Request) -> None:
    """Revokes this browser's session token (nothing to do when there is none)."""
    token = _session_value(request)
    if token is None:
        return
    async with roost_of(request).db.write() as conn:
        info = await oauth.lookup_token(conn, token)
        if info is not None:
            await oauth.revoke_token(conn, info.application_id, token)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )


def set_csrf_cookie_if_new(request: Request, response: Response) -> None:
    """Called by render.page: the anonymous CSRF cookie minted while rendering a form."""
    value = getattr(request.state, "new_csrf_cookie", None)
    if value:
        response.set_cookie(
            CSRF_COOKIE,
            value,
            path="/",
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )


# --- sign-in and sign-up attempts, rate-limited -----------------------------------------

# Sign-in attempts (web sign-in and the OAuth authorize form, successful ones included):
# per client IP, and per login name whatever the IP, so that a password guesser gets
# neither many tries at one account nor many accounts from one address (docs/web.md).
SIGN_IN_PER_IP = (10, 300)  # attempts, seconds
SIGN_IN_PER_LOGIN = (5, 300)
# Changing the password checks the current one: a session left open on a shared computer
# must not become a way to guess it (per account, whatever the IP).
PASSWORD_CHECKS_PER_ACCOUNT = (5, 300)


async def _refused_until(request: Request, hits: list[Hit]) -> float | None:
    """When the spent bucket frees up (epoch seconds), or None when the attempt may go on;
    the API's limiter (memory or Redis), off with ROOST_RATE_LIMITS=off; a failing limiter
    lets the attempt through, as the API's middleware does."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return None
    try:
        verdicts = await limiter.hit(hits)
    except Exception as exc:
        log.warning("rate limiter unavailable", error=f"{type(exc).__name__}: {exc}")
        return None
    refused = [verdict.reset_at for verdict in verdicts if not verdict.allowed]
    return max(refused) if refused else None


async def sign_in_refused_until(request: Request, login: str) -> float | None:
    ip = client_ip(request.scope)
    login_key = digest(login.strip().lower())[:32]  # no email addresses in Redis keys
    return await _refused_until(
        request,
        [
            Hit(f"web-sign-in:ip:{ip}", *SIGN_IN_PER_IP),
            Hit(f"web-sign-in:login:{login_key}", *SIGN_IN_PER_LOGIN),
        ],
    )


async def password_check_refused_until(request: Request, account_id: int) -> float | None:
    return await _refused_until(
        request, [Hit(f"web-password:account:{account_id}", *PASSWORD_CHECKS_PER_ACCOUNT)]
    )


async def media_upload_refused_until(request: Request, account_id: int) -> float | None:
    """A picture posted with the composer counts in the API's media-upload bucket (30 per
    30 minutes per account, docs/ratelimits.md): the pages are no way around it."""
    return await _refused_until(request, [media_upload_hit(account_id)])


async def sign_up_refused_until(request: Request) -> float | None:
    """Web sign-ups share the API's sign-up bucket (ROOST_RATE_LIMIT_SIGNUPS per IP)."""
    settings = roost_of(request).settings
    ip = client_ip(request.scope)
    return await _refused_until(
        request,
        [Hit(f"signup:ip:{ip}", settings.rate_limit_signups, settings.rate_limit_signup_period)],
    )
