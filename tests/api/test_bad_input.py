"""Bad input, endpoint by endpoint: every malformed, mistyped, oversized, unauthorised
or impossible request gets a clear 4xx in Mastodon's error format and writes nothing.
A 500 is a bug.

Each case is one row of a table: (method, path, request, auth, expected status). The
request is sent, its status and body checked, and a fingerprint of every table's rows
taken before and after must be equal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from roost.app import create_app
from roost.context import Roost
from roost.db.tables import metadata
from tests.support.api import App, User, post_status, register_app, sign_up, unique_name

OAUTH_PATHS = ("/oauth/token", "/oauth/revoke")
HTML_PATHS = ("/oauth/authorize",)
MB = 1 << 20


# --- the world the cases run against ------------------------------------------------------


@dataclass
class World:
    app: App  # scopes "read write follow push"
    read_app: App  # registered with scopes "read" only
    alice: User
    bob: User
    read_only: str  # alice's user token with scope "read"
    revoked: str  # alice's user token, revoked
    status: str  # alice's public status
    bob_status: str  # bob's public status

    def substitutions(self) -> dict[str, str]:
        return {
            "<alice>": self.alice.id,
            "<bob>": self.bob.id,
            "<alice_name>": self.alice.username,
            "<alice_email>": self.alice.email,
            "<status>": self.status,
            "<bob_status>": self.bob_status,
            "<client_id>": self.app.client_id,
            "<client_secret>": self.app.client_secret,
            "<read_client_id>": self.read_app.client_id,
            "<read_client_secret>": self.read_app.client_secret,
        }

    def authorization(self, auth: str) -> str | None:
        return {
            "none": None,
            "alice": f"Bearer {self.alice.token}",
            "bob": f"Bearer {self.bob.token}",
            "app": f"Bearer {self.app.token}",
            "read_app": f"Bearer {self.read_app.token}",
            "read_only": f"Bearer {self.read_only}",
            "revoked": f"Bearer {self.revoked}",
            "garbage": "Bearer not-a-token",
            "too_long": "Bearer " + "x" * 600,
            "scheme_only": "Bearer",
            "two_words": f"Bearer {self.alice.token} extra",
            "basic": "Basic Zm9vOmJhcg==",
            "lowercase": f"bearer {self.alice.token}",
        }[auth]


async def password_token(http: httpx.AsyncClient, app: App, user: User, scope: str) -> str:
    reply = await http.post("/oauth/token", data={
        "grant_type": "password", "client_id": app.client_id,
        "client_secret": app.client_secret, "username": user.email,
        "password": user.password, "scope": scope})
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["access_token"]
    return token


@pytest.fixture(scope="module")
async def world(app_roost: tuple[Any, Roost]) -> AsyncIterator[World]:
    """A few accounts made once per module and database (sign-ups cost an argon2 hash)."""
    app, _ = app_roost
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
        full = await register_app(http)
        read_app = await register_app(http, scopes="read")
        alice = await sign_up(http, full)
        bob = await sign_up(http, full)
        read_only = await password_token(http, full, alice, "read")
        revoked = await password_token(http, full, alice, "read write")
        reply = await http.post("/oauth/revoke", data={
            "client_id": full.client_id, "client_secret": full.client_secret,
            "token": revoked})
        assert reply.status_code == 200, reply.text
        status = await post_status(http, alice, "alice's first post")
        bob_status = await post_status(http, bob, "bob's first post")
        yield World(full, read_app, alice, bob, read_only, revoked, status["id"],
                    bob_status["id"])


# --- "wrote nothing": a fingerprint of every row of every table ---------------------------


async def snapshot(roost: Roost) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the rows, per table, once the event log has caught up
    with earlier writes (id_nodes and event_leases are renewed in the background, so
    they are left out)."""
    if roost.dispatcher is not None:
        async with asyncio.timeout(15):
            await roost.dispatcher.settle()
    fingerprint: dict[str, tuple[int, str]] = {}
    async with roost.db.read() as conn:
        for table in metadata.sorted_tables:
            if table.name in ("id_nodes", "event_leases"):
                continue
            rows = sorted(repr(tuple(row)) for row in (await conn.execute(select(table))).all())
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            fingerprint[table.name] = (len(rows), digest)
    return fingerprint


def changed(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


# --- the cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    expected: int
    auth: str = "alice"
    params: Any = None  # query string
    data: Any = None  # urlencoded form
    json: Any = None
    content: bytes | None = None
    files: Any = None  # multipart uploads
    headers: dict[str, str] = field(default_factory=dict)


def C(id: str, method: str, path: str, expected: int, auth: str = "alice",
      **request: Any) -> Any:
    return pytest.param(Case(id, method, path, expected, auth, **request), id=id)


def multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = "roost" + secrets.token_hex(8)
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    ) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


JSON_CT = {"Content-Type": "application/json"}
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded"}
NO_SUCH_ID = "912191398400043792"  # a well-formed id no row has
BAD_IDS = ["abc", "-1", "0", "99999999999999999999999999", "1.5", "%20", "١٢٣", NO_SUCH_ID]
VALID_APP = {"client_name": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}
CLIENT = {"client_id": "<client_id>", "client_secret": "<client_secret>"}
SIGN_UP = {"username": "newbie", "email": "newbie@example.test",
           "password": "correct horse battery", "agreement": "true"}
AUTHORIZE = {"response_type": "code", "client_id": "<client_id>",
             "redirect_uri": "urn:ietf:wg:oauth:2.0:oob", "scope": "read"}
_mp_body, _mp_type = multipart([("status", "hi"), ("sensitive", "maybe")])
_mp_huge_body, _mp_huge_type = multipart([("status", "x" * (MB + 10))])

