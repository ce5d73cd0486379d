"""Sign-up, sign-in and sign-out in the browser, and the landing page at `/`.

Sign-up runs the same validation and the same `create_account` as POST /api/v1/accounts
(ROOST_REGISTRATIONS open / approval / closed included), and sign-in the same
`authenticate` as the OAuth grants, with the same refusal of disabled and unapproved
users; both start a web session (roost.web.session). Form problems are shown on the form
with what was typed kept (never the password). Attempts are rate-limited (session.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from roost.accounts import operations as account_ops
from roost.accounts import validation
from roost.api.context import base_url, host_of, roost_of
from roost.api.mastodon import entities
from roost.errors import ApiError
from roost.security.passwords import hash_password
from roost.trends.read import Window, trending_status_page
from roost.web import session
from roost.web.render import error_page, page, redirect, safe_path

router = APIRouter()

LANDING_TRENDING = 5
FIELD_MAX = 1024  # longer form values are cut before validation says what is wrong


def _text(form: FormData, name: str) -> str:
    return session.form_text(form, name)[:FIELD_MAX]


def _next_of(raw: str | None) -> str:
    """Where to go after signing in: a same-site path, else the home timeline."""
    return safe_path(raw) or "/home"


def too_many_attempts(request: Request, until: float) -> Response:
    """The 429 page: says when to try again (and Retry-After says it to machines)."""
    seconds = max(int(until - time.time()) + 1, 1)
    minutes = (seconds + 59) // 60
    at = datetime.fromtimestamp(until, UTC).strftime("%H:%M UTC")
    response = error_page(
        request,
        429,
        "Too many attempts",
        f"Too many attempts from here or for this account. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''} (after {at}).",
    )
    response.headers["Retry-After"] = str(seconds)
    return response


# --- the landing page --------------------------------------------------------------------


@router.get("/", include_in_schema=False)
async def landing(request: Request) -> Response:
    if await session.current_viewer(request) is not None:
        return redirect("/home")
    roost = roost_of(request)
    views = await trending_status_page(roost, None, Window(offset=0, limit=LANDING_TRENDING))
    base = base_url(request)
    return page(
        request,
        "landing.html",
        trending=[entities.status(view, base, viewer_id=None) for view in views],
        host=host_of(request),
        registrations=roost.settings.registrations,
        next_path="/home",
    )


# --- sign in -----------------------------------------------------------------------------


@router.get("/auth/sign_in", include_in_schema=False)
async def sign_in_page(request: Request) -> Response:
    next_path = _next_of(request.query_params.get("next"))
    if await session.current_viewer(request) is not None:
        return redirect(next_path)
    return page(request, "auth/sign_in.html", next_path=next_path, login="", error=None)


def _refusal(user: Any) -> str | None:
    """Why a user with the right password may still not sign in (the API's messages)."""
    if user.disabled:
        return "Your login is currently disabled."
    if not user.approved:
        return "Your account is waiting for approval by the server's staff."
    return None


@router.post("/auth/sign_in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    form = await session.checked_form(request)
    login = _text(form, "login").strip()
    password = _text(form, "password")
    next_path = _next_of(_text(form, "next"))

    def again(error: str, status_code: int) -> Response:
        return page(
            request,
            "auth/sign_in.html",
            status_code,
            next_path=next_path,
            login=login,
            error=error,
        )

    if not login or not password:
        return again("Enter your email or username and your password.", 422)
    until = await session.sign_in_refused_until(request, login)
    if until is not None:
        return too_many_attempts(request, until)
    roost = roost_of(request)
    async with roost.db.write() as conn:
        user = await account_ops.authenticate(conn, login, password)
        if user is None:
            return again("Wrong email, username or password.", 401)
        if (refusal := _refusal(user)) is not None:
            return again(refusal, 403)
        token = await session.start_session(conn, roost.ids, user.account_id)
    response = redirect(next_path)
    session.set_session_cookie(request, response, token)
    return response


# --- sign up -----------------------------------------------------------------------------


def _sign_up_page(
    request: Request,
    status_code: int = 200,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, list[str]] | None = None,
) -> Response:
    mode = roost_of(request).settings.registrations
    return page(
        request,
        "auth/sign_up.html",
        status_code,
        mode=mode,
        host=host_of(request),
        values=values or {"username": "", "email": "", "reason": ""},
        problems=problems or {},
        agreement=bool(values and values.get("agreement")),
    )


@router.get("/auth/sign_up", include_in_schema=False)
async def sign_up_page(request: Request) -> Response:
    if await session.current_viewer(request) is not None:
        return redirect("/home")
    return _sign_up_page(request, 403 if roost_of(request).settings.registrations == "closed"
                         else 200)


def _problems_of(error: ApiError) -> dict[str, list[str]]:
    """Field -> sentences, from validation's Mastodon-style details."""
    details = error.details or {}
    return {
        field: [
            f"{field.replace('_', ' ').capitalize()} {item['description']}." for item in items
        ]
        for field, items in details.items()
    }


@router.post("/auth/sign_up", include_in_schema=False)
async def sign_up(request: Request) -> Response:
    form = await session.checked_form(request)
    roost = roost_of(request)
    mode = roost.settings.registrations
    if mode == "closed":
        return _sign_up_page(request, 403)
    values = {
        "username": _text(form, "username").strip(),
        "email": _text(form, "email").strip(),
        "reason": _text(form, "reason").strip(),
        "agreement": "1" if _text(form, "agreement") else "",
    }
    password = _text(form, "password")
    problems = validation.Problems()
    validation.check_sign_up(problems, username=values["username"], email=values["email"],
                             password=password, agreement=bool(values["agreement"]),
                             reason=values["reason"], registrations=mode)
    try:
        problems.raise_if_any()
    except ApiError as error:
        return _sign_up_page(request, 422, values=values, problems=_problems_of(error))
    until = await session.sign_up_refused_until(request)
    if until is not None:
        return too_many_attempts(request, until)
    password_hash = await hash_password(password)
    try:
        async with roost.db.write() as conn:
            account_id = await account_ops.create_account(
                conn,
                roost.ids,
                account_ops.NewAccount(
                    username=values["username"],
                    email=values["email"],
                    password_hash=password_hash,
                    reason=values["reason"] or None,
                    approved=mode == "open",
                ),
            )
            token = await session.start_session(conn, roost.ids, account_id) if (
                mode == "open"
            ) else None
    except ApiError as error:
        if error.status != 422:
            raise
        return _sign_up_page(request, 422, values=values, problems=_problems_of(error))
    if token is None:
        return page(request, "auth/pending.html", username=values["username"])
    response = redirect("/home")
    session.set_session_cookie(request, response, token)
    return response


# --- sign out ----------------------------------------------------------------------------


@router.post("/auth/sign_out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    await session.checked_form(request)
    await session.end_session(request)
    response = redirect("/")
    session.clear_session_cookie(request, response)
    return response
