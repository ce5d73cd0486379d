"""OAuth 2: the authorize page, the token endpoint, revocation and RFC 8414 metadata.

Grants: authorization_code (with PKCE S256; urn:ietf:wg:oauth:2.0:oob shows the code
on the page), client_credentials, and password (Mastodon removed it in 4.4; Roost
keeps it, switchable off with ROOST_PASSWORD_GRANT=off). OAuth errors use the OAuth
format, {"error": "invalid_grant", "error_description": "..."}.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from roost.accounts.operations import authenticate
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.params import Params, parse, read_params
from roost.api.responses import JSONResponse
from roost.errors import ApiError
from roost.oauth import operations as oauth
from roost.oauth.scopes import ALL_SCOPES, InvalidScope, parse_scopes, subset_of
from roost.security.tokens import matches, sign
from roost.web import session as web_session
from roost.web.pages.auth import too_many_attempts
from roost.web.render import allow_form_redirect, page

router = APIRouter()
FORM_LIFETIME_S = 30 * 60


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status_code=exc.status
    )


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(request: Request) -> dict[str, Any]:
    base = base_url(request)
    grants = ["authorization_code", "client_credentials"]
    if roost_of(request).settings.password_grant:
        grants.append("password")
    return {
        "issuer": f"{base}/",
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": sorted(ALL_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }


# --- the token endpoint ----------------------------------------------------------------


class TokenParams(Params):
    grant_type: str | None = Field(default=None, max_length=64)
    client_id: str | None = Field(default=None, max_length=128)
    client_secret: str | None = Field(default=None, max_length=128)
    code: str | None = Field(default=None, max_length=128)
    redirect_uri: str | None = Field(default=None, max_length=2000)
    code_verifier: str | None = Field(default=None, max_length=128)
    scope: str | None = Field(default=None, max_length=2000)
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=1024)


async def _token_params(request: Request) -> TokenParams:
    """Parameter problems answered in the OAuth format, as invalid_request."""
    try:
        return await parse(request, TokenParams)
    except ApiError as exc:
        status = 413 if exc.status == 413 else 400
        raise OAuthError("invalid_request", exc.message, status) from exc


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    if "\x00" in client_id or "\x00" in secret:
        return None
    return client_id, secret


def _requested_scopes(raw: str | None, app_scopes: str) -> tuple[str, ...]:
    try:
        scopes = parse_scopes(raw, default=app_scopes.split())
    except InvalidScope as exc:
        raise OAuthError("invalid_scope", f"Unknown scope: {exc}") from exc
    if not subset_of(scopes, app_scopes.split()):
        raise OAuthError("invalid_scope", "The requested scope exceeds what the app registered")
    return scopes


@router.post("/oauth/token")
async def token(request: Request) -> Response:
    try:
        return await _token(request)
    except OAuthError as exc:
        return oauth_error_response(exc)


async def _token(request: Request) -> Response:
    params = await _token_params(request)
    if not params.grant_type:
        raise OAuthError("invalid_request", "Missing required parameter: grant_type")
    client_id, client_secret = _basic_credentials(request) or (
        params.client_id,
        params.client_secret,
    )
    if not client_id or not client_secret:
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    roost = roost_of(request)
    async with roost.db.write() as conn:
        app = await oauth.authenticate_client(conn, client_id, client_secret)
        if app is None:
            raise OAuthError("invalid_client", "Client authentication failed", 401)
        account_id: int | None
        if params.grant_type == "client_credentials":
            account_id, scopes = None, _requested_scopes(params.scope, app.scopes)
        elif params.grant_type == "authorization_code":
            if not params.code:
                raise OAuthError("invalid_request", "Missing code")
            try:
                account_id, scopes = await oauth.redeem_code(
                    conn,
                    application_id=app.id,
                    code=params.code,
                    redirect_uri=params.redirect_uri,
                    code_verifier=params.code_verifier,
                )
            except oauth.CodeRejected as exc:
                raise OAuthError("invalid_grant", str(exc)) from exc
        elif params.grant_type == "password" and roost.settings.password_grant:
            scopes = _requested_scopes(params.scope, app.scopes)
            user = await authenticate(conn, params.username or "", params.password or "")
            if user is None:
                raise OAuthError("invalid_grant", "The username or password is incorrect")
            if user.disabled or not user.approved:
                raise OAuthError("invalid_grant", "Your login is pending approval or disabled")
            account_id = user.account_id
        else:
            raise OAuthError("unsupported_grant_type", "This grant type is not supported")
        access_token, row = await oauth.issue_token(
            conn, roost.ids, application_id=app.id, account_id=account_id, scopes=scopes
        )
    return JSONResponse(
        entities.token(access_token, " ".join(scopes), int(row.created_at.timestamp()))
    )


@router.post("/oauth/revoke")
async def revoke(request: Request) -> Response:
    try:
        params = await _token_params(request)
    except OAuthError as exc:
        return oauth_error_response(exc)
    raw = await read_params(request)
    token_value = raw.get("token")
    client_id, client_secret = _basic_credentials(request) or (
        params.client_id,
        params.client_secret,
    )
    roost = roost_of(request)
    async with roost.db.write() as conn:
        app = await oauth.authenticate_client(conn, client_id or "", client_secret or "")
        if app is None:
            return oauth_error_response(
                OAuthError("invalid_client", "Client authentication failed", 401)
            )
        if isinstance(token_value, str) and token_value:
            await oauth.revoke_token(conn, app.id, token_value)
    return JSONResponse({})


# --- the authorize page ----------------------------------------------------------------


class AuthorizeParams(Params):
    response_type: str | None = Field(default=None, max_length=32)
    client_id: str | None = Field(default=None, max_length=128)
    redirect_uri: str | None = Field(default=None, max_length=2000)
    scope: str | None = Field(default=None, max_length=2000)
    state: str | None = Field(default=None, max_length=2000)
    code_challenge: str | None = Field(default=None, max_length=128)
    code_challenge_method: str | None = Field(default=None, max_length=16)


async def _authorize_params(request: Request) -> AuthorizeParams:
    """Parameter problems shown on the error page, like any other bad authorize request."""
    try:
        return await parse(request, AuthorizeParams)
    except ApiError as exc:
        raise OAuthError("invalid_request", exc.message) from exc


def _form_signature(secret: str, issued: str, params: AuthorizeParams) -> str:
    fields = [
        issued,
        params.client_id,
        params.redirect_uri,
        params.scope,
        params.state,
        params.code_challenge,
    ]
    return sign(secret, "authorize|" + "|".join(field or "" for field in fields))


async def _check_authorize(
    request: Request, params: AuthorizeParams
) -> tuple[Any, tuple[str, ...]]:
    """The app and the granted scopes, or a page explaining what is wrong."""
    if params.response_type != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported")
    if params.code_challenge is not None and params.code_challenge_method != "S256":
        raise OAuthError("invalid_request", "Only the S256 code challenge method is supported")
    async with roost_of(request).db.read() as conn:
        app = await oauth.find_app(conn, params.client_id or "")
    if app is None:
        raise OAuthError("invalid_client", "Unknown client")
    if params.redirect_uri not in app.redirect_uris.split("\n"):
        raise OAuthError("invalid_request", "The redirect URI is not registered for this app")
    return app, _requested_scopes(params.scope, app.scopes)


def _error_page(request: Request, exc: OAuthError) -> HTMLResponse:
    return page(request, "authorize_error.html", exc.status, error=exc.description)


async def _authorize_form(
    request: Request,
    app: Any,
    scopes: tuple[str, ...],
    params: AuthorizeParams,
    issued: str,
    signature: str,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The form: "Authorize <app> for @you" with a web session (roost.web.session), the
    sign-in fields without one (a successful sign-in there also starts the web session)."""
    await web_session.current_viewer(request)
    response = page(
        request,
        "authorize.html",
        status_code,
        app=app,
        scopes=scopes,
        params=params,
        issued=issued,
        signature=signature,
        error=error,
    )
    if params.redirect_uri and params.redirect_uri != oauth.OOB_REDIRECT:
        allow_form_redirect(request, response, params.redirect_uri)
    return response