APPS = [
    C("apps-empty", "POST", "/api/v1/apps", 422, "none"),
    C("apps-no-redirect", "POST", "/api/v1/apps", 422, "none", data={"client_name": "x"}),
    C("apps-no-name", "POST", "/api/v1/apps", 422, "none",
      data={"redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}),
    C("apps-blank-name", "POST", "/api/v1/apps", 422, "none", data={**VALID_APP,
                                                                     "client_name": "   "}),
    C("apps-long-name", "POST", "/api/v1/apps", 422, "none", data={**VALID_APP,
                                                                    "client_name": "n" * 10_000}),
    C("apps-name-array", "POST", "/api/v1/apps", 422, "none",
      data={"client_name[]": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}),
    C("apps-bad-scope", "POST", "/api/v1/apps", 422, "none", data={**VALID_APP,
                                                                    "scopes": "read nonsense"}),
    C("apps-relative-redirect", "POST", "/api/v1/apps", 422, "none",
      data={**VALID_APP, "redirect_uris": "callback"}),
    C("apps-fragment-redirect", "POST", "/api/v1/apps", 422, "none",
      data={**VALID_APP, "redirect_uris": "https://app.example/cb#frag"}),
    C("apps-redirect-hash", "POST", "/api/v1/apps", 422, "none",
      data={"client_name": "x", "redirect_uris[a]": "https://app.example/cb"}),
    C("apps-long-website", "POST", "/api/v1/apps", 422, "none",
      data={**VALID_APP, "website": "https://x.example/" + "w" * 3000}),
    C("apps-website-not-url", "POST", "/api/v1/apps", 422, "none",
      data={**VALID_APP, "website": "javascript:alert(1)"}),
    C("apps-malformed-json", "POST", "/api/v1/apps", 400, "none",
      content=b'{"client_name": ', headers=JSON_CT),
    C("apps-json-list", "POST", "/api/v1/apps", 400, "none", json=[VALID_APP]),
    C("apps-json-string", "POST", "/api/v1/apps", 400, "none", json="client_name=x"),
    C("apps-huge-json", "POST", "/api/v1/apps", 413, "none",
      json={**VALID_APP, "website": "w" * (2 * MB)}),
    C("apps-json-as-form", "POST", "/api/v1/apps", 422, "none",
      content=json.dumps(VALID_APP).encode(), headers=FORM_CT),
    C("apps-form-as-json", "POST", "/api/v1/apps", 400, "none",
      content=b"client_name=x&redirect_uris=urn:ietf:wg:oauth:2.0:oob", headers=JSON_CT),
    C("apps-text-plain", "POST", "/api/v1/apps", 422, "none",
      content=b"client_name=x", headers={"Content-Type": "text/plain"}),
    C("apps-broken-multipart", "POST", "/api/v1/apps", 400, "none",
      content=b"--nope\r\ngarbage", headers={"Content-Type": "multipart/form-data; boundary=b"}),
    C("apps-too-many-params", "POST", "/api/v1/apps", 400, "none",
      params=[(f"k{i}", "v") for i in range(1001)]),
    C("apps-bad-ipv6-redirect", "POST", "/api/v1/apps", 422, "none",
      data={**VALID_APP, "redirect_uris": "https://[::1/cb"}),
    C("apps-bad-ipv6-website", "POST", "/api/v1/apps", 422, "none",
      data={**VALID_APP, "website": "https://[::1/"}),
    C("apps-website-no-host", "POST", "/api/v1/apps", 422, "none",
      data={**VALID_APP, "website": "https:///path"}),
    C("apps-nul", "POST", "/api/v1/apps", 400, "none",
      json={**VALID_APP, "client_name": "a\x00b"}),
    C("apps-verify-no-token", "GET", "/api/v1/apps/verify_credentials", 401, "none"),
    C("apps-verify-garbage", "GET", "/api/v1/apps/verify_credentials", 401, "garbage"),
    C("apps-verify-revoked", "GET", "/api/v1/apps/verify_credentials", 401, "revoked"),
]

TOKEN = [
    C("token-empty", "POST", "/oauth/token", 400, "none"),
    C("token-no-grant", "POST", "/oauth/token", 400, "none", data=CLIENT),
    C("token-no-client", "POST", "/oauth/token", 401, "none",
      data={"grant_type": "client_credentials"}),
    C("token-wrong-secret", "POST", "/oauth/token", 401, "none",
      data={"grant_type": "client_credentials", "client_id": "<client_id>",
            "client_secret": "wrong"}),
    C("token-unknown-client", "POST", "/oauth/token", 401, "none",
      data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}),
    C("token-bad-grant", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "implicit"}),
    C("token-grant-array", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type[]": "client_credentials"}),
    C("token-code-missing", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "authorization_code"}),
    C("token-code-wrong", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "authorization_code", "code": "nope",
            "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"}),
    C("token-code-too-long", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "authorization_code", "code": "c" * 5000}),
    C("token-bad-password", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "password", "username": "<alice_email>",
            "password": "wrong password"}),
    C("token-no-username", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "password"}),
    C("token-unknown-scope", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "client_credentials", "scope": "read admin:everything"}),
    C("token-scope-beyond-app", "POST", "/oauth/token", 400, "none",
      data={"client_id": "<read_client_id>", "client_secret": "<read_client_secret>",
            "grant_type": "client_credentials", "scope": "write"}),
    C("token-malformed-json", "POST", "/oauth/token", 400, "none",
      content=b'{"grant_type": ', headers=JSON_CT),
    C("token-json-list", "POST", "/oauth/token", 400, "none", json=[CLIENT]),
    C("token-secret-too-long", "POST", "/oauth/token", 400, "none",
      data={**CLIENT, "grant_type": "client_credentials", "client_secret": "s" * 10_000}),
    C("token-basic-garbage", "POST", "/oauth/token", 401, "none",
      data={"grant_type": "client_credentials"},
      headers={"Authorization": "Basic !!!not-base64"}),
    C("token-basic-nul", "POST", "/oauth/token", 401, "none",
      data={"grant_type": "client_credentials"},
      headers={"Authorization": "Basic YQBiOmM="}),  # "a\0b:c"
    C("token-nul", "POST", "/oauth/token", 400, "none",
      json={"grant_type": "client_credentials", "client_id": "a\x00", "client_secret": "b"}),
    C("revoke-no-client", "POST", "/oauth/revoke", 401, "none", data={"token": "x"}),
    C("revoke-wrong-secret", "POST", "/oauth/revoke", 401, "none",
      data={"client_id": "<client_id>", "client_secret": "wrong", "token": "x"}),
    C("revoke-malformed-json", "POST", "/oauth/revoke", 400, "none",
      content=b'{"token": ', headers=JSON_CT),
    C("revoke-secret-array", "POST", "/oauth/revoke", 400, "none",
      data={"client_id": "<client_id>", "client_secret[]": "x", "token": "x"}),
]

AUTHORIZE_CASES = [
    C("authorize-empty", "GET", "/oauth/authorize", 400, "none"),
    C("authorize-token-flow", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "response_type": "token"}),
    C("authorize-unknown-client", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "client_id": "nobody"}),
    C("authorize-wrong-redirect", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "redirect_uri": "https://evil.example/cb"}),
    C("authorize-unknown-scope", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "scope": "read nonsense"}),
    C("authorize-scope-beyond-app", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "client_id": "<read_client_id>", "scope": "write"}),
    C("authorize-plain-pkce", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "code_challenge": "abc", "code_challenge_method": "plain"}),
    C("authorize-long-state", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "state": "s" * 5000}),
    C("authorize-client-array", "GET", "/oauth/authorize", 400, "none",
      params={**AUTHORIZE, "client_id[]": "x", "client_id": None}),
    C("authorize-post-unsigned", "POST", "/oauth/authorize", 400, "none",
      data={**AUTHORIZE, "login": "<alice_email>", "password": "correct horse battery"}),
    C("authorize-post-forged", "POST", "/oauth/authorize", 400, "none",
      data={**AUTHORIZE, "login": "<alice_email>", "password": "correct horse battery",
            "issued": "9999999999", "signature": "forged"}),
    C("authorize-post-odd-issued", "POST", "/oauth/authorize", 400, "none",
      data={**AUTHORIZE, "login": "<alice_email>", "password": "correct horse battery",
            "issued": "²", "signature": "forged"}),
    C("authorize-post-huge-issued", "POST", "/oauth/authorize", 400, "none",
      data={**AUTHORIZE, "login": "<alice_email>", "password": "correct horse battery",
            "issued": "9" * 5000, "signature": "forged"}),
    C("authorize-post-bad-client", "POST", "/oauth/authorize", 400, "none",
      data={**AUTHORIZE, "client_id": "nobody"}),
    C("authorize-post-malformed-json", "POST", "/oauth/authorize", 400, "none",
      content=b'{"client_id": ', headers=JSON_CT),
]

