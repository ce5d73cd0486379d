"""Short-hands for driving the API over HTTP in tests (in-process or a real server)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

ALL = "read write follow push"


@dataclass
class App:
    client_id: str
    client_secret: str
    token: str  # a client_credentials token of the app


@dataclass
class User:
    id: str
    username: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


async def register_app(http: httpx.AsyncClient, scopes: str = ALL,
                       redirect_uris: str = "urn:ietf:wg:oauth:2.0:oob") -> App:
    reply = await http.post("/api/v1/apps", data={"client_name": "tests",
                                                  "redirect_uris": redirect_uris,
                                                  "scopes": scopes})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    token_reply = await http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": body["client_id"],
        "client_secret": body["client_secret"], "scope": scopes})
    assert token_reply.status_code == 200, token_reply.text
    return App(body["client_id"], body["client_secret"], token_reply.json()["access_token"])


async def sign_up(http: httpx.AsyncClient, app: App, username: str | None = None) -> User:
    username = username or unique_name()
    email = f"{username}@example.test"
    password = "correct horse battery"
    reply = await http.post("/api/v1/accounts", headers={"Authorization": f"Bearer {app.token}"},
                            data={"username": username, "email": email, "password": password,
                                  "agreement": "true", "locale": "en"})
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    me = await http.get("/api/v1/accounts/verify_credentials",
                        headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return User(me.json()["id"], username, email, password, token)


async def post_status(http: httpx.AsyncClient, user: User, text: str,
                      **fields: Any) -> dict[str, Any]:
    reply = await http.post("/api/v1/statuses", headers=user.headers,
                            data={"status": text, **fields})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def follow(http: httpx.AsyncClient, user: User, target: User) -> None:
    reply = await http.post(f"/api/v1/accounts/{target.id}/follow", headers=user.headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["following"] is True
