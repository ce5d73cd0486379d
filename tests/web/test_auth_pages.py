"""The sign-up, sign-in and sign-out pages and the OAuth page's web session, over HTTP
against real servers: cookie flags, CSRF refusals that write nothing, form problems shown
with the fields kept, rate limits, revocation, open redirects, CSP and escaping."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import StatementCounter
from tests.support.api import unique_name
from tests.support.server import RunningServer, start_server

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OOB = "urn:ietf:wg:oauth:2.0:oob"


# --- helpers ------------------------------------------------------------------------------


def browser(server: RunningServer) -> httpx.Client:
    """A client that keeps cookies and does not follow redirects, as the tests inspect them."""
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)


def csrf_of(http: httpx.Client, path: str = "/auth/sign_in") -> str:
    shown = http.get(path)
    assert shown.status_code == 200, shown.text
    found = CSRF.search(shown.text)
    assert found, shown.text
    return found.group(1)


def web_sign_up(http: httpx.Client, username: str | None = None, **extra: str) -> httpx.Response:
    username = username or unique_name("web")
    data = {"csrf_token": csrf_of(http, "/auth/sign_up"), "username": username,
            "email": f"{username}@example.test", "password": PASSWORD, "agreement": "1", **extra}
    return http.post("/auth/sign_up", data=data)


def signed_up(server: RunningServer) -> tuple[httpx.Client, str]:
    """A browser signed in to a new account, and the account's username."""
    http = browser(server)
    username = unique_name("web")
    answer = web_sign_up(http, username)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/home"
    return http, username


def exists(server: RunningServer, username: str) -> bool:
    answer = httpx.get(f"{server.url}/api/v1/accounts/lookup", params={"acct": username})
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def sign_in(http: httpx.Client, login: str, password: str = PASSWORD,
            next_path: str | None = None) -> httpx.Response:
    data = {"csrf_token": csrf_of(http), "login": login, "password": password}
    if next_path is not None:
        data["next"] = next_path
    return http.post("/auth/sign_in", data=data)


def session_token(http: httpx.Client) -> str:
    token = http.cookies.get("roost_session")
    assert token
    return token