SIGN_UP_CASES = [
    C("signup-no-token", "POST", "/api/v1/accounts", 401, "none", data=SIGN_UP),
    C("signup-garbage-token", "POST", "/api/v1/accounts", 401, "garbage", data=SIGN_UP),
    C("signup-revoked-token", "POST", "/api/v1/accounts", 401, "revoked", data=SIGN_UP),
    C("signup-read-app", "POST", "/api/v1/accounts", 403, "read_app", data=SIGN_UP),
    C("signup-agreement-maybe", "POST", "/api/v1/accounts", 422, "app",
      data={**SIGN_UP, "agreement": "maybe"}),
    C("signup-username-array", "POST", "/api/v1/accounts", 422, "app",
      data={**SIGN_UP, "username": None, "username[]": "newbie"}),
    C("signup-password-hash", "POST", "/api/v1/accounts", 422, "app",
      json={**SIGN_UP, "password": {"a": "b"}}),
    C("signup-long-email", "POST", "/api/v1/accounts", 422, "app",
      data={**SIGN_UP, "email": "e" * 5000 + "@example.test"}),
    C("signup-long-locale", "POST", "/api/v1/accounts", 422, "app",
      data={**SIGN_UP, "locale": "l" * 100}),
    C("signup-malformed-json", "POST", "/api/v1/accounts", 400, "app",
      content=b'{"username": ', headers=JSON_CT),
    C("signup-json-list", "POST", "/api/v1/accounts", 400, "app", json=[SIGN_UP]),
    C("signup-huge-json", "POST", "/api/v1/accounts", 413, "app",
      json={**SIGN_UP, "reason": "r" * (2 * MB)}),
    C("signup-nul", "POST", "/api/v1/accounts", 400, "app",
      json={**SIGN_UP, "username": "new\x00bie"}),
]