@router.get("/oauth/authorize", response_class=HTMLResponse)
async def authorize_page(request: Request) -> Response:
    try:
        params = await _authorize_params(request)
        app, scopes = await _check_authorize(request, params)
    except OAuthError as exc:
        return _error_page(request, exc)
    issued = str(int(time.time()))
    secret = roost_of(request).settings.secret_key
    return await _authorize_form(
        request, app, scopes, params, issued, _form_signature(secret, issued, params)
    )


@router.post("/oauth/authorize", response_class=HTMLResponse)
async def authorize_submit(request: Request) -> Response:
    try:
        params = await _authorize_params(request)
        app, scopes = await _check_authorize(request, params)
    except OAuthError as exc:
        return _error_page(request, exc)
    form = await read_params(request)
    roost = roost_of(request)
    issued = str(form.get("issued", ""))
    expected = _form_signature(roost.settings.secret_key, issued, params)
    # isascii() and a length cap: "²" passes isdigit() but int() cannot read it, and
    # int() refuses more than 4300 digits.
    readable = issued.isascii() and issued.isdigit() and len(issued) <= 12
    fresh = readable and time.time() - int(issued) < FORM_LIFETIME_S
    if not fresh or not matches(expected, str(form.get("signature", ""))):
        return _error_page(
            request, OAuthError("invalid_request", "This form has expired; please start again")
        )
    redirect_uri = params.redirect_uri or ""
    if form.get("decision") == "deny":
        return _redirect(redirect_uri, {"error": "access_denied", "state": params.state})
    login = form.get("login")
    new_session: str | None = None
    if login is None and (viewer := await web_session.current_viewer(request)) is not None:
        # Signed in to the web pages: no password, but the form must be this browser's.
        await web_session.checked_form(request)
        account_id = viewer.account_id
        async with roost.db.write() as conn:
            code = await oauth.create_code(
                conn,
                application_id=app.id,
                account_id=account_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                code_challenge=params.code_challenge,
            )
    else:
        login_text = str(login or "")
        until = await web_session.sign_in_refused_until(request, login_text)
        if until is not None:
            return too_many_attempts(request, until)
        async with roost.db.write() as conn:
            user = await authenticate(conn, login_text, str(form.get("password", "")))
            if user is None or user.disabled or not user.approved:
                return await _authorize_form(
                    request, app, scopes, params, issued, expected,
                    error="Wrong email, username or password.", status_code=401,
                )
            code = await oauth.create_code(
                conn,
                application_id=app.id,
                account_id=user.account_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                code_challenge=params.code_challenge,
            )
            new_session = await web_session.start_session(conn, roost.ids, user.account_id)
        await web_session.end_session(request)  # the browser's previous session, if any
    response: Response
    if redirect_uri == oauth.OOB_REDIRECT:
        response = page(request, "authorize_code.html", code=code, app=app)
    else:
        response = _redirect(redirect_uri, {"code": code, "state": params.state})
    if new_session is not None:
        web_session.set_session_cookie(request, response, new_session)
    return response


def _redirect(uri: str, query: dict[str, str | None]) -> RedirectResponse:
    kept = {key: value for key, value in query.items() if value is not None}
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(kept)}", status_code=302)