def set_cookie_headers(answer: httpx.Response, name: str) -> str:
    (header,) = [v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    return header


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Rate limits on, sign-ups needing approval."""
    running = start_server(
        tmp_path_factory.mktemp("guarded"), None, ROOST_LOG_LEVEL="warning",
        ROOST_RATE_LIMITS="on", ROOST_REGISTRATIONS="approval",
    )
    yield running
    running.stop()


# --- sessions and cookies -------------------------------------------------------------------


def test_sign_up_starts_a_session_with_safe_cookie_flags(server: RunningServer) -> None:
    http = browser(server)
    username = unique_name("web")
    answer = web_sign_up(http, username)
    assert answer.status_code == 303 and answer.headers["location"] == "/home"
    cookie = set_cookie_headers(answer, "roost_session").lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http here: a Secure cookie would never come back
    # Signed in: / and the sign-in page send on to the home timeline.
    assert http.get("/").headers["location"] == "/home"
    assert http.get("/auth/sign_in").headers["location"] == "/home"
    # The session is an OAuth token: the API accepts it too.
    me = httpx.get(f"{server.url}/api/v1/accounts/verify_credentials",
                   headers={"Authorization": f"Bearer {session_token(http)}"})
    assert me.status_code == 200 and me.json()["username"] == username


def test_cookies_are_secure_behind_https(server: RunningServer) -> None:
    """Behind a proxy that uvicorn trusts (127.0.0.1 by default, FORWARDED_ALLOW_IPS),
    X-Forwarded-Proto: https makes the request https, and the cookies Secure."""
    http = browser(server)
    shown = http.get("/auth/sign_in", headers={"X-Forwarded-Proto": "https"})
    cookie = set_cookie_headers(shown, "roost_csrf").lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    token = CSRF.search(shown.text)
    assert token
    username = unique_name("secure")
    http.cookies.set("roost_csrf", http.cookies["roost_csrf"])  # as a browser over https
    signed = http.post("/auth/sign_up", headers={"X-Forwarded-Proto": "https"}, data={
        "csrf_token": token.group(1), "username": username,
        "email": f"{username}@example.test", "password": PASSWORD, "agreement": "1"})
    assert signed.status_code == 303, signed.text
    assert "secure" in set_cookie_headers(signed, "roost_session").lower()


def test_sign_out_revokes_the_session(server: RunningServer) -> None:
    http, username = signed_up(server)
    token = session_token(http)
    bearer = {"Authorization": f"Bearer {token}"}
    api = f"{server.url}/api/v1/accounts/verify_credentials"
    assert httpx.get(api, headers=bearer).status_code == 200

    # Without its CSRF token, sign-out is refused and the session lives on.
    refused = http.post("/auth/sign_out", data={})
    assert refused.status_code == 403
    assert httpx.get(api, headers=bearer).status_code == 200

    token_for_form = CSRF.search(http.get("/auth/sign_up", follow_redirects=True).text)
    assert token_for_form
    out = http.post("/auth/sign_out", data={"csrf_token": token_for_form.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert 'roost_session=""' in set_cookie_headers(out, "roost_session")
    assert httpx.get(api, headers=bearer).status_code == 401
    # The old cookie, presented again, is a signed-out browser.
    replay = httpx.get(f"{server.url}/", cookies={"roost_session": token})
    assert replay.status_code == 200 and 'action="/auth/sign_in"' in replay.text
    assert exists(server, username)


# --- CSRF ------------------------------------------------------------------------------------


def test_forms_without_a_valid_csrf_token_are_refused_and_write_nothing(
    server: RunningServer,
) -> None:
    http = browser(server)
    csrf_of(http, "/auth/sign_up")  # this browser has its CSRF cookie
    for token in (None, "", "forged", "0" * 64):
        username = unique_name("csrf")
        data = {"username": username, "email": f"{username}@example.test",
                "password": PASSWORD, "agreement": "1"}
        if token is not None:
            data["csrf_token"] = token
        answer = http.post("/auth/sign_up", data=data)
        assert answer.status_code == 403, answer.text
        assert "This form has expired" in answer.text
        assert "roost_session" not in answer.headers.get("set-cookie", "")
        assert not exists(server, username)

    # Another browser's token does not fit this browser.
    other = browser(server)
    foreign = csrf_of(other, "/auth/sign_up")
    username = unique_name("csrf")
    answer = http.post("/auth/sign_up", data={
        "csrf_token": foreign, "username": username, "email": f"{username}@example.test",
        "password": PASSWORD, "agreement": "1"})
    assert answer.status_code == 403 and not exists(server, username)

    # A signed-in browser's token is tied to its session: the anonymous one no longer fits.
    signed_in, _username = signed_up(server)
    stale = foreign
    assert signed_in.post("/auth/sign_out", data={"csrf_token": stale}).status_code == 403


# --- sign-up ------------------------------------------------------------------------------


def test_sign_up_problems_are_shown_with_the_fields_kept(server: RunningServer) -> None:
    http = browser(server)
    _taken_http, taken = signed_up(server)
    cases = [
        ({"username": "bad name!"}, "Username must contain only letters, numbers and underscores"),
        ({"username": "admin"}, "Username is reserved"),
        ({"username": taken}, "Username has already been taken"),
        ({"email": "not-an-email"}, "Email is invalid"),
        ({"email": f"{taken}@example.test"}, "Email has already been taken"),
        ({"password": "short"}, "Password is too short (minimum is 8 characters)"),
        ({"agreement": ""}, "Agreement must be accepted"),
    ]
    for change, message in cases:
        username = unique_name("form")
        answer = web_sign_up(http, **{"username": username, **change})
        assert answer.status_code == 422, (change, answer.text)
        text = unescape(answer.text)
        assert message in text, (change, text)
        kept_username = change.get("username", username)
        assert f'value="{kept_username}"' in text
        assert PASSWORD not in text and "short" not in re.findall(r'value="([^"]*)"', text)
        assert "roost_session" not in answer.headers.get("set-cookie", "")
        if "username" not in change:
            assert not exists(server, username)


def test_sign_up_escapes_what_was_typed(server: RunningServer) -> None:
    http = browser(server)
    evil = '"><script>alert(1)</script>'
    answer = web_sign_up(http, evil, email="x@example.test")
    assert answer.status_code == 422
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


def test_registration_modes(guarded_server: RunningServer, tmp_path: Path) -> None:
    # approval: a reason is required, the account waits, and cannot sign in yet.
    http = browser(guarded_server)
    username = unique_name("wait")
    missing = web_sign_up(http, username)
    assert missing.status_code == 422 and "Reason can&#39;t be blank" in missing.text
    assert not exists(guarded_server, username)
    waiting = web_sign_up(http, username, reason="I like birds")
    assert waiting.status_code == 200 and "waiting for approval" in waiting.text
    assert "roost_session" not in waiting.headers.get("set-cookie", "")
    refused = sign_in(http, username)
    assert refused.status_code == 403 and "waiting for approval" in refused.text
    assert "roost_session" not in http.cookies

    # closed: no form, and a posted one creates nothing.
    closed = start_server(tmp_path / "closed", None, ROOST_LOG_LEVEL="warning",
                          ROOST_REGISTRATIONS="closed")
    try:
        http = browser(closed)
        shown = http.get("/auth/sign_up")
        assert shown.status_code == 403 and "Registrations are closed" in shown.text
        token = csrf_of(http, "/auth/sign_in")
        username = unique_name("closed")
        posted = http.post("/auth/sign_up", data={
            "csrf_token": token, "username": username, "email": f"{username}@example.test",
            "password": PASSWORD, "agreement": "1"})
        assert posted.status_code == 403 and not exists(closed, username)
    finally:
        closed.stop()


# --- sign-in ---------------------------------------------------------------------------------


def test_sign_in_by_username_or_email(server: RunningServer) -> None:
    _http, username = signed_up(server)
    for login in (username, username.upper(), f"{username}@example.test"):
        http = browser(server)
        answer = sign_in(http, login)
        assert answer.status_code == 303 and answer.headers["location"] == "/home", login
        assert session_token(http)

    http = browser(server)
    wrong = sign_in(http, username, "not the password")
    assert wrong.status_code == 401
    assert "Wrong email, username or password." in wrong.text
    assert f'value="{username}"' in wrong.text  # the login is kept, the password not
    assert "roost_session" not in http.cookies


def test_disabled_users_cannot_sign_in(tmp_path: Path) -> None:
    running = start_server(tmp_path / "disabled", None, ROOST_LOG_LEVEL="warning")
    try:
        _http, username = signed_up(running)
        with sqlite3.connect(running.data_dir / "roost.sqlite3") as db:
            db.execute("UPDATE users SET disabled = 1 WHERE email_lower = ?",
                       (f"{username}@example.test",))
        http = browser(running)
        refused = sign_in(http, username)
        assert refused.status_code == 403 and "disabled" in refused.text
        assert "roost_session" not in http.cookies
    finally:
        running.stop()


def test_next_is_followed_only_to_this_site(server: RunningServer) -> None:
    _http, username = signed_up(server)
    for target, expected in [
        ("/notifications", "/notifications"),
        ("/@someone?x=1", "/@someone?x=1"),
        ("//evil.example/", "/home"),
        ("https://evil.example/", "/home"),
        ("/\\evil.example", "/home"),
        ("javascript:alert(1)", "/home"),
        ("/%0d%0aSet-Cookie:x=y", "/%0d%0aSet-Cookie:x=y"),
    ]:
        http = browser(server)
        answer = sign_in(http, username, next_path=target)
        assert answer.status_code == 303, target
        assert answer.headers["location"] == expected, target
    shown = browser(server).get("/auth/sign_in", params={"next": "//evil.example"})
    assert 'name="next" value="/home"' in shown.text


def test_pages_that_need_an_account_send_to_sign_in(server: RunningServer) -> None:
    answer = browser(server).get("/home", params={"x": "1"})
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert location.path == "/auth/sign_in"
    assert parse_qs(location.query) == {"next": ["/home?x=1"]}


def test_sign_in_attempts_are_rate_limited(guarded_server: RunningServer) -> None:
    """5 attempts per login and 10 per address in each 5-minute window (fixed windows
    aligned to the clock: a run that straddles a boundary is tried again)."""
    for _attempt in range(2):
        window = int(time.time()) // 300
        http = browser(guarded_server)
        login = unique_name("nobody")
        codes = [sign_in(http, login, "wrong password").status_code for _ in range(6)]
        limited = sign_in(http, login, "wrong password")
        # Other logins from this address: allowed until the address's bucket is spent.
        others = [sign_in(http, unique_name("nobody"), "x" * 9).status_code for _ in range(10)]
        if int(time.time()) // 300 != window:
            continue
        assert codes[:5] == [401] * 5 or 429 in others, codes  # earlier tests used some
        assert codes[5] == 429 and limited.status_code == 429
        assert "Too many attempts" in limited.text and "Try again in" in limited.text
        assert 0 < int(limited.headers["retry-after"]) <= 300
        assert others[-1] == 429  # 10 per address
        assert codes.count(401) + others.count(401) <= 10
        return
    pytest.fail("two 5-minute windows went by during the test")


def test_password_checks_are_rate_limited(tmp_path: Path) -> None:
    """A session left open must not let someone guess its password on the password
    form: 5 checks per account in each 5-minute window, then the 429 page."""
    server = start_server(tmp_path, None, ROOST_LOG_LEVEL="warning", ROOST_RATE_LIMITS="on")
    try:
        for _attempt in range(2):
            window = int(time.time()) // 300
            http, username = signed_up(server)

            def change(current: str, http: httpx.Client = http) -> httpx.Response:
                return http.post("/settings/password", data={
                    "csrf_token": csrf_of(http, "/settings/password"),
                    "current_password": current, "new_password": "a new password",
                    "confirm_password": "a new password"})

            codes = [change("not the password").status_code for _ in range(5)]
            limited = change(PASSWORD)  # even the right one, once the bucket is spent
            if int(time.time()) // 300 != window:
                continue
            assert codes == [422] * 5
            assert limited.status_code == 429 and "Too many attempts" in limited.text
            assert 0 < int(limited.headers["retry-after"]) <= 300
            assert sign_in(browser(server), username).status_code == 303  # unchanged
            return
        pytest.fail("two 5-minute windows went by during the test")
    finally:
        server.stop()


# --- headers and escaping -------------------------------------------------------------------


def test_every_page_has_the_security_headers(server: RunningServer) -> None:
    http = browser(server)
    pages = [http.get("/"), http.get("/auth/sign_in"), http.get("/auth/sign_up"),
             http.get("/oauth/authorize", params={"response_type": "token"}),
             http.post("/auth/sign_in", data={})]
    for answer in pages:
        assert answer.headers["content-type"].startswith("text/html"), answer.url
        policy = answer.headers["content-security-policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "<script>" not in answer.text  # no inline script at all
        assert re.search(r"\son[a-z]+=", answer.text) is None  # no inline handlers


def test_a_display_name_with_script_is_escaped(server: RunningServer) -> None:
    http, username = signed_up(server)
    evil = "<script>alert(1)</script>"
    changed = httpx.patch(f"{server.url}/api/v1/accounts/update_credentials",
                          headers={"Authorization": f"Bearer {session_token(http)}"},
                          data={"display_name": evil})
    assert changed.status_code == 200, changed.text
    profile = http.get(f"/@{username}")
    assert profile.status_code == 200, profile.text
    assert evil not in profile.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in profile.text


# --- the OAuth authorize page with a web session ----------------------------------------------


def register_app(server: RunningServer, name: str, redirect_uri: str = OOB) -> dict[str, str]:
    answer = httpx.post(f"{server.url}/api/v1/apps", data={
        "client_name": name, "redirect_uris": redirect_uri, "scopes": "read write"})
    assert answer.status_code == 200, answer.text
    body: dict[str, str] = answer.json()
    return body


def test_authorize_page_with_a_web_session(server: RunningServer) -> None:
    app = register_app(server, "<script>alert(1)</script> App")
    http, username = signed_up(server)
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": OOB,
              "scope": "read"}
    shown = http.get("/oauth/authorize", params=params)
    assert shown.status_code == 200
    assert f"for @{username}</h1>" in shown.text
    assert 'type="password"' not in shown.text
    assert "<script>alert(1)</script>" not in shown.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; App" in shown.text
    assert "unsafe-inline" not in shown.headers["content-security-policy"]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', shown.text))

    # Without this browser's CSRF token: refused, no code.
    forged = {**hidden, "decision": "approve"}
    forged.pop("csrf_token")
    refused = http.post("/oauth/authorize", data=forged)
    assert refused.status_code == 403 and "authorization-code" not in refused.text

    approved = http.post("/oauth/authorize", data={**hidden, "decision": "approve"})
    assert approved.status_code == 200, approved.text
    code = re.search(r'id="authorization-code" class="code">([^<]+)<', approved.text)
    assert code
    token = httpx.post(f"{server.url}/oauth/token", data={
        "grant_type": "authorization_code", "code": code.group(1), "redirect_uri": OOB,
        "client_id": app["client_id"], "client_secret": app["client_secret"]})
    assert token.status_code == 200, token.text
    me = httpx.get(f"{server.url}/api/v1/accounts/verify_credentials",
                   headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["username"] == username


def test_authorize_sign_in_starts_a_web_session(server: RunningServer) -> None:
    _http, username = signed_up(server)
    callback = "https://client.example/callback"
    app = register_app(server, "Callback App", callback)
    http = browser(server)
    params = {"response_type": "code", "client_id": app["client_id"],
              "redirect_uri": callback, "state": "s1"}
    shown = http.get("/oauth/authorize", params=params)
    assert 'name="password"' in shown.text
    # Browsers apply form-action to the form's redirect: the app's origin is allowed.
    assert "form-action 'self' https://client.example;" in (
        shown.headers["content-security-policy"])
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', shown.text))
    answer = http.post("/oauth/authorize", data={
        **hidden, "decision": "approve", "login": username, "password": PASSWORD})
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(f"{callback}?code=")
    assert http.get("/").headers["location"] == "/home"  # signed in to the pages too


# --- cost ---------------------------------------------------------------------------------


async def test_sign_in_page_costs_and_the_signed_in_viewer(
    client: httpx.AsyncClient, count_statements: StatementCounter
) -> None:
    """The signed-out forms read nothing; knowing who is signed in costs two statements
    (the session's token, as every API request's, and the name for the header)."""
    shown = await client.get("/auth/sign_in")
    assert shown.status_code == 200
    assert count_statements.count == 0, count_statements.report()

    username = unique_name("cost")
    token = CSRF.search(shown.text)
    assert token
    signed = await client.post("/auth/sign_up", data={
        "csrf_token": token.group(1), "username": username,
        "email": f"{username}@example.test", "password": PASSWORD, "agreement": "1"})
    assert signed.status_code == 303, signed.text
    count_statements.statements.clear()
    again = await client.get("/auth/sign_in")
    assert again.status_code == 303
    queries = [s for s in count_statements.statements if s.strip().upper() != "BEGIN"]
    assert len(queries) == 2, count_statements.report()  # SQLite adds its BEGIN