ACCOUNTS = [
    # credentials
    C("verify-no-token", "GET", "/api/v1/accounts/verify_credentials", 401, "none"),
    C("verify-garbage", "GET", "/api/v1/accounts/verify_credentials", 401, "garbage"),
    C("verify-revoked", "GET", "/api/v1/accounts/verify_credentials", 401, "revoked"),
    C("verify-too-long", "GET", "/api/v1/accounts/verify_credentials", 401, "too_long"),
    C("verify-scheme-only", "GET", "/api/v1/accounts/verify_credentials", 401, "scheme_only"),
    C("verify-two-words", "GET", "/api/v1/accounts/verify_credentials", 401, "two_words"),
    C("verify-basic", "GET", "/api/v1/accounts/verify_credentials", 401, "basic"),
    C("verify-query-garbage", "GET", "/api/v1/accounts/verify_credentials", 401, "none",
      params={"access_token": "garbage"}),
    C("verify-app-token", "GET", "/api/v1/accounts/verify_credentials", 422, "app"),
    C("verify-wrong-method", "DELETE", "/api/v1/accounts/verify_credentials", 405),
    C("update-no-token", "PATCH", "/api/v1/accounts/update_credentials", 401, "none",
      data={"display_name": "x"}),
    C("update-read-only", "PATCH", "/api/v1/accounts/update_credentials", 403, "read_only",
      data={"display_name": "x"}),
    C("update-app-token", "PATCH", "/api/v1/accounts/update_credentials", 422, "app",
      data={"display_name": "x"}),
    C("update-long-name", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"display_name": "d" * 10_000}),
    C("update-long-note", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"note": "n" * 10_000}),
    C("update-locked-maybe", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"display_name": "valid", "locked": "maybe"}),
    C("update-bot-array", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"bot[]": "true"}),
    C("update-name-array", "PATCH", "/api/v1/accounts/update_credentials", 422,
      json={"display_name": ["a", "b"]}),
    C("update-fields-string", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"fields_attributes": "name=value"}),
    C("update-fields-scalars", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"fields_attributes[0]": "name"}),
    C("update-fields-array-of-strings", "PATCH", "/api/v1/accounts/update_credentials", 422,
      json={"fields_attributes": ["a", "b"]}),
    C("update-too-many-fields", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={f"fields_attributes[{i}][name]": f"n{i}" for i in range(5)}),
    C("update-long-field", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"fields_attributes[0][name]": "x", "fields_attributes[0][value]": "v" * 300}),
    C("update-bad-language", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"source[language]": "Bad!"}),
    C("update-long-language", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"source[language]": "abc-abcdefgh"}),
    C("update-name-file", "PATCH", "/api/v1/accounts/update_credentials", 422,
      files={"display_name": ("name.txt", b"x", "text/plain")}),
    C("update-avatar-file", "PATCH", "/api/v1/accounts/update_credentials", 422,
      files={"avatar": ("a.png", b"\x89PNG\r\n", "image/png")}),
    C("update-bad-privacy", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"source[privacy]": "bogus"}),
    C("update-source-string", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"source": "public"}),
    C("update-source-sensitive-maybe", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"source[sensitive]": "maybe"}),
    C("update-avatar", "PATCH", "/api/v1/accounts/update_credentials", 422,
      data={"avatar": "not a file"}),
    C("update-malformed-json", "PATCH", "/api/v1/accounts/update_credentials", 400,
      content=b'{"display_name": ', headers=JSON_CT),
    C("update-json-list", "PATCH", "/api/v1/accounts/update_credentials", 400,
      json=[{"display_name": "x"}]),
    C("update-huge-json", "PATCH", "/api/v1/accounts/update_credentials", 413,
      json={"note": "n" * (2 * MB)}),
    C("update-nul", "PATCH", "/api/v1/accounts/update_credentials", 400,
      json={"display_name": "a\x00b"}),
    C("update-wrong-method", "POST", "/api/v1/accounts/update_credentials", 405,
      data={"display_name": "x"}),
    # lookup
    C("lookup-missing", "GET", "/api/v1/accounts/lookup", 404, "none"),
    C("lookup-blank", "GET", "/api/v1/accounts/lookup", 404, "none", params={"acct": "@"}),
    C("lookup-unknown", "GET", "/api/v1/accounts/lookup", 404, "none",
      params={"acct": "nobody_here"}),
    C("lookup-other-domain", "GET", "/api/v1/accounts/lookup", 404, "none",
      params={"acct": "<alice_name>@elsewhere.example"}),
    C("lookup-array", "GET", "/api/v1/accounts/lookup", 404, "none",
      params={"acct[]": "<alice_name>"}),
    C("lookup-bad-utf8", "GET", "/api/v1/accounts/lookup?acct=%ff%fe", 404, "none"),
    C("lookup-huge", "GET", "/api/v1/accounts/lookup", 404, "none", params={"acct": "a" * 5000}),
    C("lookup-nul", "GET", "/api/v1/accounts/lookup", 400, "none", params={"acct": "a\x00"}),
    C("lookup-garbage-token", "GET", "/api/v1/accounts/lookup", 401, "garbage",
      params={"acct": "<alice_name>"}),
    # relationships
    C("relationships-no-token", "GET", "/api/v1/accounts/relationships", 401, "none",
      params={"id[]": "<bob>"}),
    C("relationships-app-token", "GET", "/api/v1/accounts/relationships", 422, "app",
      params={"id[]": "<bob>"}),
    C("relationships-too-many", "GET", "/api/v1/accounts/relationships", 422,
      params=[("id[]", str(i)) for i in range(1, 102)]),
    # several accounts at once
    C("accounts-too-many", "GET", "/api/v1/accounts", 422, "none",
      params=[("id[]", str(i)) for i in range(1, 42)]),
    C("accounts-garbage-token", "GET", "/api/v1/accounts", 401, "garbage",
      params={"id[]": "<bob>"}),
    C("accounts-nul", "GET", "/api/v1/accounts", 400, "none", params={"id[]": "1\x00"}),
    # profiles and their lists
    *[C(f"account-{bad}", "GET", f"/api/v1/accounts/{bad}", 404, "none") for bad in BAD_IDS],
    *[C(f"account-statuses-{bad}", "GET", f"/api/v1/accounts/{bad}/statuses", 404, "none")
      for bad in BAD_IDS[::2]],
    *[C(f"followers-{bad}", "GET", f"/api/v1/accounts/{bad}/followers", 404, "none")
      for bad in BAD_IDS[1::2]],
    *[C(f"following-{bad}", "GET", f"/api/v1/accounts/{bad}/following", 404, "none")
      for bad in BAD_IDS[::2]],
    C("account-garbage-token", "GET", "/api/v1/accounts/<bob>", 401, "garbage"),
    C("account-revoked-token", "GET", "/api/v1/accounts/<bob>", 401, "revoked"),
    C("account-statuses-limit-abc", "GET", "/api/v1/accounts/<alice>/statuses", 422, "none",
      params={"limit": "abc"}),
    C("account-statuses-limit-float", "GET", "/api/v1/accounts/<alice>/statuses", 422, "none",
      params={"limit": "1.5"}),
    C("account-statuses-limit-huge", "GET", "/api/v1/accounts/<alice>/statuses", 422, "none",
      params={"limit": "9" * 40}),
    C("account-statuses-max-id-abc", "GET", "/api/v1/accounts/<alice>/statuses", 422, "none",
      params={"max_id": "abc"}),
    C("account-statuses-max-id-huge", "GET", "/api/v1/accounts/<alice>/statuses", 422, "none",
      params={"max_id": "99999999999999999999999"}),
    C("account-statuses-since-id-negative", "GET", "/api/v1/accounts/<alice>/statuses", 422,
      "none", params={"since_id": "-1"}),
    C("account-statuses-min-id-array", "GET", "/api/v1/accounts/<alice>/statuses", 422, "none",
      params={"min_id[]": "1"}),
    C("account-statuses-exclude-maybe", "GET", "/api/v1/accounts/<alice>/statuses", 422, "none",
      params={"exclude_replies": "maybe"}),
    C("followers-limit-abc", "GET", "/api/v1/accounts/<alice>/followers", 422, "none",
      params={"limit": "abc"}),
    C("followers-max-id-abc", "GET", "/api/v1/accounts/<alice>/followers", 422, "none",
      params={"max_id": "abc"}),
    C("following-min-id-huge", "GET", "/api/v1/accounts/<alice>/following", 422, "none",
      params={"min_id": "99999999999999999999999"}),
    C("following-since-id-nul", "GET", "/api/v1/accounts/<alice>/following", 400, "none",
      params={"since_id": "1\x00"}),
    # follow / unfollow
    *[C(f"follow-{bad}", "POST", f"/api/v1/accounts/{bad}/follow", 404) for bad in BAD_IDS],
    *[C(f"unfollow-{bad}", "POST", f"/api/v1/accounts/{bad}/unfollow", 404)
      for bad in BAD_IDS[::3]],
    C("follow-self", "POST", "/api/v1/accounts/<alice>/follow", 403),
    C("follow-no-token", "POST", "/api/v1/accounts/<bob>/follow", 401, "none"),
    C("follow-revoked", "POST", "/api/v1/accounts/<bob>/follow", 401, "revoked"),
    C("follow-read-only", "POST", "/api/v1/accounts/<bob>/follow", 403, "read_only"),
    C("follow-read-app", "POST", "/api/v1/accounts/<bob>/follow", 403, "read_app"),
    C("follow-app-token", "POST", "/api/v1/accounts/<bob>/follow", 422, "app"),
    C("follow-reblogs-maybe", "POST", "/api/v1/accounts/<bob>/follow", 422,
      data={"reblogs": "maybe"}),
    C("follow-notify-array", "POST", "/api/v1/accounts/<bob>/follow", 422,
      json={"notify": [True]}),
    C("follow-malformed-json", "POST", "/api/v1/accounts/<bob>/follow", 400,
      content=b'{"reblogs": ', headers=JSON_CT),
    C("follow-wrong-method", "GET", "/api/v1/accounts/<bob>/follow", 405),
    C("unfollow-no-token", "POST", "/api/v1/accounts/<bob>/unfollow", 401, "none"),
    C("unfollow-read-only", "POST", "/api/v1/accounts/<bob>/unfollow", 403, "read_only"),
    C("unfollow-app-token", "POST", "/api/v1/accounts/<bob>/unfollow", 422, "app"),
]

STATUSES = [
    C("post-no-token", "POST", "/api/v1/statuses", 401, "none", data={"status": "hi"}),
    C("post-garbage-token", "POST", "/api/v1/statuses", 401, "garbage", data={"status": "hi"}),
    C("post-revoked", "POST", "/api/v1/statuses", 401, "revoked", data={"status": "hi"}),
    C("post-read-only", "POST", "/api/v1/statuses", 403, "read_only", data={"status": "hi"}),
    C("post-read-app", "POST", "/api/v1/statuses", 403, "read_app", data={"status": "hi"}),
    C("post-app-token", "POST", "/api/v1/statuses", 422, "app", data={"status": "hi"}),
    C("post-missing", "POST", "/api/v1/statuses", 422),
    C("post-blank", "POST", "/api/v1/statuses", 422, data={"status": "   "}),
    C("post-null", "POST", "/api/v1/statuses", 422, json={"status": None}),
    C("post-array", "POST", "/api/v1/statuses", 422, data={"status[]": "x"}),
    C("post-hash", "POST", "/api/v1/statuses", 422, data={"status[a]": "x"}),
    C("post-json-array", "POST", "/api/v1/statuses", 422, json={"status": ["x"]}),
    C("post-sensitive-maybe", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "sensitive": "maybe"}),
    C("post-sensitive-array", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "sensitive[]": "true"}),
    C("post-visibility-bogus", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "visibility": "bogus"}),
    C("post-visibility-array", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "visibility[]": "public"}),
    C("post-visibility-number", "POST", "/api/v1/statuses", 422,
      json={"status": "hi", "visibility": 0}),
    C("post-reply-nonsense", "POST", "/api/v1/statuses", 404,
      data={"status": "hi", "in_reply_to_id": "nonsense"}),
    C("post-reply-huge", "POST", "/api/v1/statuses", 404,
      data={"status": "hi", "in_reply_to_id": "99999999999999999999"}),
    C("post-reply-negative", "POST", "/api/v1/statuses", 404,
      json={"status": "hi", "in_reply_to_id": -1}),
    C("post-reply-missing", "POST", "/api/v1/statuses", 404,
      data={"status": "hi", "in_reply_to_id": NO_SUCH_ID}),
    C("post-reply-missing-idempotent", "POST", "/api/v1/statuses", 404,
      data={"status": "hi", "in_reply_to_id": NO_SUCH_ID},
      headers={"Idempotency-Key": "reply-to-nothing"}),
    C("post-reply-array", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "in_reply_to_id[]": "<status>"}),
    C("post-too-long", "POST", "/api/v1/statuses", 422, data={"status": "x" * 501}),
    C("post-spoiler-pushes-over", "POST", "/api/v1/statuses", 422,
      data={"status": "x" * 400, "spoiler_text": "y" * 200}),
    C("post-200k-form", "POST", "/api/v1/statuses", 422, data={"status": "x" * 200_000}),
    C("post-megabyte-form", "POST", "/api/v1/statuses", 413, data={"status": "x" * MB}),
    C("post-megabyte-multipart", "POST", "/api/v1/statuses", 413,
      content=_mp_huge_body, headers={"Content-Type": _mp_huge_type}),
    C("post-deep-json", "POST", "/api/v1/statuses", 422,
      content=b'{"status": "hi", "x": ' + b"[" * 1000 + b"]" * 1000 + b',"sensitive": "maybe"}',
      headers=JSON_CT),
    C("post-too-deep-json", "POST", "/api/v1/statuses", 400,
      content=b'{"status": ' + b"[" * 5000 + b"]" * 5000 + b"}", headers=JSON_CT),
    C("post-nul-key", "POST", "/api/v1/statuses", 400, data={"status": "hi", "a\x00": "b"}),
    C("post-list-of-hashes", "POST", "/api/v1/statuses", 400,
      data={"status": "hi", "media_ids[][id]": "1"}),
    C("post-megabyte-json", "POST", "/api/v1/statuses", 413, json={"status": "x" * MB}),
    C("post-two-megabyte-json", "POST", "/api/v1/statuses", 413,
      json={"status": "hi", "padding": "p" * (2 * MB)}),
    C("post-bad-language", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "language": "not a language"}),
    C("post-long-language", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "language": "abc-abcdefgh"}),
    C("post-status-file", "POST", "/api/v1/statuses", 422,
      files={"status": ("status.txt", b"hi", "text/plain")}),
    C("post-too-many-files", "POST", "/api/v1/statuses", 400,
      files=[("f", (f"{i}.txt", b"x", "text/plain")) for i in range(17)]),
    C("post-idempotency-nul", "POST", "/api/v1/statuses", 422,
      data={"status": "hi"}, headers={"Idempotency-Key": "a\x00b"}),
    C("post-media", "POST", "/api/v1/statuses", 422, data={"status": "hi", "media_ids[]": "1"}),
    C("post-media-scalar", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "media_ids": "1"}),
    C("post-poll", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "poll[options][]": "a", "poll[expires_in]": "300"}),
    C("post-poll-string", "POST", "/api/v1/statuses", 422, data={"status": "hi", "poll": "yes"}),
    C("post-scheduled", "POST", "/api/v1/statuses", 422,
      data={"status": "hi", "scheduled_at": "2099-01-01T00:00:00Z"}),
    C("post-idempotency-too-long", "POST", "/api/v1/statuses", 422,
      data={"status": "hi"}, headers={"Idempotency-Key": "k" * 200}),
    C("post-malformed-json", "POST", "/api/v1/statuses", 400,
      content=b'{"status": ', headers=JSON_CT),
    C("post-json-list", "POST", "/api/v1/statuses", 400, json=[{"status": "hi"}]),
    C("post-json-number", "POST", "/api/v1/statuses", 400, json=42),
    C("post-json-invalid-utf8", "POST", "/api/v1/statuses", 400,
      content=b'{"status": "\xff\xfe"}', headers=JSON_CT),
    C("post-json-lone-surrogate", "POST", "/api/v1/statuses", 400,
      content=b'{"status": "\\ud800"}', headers=JSON_CT),
    C("post-form-as-json", "POST", "/api/v1/statuses", 400,
      content=b"status=hi", headers=JSON_CT),
    C("post-text-plain", "POST", "/api/v1/statuses", 422,
      content=b"status=hi", headers={"Content-Type": "text/plain"}),
    C("post-xml", "POST", "/api/v1/statuses", 422,
      content=b"<status>hi</status>", headers={"Content-Type": "application/xml"}),
    C("post-multipart-no-boundary", "POST", "/api/v1/statuses", 400,
      content=b"status=hi", headers={"Content-Type": "multipart/form-data"}),
    C("post-multipart-sensitive-maybe", "POST", "/api/v1/statuses", 422,
      content=_mp_body, headers={"Content-Type": _mp_type}),
    C("post-nul", "POST", "/api/v1/statuses", 400, json={"status": "a\x00b"}),
    C("post-nul-form", "POST", "/api/v1/statuses", 400, data={"status": "a\x00b"}),
    C("post-wrong-method", "PUT", "/api/v1/statuses", 405, data={"status": "hi"}),
    # reading
    C("get-many-too-many", "GET", "/api/v1/statuses", 422, "none",
      params=[("id[]", str(i)) for i in range(1, 42)]),
    C("get-many-garbage-token", "GET", "/api/v1/statuses", 401, "garbage",
      params={"id[]": "<status>"}),
    *[C(f"get-{bad}", "GET", f"/api/v1/statuses/{bad}", 404, "none") for bad in BAD_IDS],
    *[C(f"context-{bad}", "GET", f"/api/v1/statuses/{bad}/context", 404, "none")
      for bad in BAD_IDS[::2]],
    C("get-revoked-token", "GET", "/api/v1/statuses/<status>", 401, "revoked"),
    C("context-garbage-token", "GET", "/api/v1/statuses/<status>/context", 401, "garbage"),
    # deleting
    *[C(f"delete-{bad}", "DELETE", f"/api/v1/statuses/{bad}", 404) for bad in BAD_IDS[1::2]],
    C("delete-someone-elses", "DELETE", "/api/v1/statuses/<bob_status>", 404),
    C("delete-no-token", "DELETE", "/api/v1/statuses/<status>", 401, "none"),
    C("delete-read-only", "DELETE", "/api/v1/statuses/<status>", 403, "read_only"),
    C("delete-app-token", "DELETE", "/api/v1/statuses/<status>", 422, "app"),
    C("delete-revoked", "DELETE", "/api/v1/statuses/<status>", 401, "revoked"),
    C("context-wrong-method", "POST", "/api/v1/statuses/<status>/context", 405),
]

TIMELINES = [
    C("home-no-token", "GET", "/api/v1/timelines/home", 401, "none"),
    C("home-garbage", "GET", "/api/v1/timelines/home", 401, "garbage"),
    C("home-revoked", "GET", "/api/v1/timelines/home", 401, "revoked"),
    C("home-app-token", "GET", "/api/v1/timelines/home", 422, "app"),
    C("home-read-app", "GET", "/api/v1/timelines/home", 422, "read_app"),
    C("home-query-garbage", "GET", "/api/v1/timelines/home", 401, "none",
      params={"access_token": "garbage"}),
    C("home-limit-abc", "GET", "/api/v1/timelines/home", 422, params={"limit": "abc"}),
    C("home-limit-array", "GET", "/api/v1/timelines/home", 422, params={"limit[]": "5"}),
    C("home-limit-exponent", "GET", "/api/v1/timelines/home", 422, params={"limit": "1e3"}),
    C("home-max-id-abc", "GET", "/api/v1/timelines/home", 422, params={"max_id": "abc"}),
    C("home-max-id-huge", "GET", "/api/v1/timelines/home", 422,
      params={"max_id": "99999999999999999999999"}),
    C("home-since-id-negative", "GET", "/api/v1/timelines/home", 422, params={"since_id": "-1"}),
    C("home-min-id-hash", "GET", "/api/v1/timelines/home", 422, params={"min_id[a]": "1"}),
    C("home-too-many-params", "GET", "/api/v1/timelines/home", 400,
      params=[(f"k{i}", "v") for i in range(1001)]),
    C("home-wrong-method", "POST", "/api/v1/timelines/home", 405),
]

MISC = [
    C("instance-wrong-method", "POST", "/api/v1/instance", 405, "none"),
    C("instance-v2-wrong-method", "DELETE", "/api/v2/instance", 405, "none"),
    C("unknown-route", "GET", "/api/v1/nothing-here", 404, "none"),
    C("unknown-route-post", "POST", "/api/v1/nothing-here", 404, "none", data={"a": "b"}),
    C("metadata-wrong-method", "POST", "/.well-known/oauth-authorization-server", 405, "none"),
]

ALL_CASES = [*APPS, *TOKEN, *AUTHORIZE_CASES, *SIGN_UP_CASES, *ACCOUNTS, *STATUSES, *TIMELINES,
             *MISC]


def _fill(value: Any, subs: dict[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, real in subs.items():
            value = value.replace(placeholder, real)
        return value
    if isinstance(value, dict):
        return {_fill(k, subs): _fill(v, subs) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_fill(v, subs) for v in value]
    if isinstance(value, tuple):
        return tuple(_fill(v, subs) for v in value)
    return value


async def send(http: httpx.AsyncClient, world: World, case: Case) -> httpx.Response:
    subs = world.substitutions()
    headers = dict(case.headers)
    authorization = world.authorization(case.auth)
    if authorization is not None:
        headers["Authorization"] = authorization
    request: dict[str, Any] = {"headers": headers}
    if case.params is not None:
        request["params"] = _fill(case.params, subs)
    if case.data is not None:
        request["data"] = _fill(case.data, subs)
    if case.json is not None:
        request["json"] = _fill(case.json, subs)
    if case.content is not None:
        request["content"] = case.content
    if case.files is not None:
        request["files"] = case.files
    return await http.request(case.method, _fill(case.path, subs), **request)


def assert_error_body(path: str, reply: httpx.Response) -> None:
    if path in HTML_PATHS:
        assert reply.headers["content-type"].startswith("text/html"), reply.text[:300]
        return
    assert reply.headers["content-type"].startswith("application/json"), reply.text[:300]
    body = reply.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    if path in OAUTH_PATHS:
        assert re.fullmatch(r"invalid_\w+|unsupported_\w+|unauthorized_client", body["error"]), body
        assert isinstance(body.get("error_description"), str), body
    else:
        assert set(body) <= {"error", "details"}, body


@pytest.mark.parametrize("case", ALL_CASES)
async def test_bad_input_is_a_clear_4xx_that_writes_nothing(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], world: World, case: Case
) -> None:
    _, roost = app_roost
    before = await snapshot(roost)
    reply = await send(client, world, case)
    after = await snapshot(roost)
    assert reply.status_code == case.expected, (reply.status_code, reply.text[:500])
    assert_error_body(case.path, reply)
    assert not changed(before, after), f"tables written: {changed(before, after)}"


# --- sign-up validation -------------------------------------------------------------------


SIGN_UP_PROBLEMS = [
    ({"username": ""}, {"username": "ERR_BLANK"}),
    ({"username": None}, {"username": "ERR_BLANK"}),
    ({"username": "not valid!"}, {"username": "ERR_INVALID"}),
    ({"username": "émile"}, {"username": "ERR_INVALID"}),
    ({"username": "u" * 31}, {"username": "ERR_TOO_LONG"}),
    ({"username": "<ALICE_NAME>"}, {"username": "ERR_TAKEN"}),
    ({"username": "admin"}, {"username": "ERR_RESERVED"}),
    ({"username": "Root"}, {"username": "ERR_RESERVED"}),
    ({"email": ""}, {"email": "ERR_BLANK"}),
    ({"email": "not-an-email"}, {"email": "ERR_INVALID"}),
    ({"email": "two@@example.test"}, {"email": "ERR_INVALID"}),
    ({"email": "<ALICE_EMAIL>"}, {"email": "ERR_TAKEN"}),
    ({"password": ""}, {"password": "ERR_BLANK"}),
    ({"password": "short"}, {"password": "ERR_TOO_SHORT"}),
    ({"password": "p" * 73}, {"password": "ERR_TOO_LONG"}),
    ({"agreement": None}, {"agreement": "ERR_ACCEPTED"}),
    ({"agreement": "false"}, {"agreement": "ERR_ACCEPTED"}),
    ({"agreement": "0"}, {"agreement": "ERR_ACCEPTED"}),
    ({"username": "admin", "email": "nope", "password": "x", "agreement": None},
     {"username": "ERR_RESERVED", "email": "ERR_INVALID", "password": "ERR_TOO_SHORT",
      "agreement": "ERR_ACCEPTED"}),
]


@pytest.mark.parametrize(("changes", "codes"), SIGN_UP_PROBLEMS,
                         ids=[",".join(f"{k}:{v}" for k, v in codes.items())
                              + f"-{i}" for i, (_, codes) in enumerate(SIGN_UP_PROBLEMS)])
async def test_sign_up_validation(client: httpx.AsyncClient, app_roost: tuple[Any, Roost],
                                  world: World, changes: dict[str, str | None],
                                  codes: dict[str, str]) -> None:
    _, roost = app_roost
    name = unique_name("signup")
    fields: dict[str, str | None] = {"username": name, "email": f"{name}@example.test",
                                     "password": "correct horse battery", "agreement": "true"}
    for key, value in changes.items():
        if value == "<ALICE_NAME>":
            value = world.alice.username.upper()
        elif value == "<ALICE_EMAIL>":
            value = world.alice.email.upper()
        fields[key] = value
    data = {k: v for k, v in fields.items() if v is not None}
    before = await snapshot(roost)
    reply = await client.post("/api/v1/accounts", data=data,
                              headers={"Authorization": f"Bearer {world.app.token}"})
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"].startswith("Validation failed: "), body
    got = {attribute: [p["error"] for p in problems]
           for attribute, problems in body["details"].items()}
    assert got == {attribute: [code] for attribute, code in codes.items()}, body
    assert not changed(before, await snapshot(roost))


# --- registrations closed or by approval: a second app on the same database -------------


@pytest.fixture
async def app_with_registrations(app_roost: tuple[Any, Roost]) -> Any:
    _, roost = app_roost

    async def start(mode: str) -> Any:
        settings = dataclasses.replace(roost.settings, registrations=mode)
        return create_app(settings)

    return start


async def test_registrations_closed(app_roost: tuple[Any, Roost], world: World,
                                    app_with_registrations: Any) -> None:
    _, roost = app_roost
    closed = await app_with_registrations("closed")
    async with closed.router.lifespan_context(closed):
        transport = httpx.ASGITransport(app=closed)
        async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
            instance = (await http.get("/api/v1/instance")).json()
            assert instance["registrations"] is False
            before = await snapshot(roost)
            reply = await http.post("/api/v1/accounts", data=SIGN_UP,
                                    headers={"Authorization": f"Bearer {world.app.token}"})
            assert reply.status_code == 403, reply.text
            assert isinstance(reply.json()["error"], str)
            # Closed wins over any validation problem, and nothing is written either way.
            reply = await http.post("/api/v1/accounts", data={"username": "admin"},
                                    headers={"Authorization": f"Bearer {world.app.token}"})
            assert reply.status_code == 403, reply.text
            assert not changed(before, await snapshot(roost))


async def test_registrations_by_approval_need_a_reason(
    app_roost: tuple[Any, Roost], world: World, app_with_registrations: Any
) -> None:
    _, roost = app_roost
    approval = await app_with_registrations("approval")
    async with approval.router.lifespan_context(approval):
        transport = httpx.ASGITransport(app=approval)
        async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
            name = unique_name("pending")
            before = await snapshot(roost)
            reply = await http.post(
                "/api/v1/accounts",
                data={**SIGN_UP, "username": name, "email": f"{name}@example.test"},
                headers={"Authorization": f"Bearer {world.app.token}"})
            assert reply.status_code == 422, reply.text
            assert reply.json()["details"] == {
                "reason": [{"error": "ERR_BLANK", "description": "can't be blank"}]}
            assert not changed(before, await snapshot(roost))
            reply = await http.post(
                "/api/v1/accounts",
                data={**SIGN_UP, "username": name, "email": f"{name}@example.test",
                      "reason": "I'd like to join"},
                headers={"Authorization": f"Bearer {world.app.token}"})
            assert reply.status_code == 200, reply.text
            pending = {"Authorization": f"Bearer {reply.json()['access_token']}"}
            reply = await http.get("/api/v1/accounts/verify_credentials", headers=pending)
            assert reply.status_code == 403, reply.text
            assert "pending" in reply.json()["error"]


# --- the authorize form: a fresh, signed form with a wrong password -----------------------


async def test_authorize_wrong_password_writes_nothing(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], world: World
) -> None:
    _, roost = app_roost
    params = _fill(AUTHORIZE, world.substitutions())
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    hidden = dict(re.findall(r'name="(issued|signature)"\s+value="([^"]*)"', page.text))
    assert set(hidden) == {"issued", "signature"}, page.text
    before = await snapshot(roost)
    reply = await client.post("/oauth/authorize", data={
        **params, **hidden, "login": world.alice.email, "password": "wrong password"})
    assert reply.status_code == 401, reply.text
    assert reply.headers["content-type"].startswith("text/html")
    # A signed form whose fields were changed afterwards is refused too.
    reply = await client.post("/oauth/authorize", data={
        **params, **hidden, "scope": "read write", "login": world.alice.email,
        "password": world.alice.password})
    assert reply.status_code == 400, reply.text
    assert not changed(before, await snapshot(roost))


# --- the same request in every encoding gets the same answer ------------------------------


def encodings(fields: list[tuple[str, str]], as_json: Any) -> dict[str, dict[str, Any]]:
    body, content_type = multipart(fields)
    return {
        "query": {"params": fields},
        "form": {"data": fields_to_form(fields)},
        "json": {"json": as_json},
        "multipart": {"content": body, "headers": {"Content-Type": content_type}},
    }


def fields_to_form(fields: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {}
    for key, value in fields:
        existing = form.get(key)
        if existing is None:
            form[key] = value
        else:
            form[key] = [*([existing] if isinstance(existing, str) else existing), value]
    return form


async def _send_each(http: httpx.AsyncClient, method: str, path: str,
                     variants: dict[str, dict[str, Any]], token: str | None
                     ) -> dict[str, httpx.Response]:
    replies = {}
    for name, request in variants.items():
        headers = dict(request.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        replies[name] = await http.request(method, path, headers=headers, **request)
    return replies


async def test_post_status_same_answer_in_every_encoding(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], world: World
) -> None:
    _, roost = app_roost
    before = await snapshot(roost)
    bad = encodings([("status", "hi"), ("visibility", "bogus")],
                    {"status": "hi", "visibility": "bogus"})
    replies = await _send_each(client, "POST", "/api/v1/statuses", bad, world.alice.token)
    assert {n: r.status_code for n, r in replies.items()} == dict.fromkeys(bad, 422)
    assert len({r.json()["error"] for r in replies.values()}) == 1, replies
    assert not changed(before, await snapshot(roost))

    good = encodings(
        [("status", "encoded"), ("visibility", "unlisted"), ("sensitive", "true"),
         ("spoiler_text", "cw"), ("in_reply_to_id", world.status), ("language", "en")],
        {"status": "encoded", "visibility": "unlisted", "sensitive": True,
         "spoiler_text": "cw", "in_reply_to_id": int(world.status), "language": "en"})
    replies = await _send_each(client, "POST", "/api/v1/statuses", good, world.alice.token)
    seen = set()
    for name, reply in replies.items():
        assert reply.status_code == 200, (name, reply.text)
        body = reply.json()
        seen.add((body["visibility"], body["sensitive"], body["spoiler_text"],
                  body["in_reply_to_id"], body["language"], body["content"]))
    assert seen == {("unlisted", True, "cw", world.status, "en", "<p>encoded</p>")}
    for reply in replies.values():
        deleted = await client.delete(f"/api/v1/statuses/{reply.json()['id']}",
                                      headers=world.alice.headers)
        assert deleted.status_code == 200, deleted.text


async def test_register_app_same_answer_in_every_encoding(client: httpx.AsyncClient) -> None:
    bad = encodings([("client_name", "enc"), ("scopes", "read bogus"),
                     ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob")],
                    {"client_name": "enc", "scopes": "read bogus",
                     "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"})
    replies = await _send_each(client, "POST", "/api/v1/apps", bad, None)
    assert {n: r.status_code for n, r in replies.items()} == dict.fromkeys(bad, 422)
    assert len({r.json()["error"] for r in replies.values()}) == 1

    good = encodings([("client_name", "enc"), ("scopes", "read write"),
                      ("redirect_uris[]", "https://a.example/cb"),
                      ("redirect_uris[]", "urn:ietf:wg:oauth:2.0:oob")],
                     {"client_name": "enc", "scopes": "read write",
                      "redirect_uris": ["https://a.example/cb", "urn:ietf:wg:oauth:2.0:oob"]})
    replies = await _send_each(client, "POST", "/api/v1/apps", good, None)
    for name, reply in replies.items():
        assert reply.status_code == 200, (name, reply.text)
        body = reply.json()
        assert body["scopes"] == ["read", "write"], (name, body)
        assert body["redirect_uris"] == ["https://a.example/cb", "urn:ietf:wg:oauth:2.0:oob"]


async def test_update_credentials_same_answer_in_every_encoding(
    client: httpx.AsyncClient, world: World
) -> None:
    fields = [("display_name", "Encoded"), ("source[privacy]", "unlisted"),
              ("fields_attributes[0][name]", "site"), ("fields_attributes[0][value]", "x.test"),
              ("fields_attributes[1][name]", "pronouns"), ("fields_attributes[1][value]", "they")]
    shapes = {
        "json-hash": {"display_name": "Encoded", "source": {"privacy": "unlisted"},
                      "fields_attributes": {"0": {"name": "site", "value": "x.test"},
                                            "1": {"name": "pronouns", "value": "they"}}},
        "json-list": {"display_name": "Encoded", "source": {"privacy": "unlisted"},
                      "fields_attributes": [{"name": "site", "value": "x.test"},
                                            {"name": "pronouns", "value": "they"}]},
    }
    variants = encodings(fields, shapes["json-hash"])
    variants["json-list"] = {"json": shapes["json-list"]}
    replies = await _send_each(client, "PATCH", "/api/v1/accounts/update_credentials", variants,
                               world.bob.token)
    for name, reply in replies.items():
        assert reply.status_code == 200, (name, reply.text)
        body = reply.json()
        assert body["display_name"] == "Encoded", name
        assert body["source"]["privacy"] == "unlisted", name
        assert [(f["name"], f["value"]) for f in body["source"]["fields"]] == [
            ("site", "x.test"), ("pronouns", "they")], name
        assert [f["name"] for f in body["fields"]] == ["site", "pronouns"], name


# --- accepted, not errors: bracket arrays and clamped limits -----------------------------


async def test_bracket_arrays_and_scalars(client: httpx.AsyncClient, world: World) -> None:
    reply = await client.get("/api/v1/accounts/relationships",
                             params=[("id[]", world.alice.id), ("id[]", world.bob.id)],
                             headers=world.alice.headers)
    assert reply.status_code == 200, reply.text
    assert [r["id"] for r in reply.json()] == [world.alice.id, world.bob.id]
    reply = await client.get("/api/v1/accounts/relationships", params={"id": world.bob.id},
                             headers=world.alice.headers)
    assert [r["id"] for r in reply.json()] == [world.bob.id]
    # Ids that cannot be ids are simply not found, as in Mastodon.
    reply = await client.get("/api/v1/accounts/relationships",
                             params=[("id[]", "abc"), ("id[]", world.bob.id), ("id[]", "-1")],
                             headers=world.alice.headers)
    assert reply.status_code == 200, reply.text
    assert [r["id"] for r in reply.json()] == [world.bob.id]
    reply = await client.get("/api/v1/statuses",
                             params=[("id[]", world.status), ("id[]", world.bob_status),
                                     ("id[]", "nonsense"), ("id[]", NO_SUCH_ID)])
    assert reply.status_code == 200, reply.text
    assert [s["id"] for s in reply.json()] == [world.status, world.bob_status]


@pytest.mark.parametrize(("limit", "most"), [("99999", 40), ("-5", 5), ("41", 40), ("", 20)])
async def test_limits_clamp(client: httpx.AsyncClient, world: World, limit: str,
                            most: int) -> None:
    for _ in range(2):
        await post_status(client, world.alice, f"limit {limit}")
    for path in ("/api/v1/timelines/home", f"/api/v1/accounts/{world.alice.id}/statuses"):
        reply = await client.get(path, params={"limit": limit}, headers=world.alice.headers)
        assert reply.status_code == 200, reply.text
        assert 1 <= len(reply.json()) <= most
    reply = await client.get(f"/api/v1/accounts/{world.alice.id}/followers",
                             params={"limit": limit})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("key", ["²", "9" * 5000, "x", "-1"])
async def test_odd_field_keys_are_accepted(client: httpx.AsyncClient, world: World,
                                           key: str) -> None:
    """Rails-style hash keys only order the fields; any key is harmless."""
    reply = await client.patch("/api/v1/accounts/update_credentials", headers=world.bob.headers,
                               data={f"fields_attributes[{key}][name]": "odd",
                                     f"fields_attributes[{key}][value]": key[:10],
                                     "fields_attributes[1][name]": "one"})
    assert reply.status_code == 200, reply.text
    assert sorted(f["name"] for f in reply.json()["source"]["fields"]) == ["odd", "one"]
