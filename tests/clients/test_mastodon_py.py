"""The real Mastodon.py client drives the foundation slice against a running server,
on both databases: apps, instance info, sign-up, log-in (password and the OAuth code
flow, with and without PKCE), profiles, posting, threads, follows and the home
timeline with every way of paging it, and the errors a client sees for bad input.

Mastodon.py does not do PKCE itself, so that flow fills in the authorize page the way
a browser would (httpx) and exchanges the code with a plain POST to /oauth/token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
)

from tests.support.events import httpx_hook, requests_hook
from tests.support.server import RunningServer

SCOPES = ["read", "write", "follow", "push"]
PASSWORD = "correct horse battery staple"
OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "http://127.0.0.1:9/callback"


# --- helpers ----------------------------------------------------------------------------


@dataclass
class AppCredentials:
    client_id: str
    client_secret: str


@dataclass
class Person:
    api: Mastodon
    id: str
    username: str
    email: str


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def new_app(server: RunningServer, scopes: list[str] = SCOPES,
            redirect_uris: str | list[str] | None = None) -> AppCredentials:
    client_id, client_secret = Mastodon.create_app(
        unique("mastopy"), scopes=scopes, redirect_uris=redirect_uris, api_base_url=server.url
    )
    return AppCredentials(client_id, client_secret)


def settling_session(server: RunningServer) -> requests.Session:
    """A requests session that, after every write, waits for the server's event log to
    catch up (counters and notifications follow a write a moment later)."""
    session = requests.Session()
    session.hooks["response"].append(requests_hook(server.effective_database_url))
    return session


def client(server: RunningServer, app: AppCredentials, token: str | None = None) -> Mastodon:
    return Mastodon(client_id=app.client_id, client_secret=app.client_secret,
                    access_token=token, api_base_url=server.url,
                    session=settling_session(server))


def sign_up(server: RunningServer, app: AppCredentials, prefix: str = "user") -> Person:
    username = unique(prefix)
    email = f"{username}@example.test"
    api = client(server, app)
    token = api.create_account(username, PASSWORD, email, agreement=True)
    assert isinstance(token, str) and token
    me = api.account_verify_credentials()
    assert me.username == username
    return Person(api, str(me.id), username, email)


def error_status(exc: pytest.ExceptionInfo[MastodonAPIError]) -> int:
    # Mastodon.py raises with ('Mastodon API returned error', status, reason, message).
    return int(exc.value.args[1])


def ids(page: list[Any]) -> list[int]:
    return [int(item.id) for item in page]


@pytest.fixture
def app(server: RunningServer) -> AppCredentials:
    return new_app(server)


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30,
                      event_hooks={"response": [httpx_hook(server.effective_database_url)]}
                      ) as session:
        yield session


# --- the authorize page, as a browser fills it in ---------------------------------------


class _FormReader(HTMLParser):
    """The hidden inputs of the authorize form, and the code on the out-of-band page."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.code: str | None = None
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.hidden[str(attributes["name"])] = attributes.get("value") or ""
        if tag == "code" and attributes.get("id") == "authorization-code":
            self._in_code = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False

    def handle_data(self, data: str) -> None:
        if self._in_code and data.strip():
            self.code = data.strip()


def read_page(html: str) -> _FormReader:
    reader = _FormReader()
    reader.feed(html)
    return reader


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def authorize_url(server: RunningServer, app: AppCredentials, redirect_uri: str, state: str,
                  challenge: str | None = None, scopes: list[str] = SCOPES) -> str:
    """Mastodon.py builds the URL (it finds the endpoint through RFC 8414); PKCE is
    appended by hand since the library does not do it."""
    url: str = client(server, app).auth_request_url(
        redirect_uris=redirect_uri, scopes=scopes, state=state, allow_http=True
    )
    assert url.startswith(f"{server.url}/oauth/authorize?")
    if challenge is not None:
        url += "&" + urlencode({"code_challenge": challenge, "code_challenge_method": "S256"})
    return url


def submit_authorize(http: httpx.Client, url: str, person: Person | None,
                     decision: str = "approve", login: str | None = None) -> httpx.Response:
    page = http.get(url)
    assert page.status_code == 200, page.text
    form = read_page(page.text).hidden
    assert {"client_id", "redirect_uri", "issued", "signature"} <= form.keys(), form
    form["decision"] = decision
    if person is not None:
        form["login"] = login or person.email
        form["password"] = PASSWORD
    return http.post("/oauth/authorize", data=form)


def exchange(http: httpx.Client, app: AppCredentials, code: str, redirect_uri: str,
             verifier: str | None) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": app.client_id, "client_secret": app.client_secret}
    if verifier is not None:
        data["code_verifier"] = verifier
    return http.post("/oauth/token", data=data)


# --- apps, instance, accounts -----------------------------------------------------------


def test_app_registration_and_instance_info(server: RunningServer) -> None:
    app = new_app(server, redirect_uris=[OOB, CALLBACK])
    assert app.client_id and app.client_secret

    api = Mastodon(client_id=app.client_id, client_secret=app.client_secret,
                   api_base_url=server.url, version_check_mode="created")
    version = api.retrieve_mastodon_version()
    assert version.split(".")[0].isdigit()
    assert api.verify_minimum_version("4.0.0")
    assert api.mastodon_api_version >= 1

    v1 = api.instance_v1()
    assert v1.version.startswith(version)
    assert v1.urls.streaming_api.startswith("ws")
    v2 = api.instance_v2()
    assert v2.api_versions["mastodon"] == api.mastodon_api_version
    assert v2.configuration.urls.streaming.startswith("ws")
    latest = api.instance()
    assert latest.domain == v2.domain
    assert latest.configuration.statuses.max_characters >= 500

    info = api.oauth_authorization_server_info()
    assert "password" in info.grant_types_supported
    assert "S256" in info.code_challenge_methods_supported


def test_sign_up_and_password_log_in(server: RunningServer, app: AppCredentials) -> None:
    person = sign_up(server, app)
    me = person.api.account_verify_credentials()
    assert me.id == person.id and me.acct == person.username
    assert me.source.privacy == "public"

    by_email = client(server, app)
    token = by_email.log_in(username=person.email, password=PASSWORD, allow_http=True)
    assert token and token != person.api.access_token
    assert by_email.account_verify_credentials().id == person.id

    by_username = client(server, app)
    by_username.log_in(username=person.username, password=PASSWORD, allow_http=True)
    assert by_username.account_verify_credentials().id == person.id

    wrong = client(server, app)
    with pytest.raises(MastodonIllegalArgumentError, match="Invalid user name, password"):
        wrong.log_in(username=person.email, password="not the password", allow_http=True)


def test_update_credentials(server: RunningServer, app: AppCredentials) -> None:
    person = sign_up(server, app)
    updated = person.api.account_update_credentials(
        display_name="Ada Lovelace",
        note="Analyst & <engine> fan",
        locked=True,
        bot=True,
        discoverable=True,
        fields=[("Site", "https://example.com"), ("Pronouns", "she/her")],
    )
    assert updated.display_name == "Ada Lovelace"
    assert updated.locked is True and updated.bot is True and updated.discoverable is True
    assert "&lt;engine&gt;" in updated.note
    assert updated.source.note == "Analyst & <engine> fan"

    me = person.api.account_verify_credentials()
    assert me.display_name == "Ada Lovelace"
    assert me.locked is True and me.bot is True and me.discoverable is True
    assert [(f.name, f.value) for f in me.source.fields] == [
        ("Site", "https://example.com"), ("Pronouns", "she/her")]
    assert [f.name for f in me.fields] == ["Site", "Pronouns"]
    assert 'href="https://example.com"' in me.fields[0].value

    public = sign_up(server, app).api.account(person.id)
    assert public.display_name == "Ada Lovelace" and public.bot is True
    assert public.get("source") is None

    # Unsetting works too; Mastodon.py sends nothing for fields=[], so one blank pair
    # is how it clears them.
    again = person.api.account_update_credentials(locked=False, bot=False, display_name="",
                                                  fields=[("", "")])
    assert again.locked is False and again.bot is False and again.display_name == ""
    assert again.fields == [] and again.source.fields == []

    # Posting defaults (source[...]) apply to statuses posted without them.
    prefs = person.api.account_update_credentials(default_privacy="private",
                                                  default_language="de")
    assert prefs.source.privacy == "private" and prefs.source.language == "de"
    posted = person.api.status_post("Guten Tag")
    assert posted.visibility == "private"
    assert posted.language == "de"
    assert person.api.status_post("Hello", visibility="public", language="en").language == "en"


# --- OAuth code flow --------------------------------------------------------------------


def test_code_flow_with_pkce_out_of_band(server: RunningServer, http: httpx.Client) -> None:
    app = new_app(server)
    person = sign_up(server, app)
    verifier, challenge = pkce_pair()
    url = authorize_url(server, app, OOB, state="s1", challenge=challenge)

    page = http.get(url)
    assert page.status_code == 200
    hidden = read_page(page.text).hidden
    assert hidden["code_challenge"] == challenge
    assert hidden["code_challenge_method"] == "S256"
    assert hidden["issued"] and hidden["signature"]

    shown = submit_authorize(http, url, person, login=person.username)
    assert shown.status_code == 200, shown.text
    code = read_page(shown.text).code
    assert code

    wrong = exchange(http, app, code, OOB, "x" * 43)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"

    # A fresh code (the wrong verifier may have burnt the first one), the right verifier.
    code = read_page(submit_authorize(http, url, person).text).code
    assert code
    missing = exchange(http, app, code, OOB, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"

    code = read_page(submit_authorize(http, url, person).text).code
    assert code
    granted = exchange(http, app, code, OOB, verifier)
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["token_type"] == "Bearer"
    assert set(body["scope"].split()) == set(SCOPES)

    again = exchange(http, app, code, OOB, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    api = client(server, app, body["access_token"])
    assert api.account_verify_credentials().id == person.id
    posted = api.status_post("posted with a PKCE token")
    assert posted.account.id == person.id


def test_code_flow_with_redirect_state_and_deny(server: RunningServer,
                                                http: httpx.Client) -> None:
    app = new_app(server, redirect_uris=[CALLBACK, OOB])
    person = sign_up(server, app)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    url = authorize_url(server, app, CALLBACK, state=state, challenge=challenge)

    approved = submit_authorize(http, url, person)
    assert approved.status_code == 302, approved.text
    location = urlsplit(approved.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == [state]
    (code,) = query["code"]

    granted = exchange(http, app, code, CALLBACK, verifier)
    assert granted.status_code == 200, granted.text
    api = client(server, app, granted.json()["access_token"])
    assert api.account_verify_credentials().username == person.username

    second = exchange(http, app, code, CALLBACK, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"

    denied = submit_authorize(http, url, None, decision="deny")
    assert denied.status_code == 302
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == [state]
    assert "code" not in query

    bad_password = http.get(url)
    form = read_page(bad_password.text).hidden
    rejected = http.post("/oauth/authorize", data={**form, "decision": "approve",
                                                   "login": person.email, "password": "nope"})
    assert rejected.status_code == 401
    assert "location" not in rejected.headers

    # The code must be redeemed with the redirect URI it was issued for; the client may
    # authenticate with HTTP Basic instead of form fields.
    code = parse_qs(urlsplit(submit_authorize(http, url, person).headers["location"]).query
                    )["code"][0]
    mismatch = exchange(http, app, code, OOB, verifier)
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_grant"
    code = parse_qs(urlsplit(submit_authorize(http, url, person).headers["location"]).query
                    )["code"][0]
    basic = http.post("/oauth/token", auth=(app.client_id, app.client_secret),
                      data={"grant_type": "authorization_code", "code": code,
                            "redirect_uri": CALLBACK, "code_verifier": verifier})
    assert basic.status_code == 200, basic.text

    # A narrower scope than the app's is granted as asked, and echoed.
    narrow_url = authorize_url(server, app, CALLBACK, state=state, challenge=challenge,
                               scopes=["read"])
    code = parse_qs(urlsplit(submit_authorize(http, narrow_url, person).headers["location"]
                             ).query)["code"][0]
    narrow = exchange(http, app, code, CALLBACK, verifier)
    assert narrow.status_code == 200 and narrow.json()["scope"] == "read"
    reader = client(server, app, narrow.json()["access_token"])
    assert reader.timeline_home() == []
    with pytest.raises(MastodonAPIError) as refused:
        reader.status_post("read-only")
    assert error_status(refused) == 403

    # Another app cannot redeem this app's code, even with the right verifier.
    code = parse_qs(urlsplit(submit_authorize(http, url, person).headers["location"]).query
                    )["code"][0]
    thief = new_app(server, redirect_uris=CALLBACK)
    stolen = exchange(http, thief, code, CALLBACK, verifier)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"

    # The form is signed: changing what was shown (here the PKCE challenge) is refused.
    form = read_page(http.get(url).text).hidden
    tampered = http.post("/oauth/authorize", data={
        **form, "code_challenge": pkce_pair()[1], "decision": "approve",
        "login": person.email, "password": PASSWORD})
    assert tampered.status_code == 400 and "location" not in tampered.headers

    plain = http.get(authorize_url(server, app, CALLBACK, state=state)
                     + "&code_challenge=abc&code_challenge_method=plain")
    assert plain.status_code == 400
    greedy = http.get(authorize_url(server, app, CALLBACK, state=state, scopes=["admin:read"]))
    assert greedy.status_code == 400

    unregistered = http.get(authorize_url(server, app, "http://127.0.0.1:9/elsewhere",
                                          state=state))
    assert unregistered.status_code == 400


def test_code_flow_without_pkce_through_log_in(server: RunningServer,
                                               http: httpx.Client) -> None:
    app = new_app(server)
    person = sign_up(server, app)
    url = authorize_url(server, app, OOB, state="plain")
    code = read_page(submit_authorize(http, url, person).text).code
    assert code

    api = client(server, app)
    token = api.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)
    assert token
    assert api.account_verify_credentials().id == person.id
    assert api.app_verify_credentials().name == api.app_verify_credentials()["name"]

    reused = client(server, app)
    with pytest.raises(MastodonIllegalArgumentError, match="Invalid access token or redirect_uris"):
        reused.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)


def test_revoke(server: RunningServer, app: AppCredentials, http: httpx.Client) -> None:
    person = sign_up(server, app)

    other = client(server, app)
    other.log_in(username=person.email, password=PASSWORD, allow_http=True)
    token = other.access_token
    assert token
    other.revoke_access_token(allow_http=True)
    with pytest.raises(MastodonUnauthorizedError):
        client(server, app, token).account_verify_credentials()

    # The plain POST a client without Mastodon.py sends, for the sign-up token.
    revoked = http.post("/oauth/revoke", data={"client_id": app.client_id,
                                               "client_secret": app.client_secret,
                                               "token": person.api.access_token})
    assert revoked.status_code == 200 and revoked.json() == {}
    with pytest.raises(MastodonUnauthorizedError):
        person.api.account_verify_credentials()

    # Other apps cannot revoke a token they did not issue.
    third = client(server, app)
    third.log_in(username=person.email, password=PASSWORD, allow_http=True)
    stranger = new_app(server)
    http.post("/oauth/revoke", data={"client_id": stranger.client_id,
                                     "client_secret": stranger.client_secret,
                                     "token": third.access_token})
    assert third.account_verify_credentials().id == person.id


# --- posting ----------------------------------------------------------------------------


def test_post_read_thread_and_delete(server: RunningServer, app: AppCredentials) -> None:
    alice = sign_up(server, app, "alice")
    bob = sign_up(server, app, "bob")

    root = alice.api.status_post("The root of a small thread", visibility="unlisted",
                                 spoiler_text="thread", sensitive=True, language="en")
    assert root.visibility == "unlisted"
    assert root.spoiler_text == "thread" and root.sensitive is True
    assert root.language == "en"
    assert root.account.id == alice.id
    assert "The root of a small thread" in root.content

    reply = bob.api.status_post("A reply", in_reply_to_id=root)
    assert reply.in_reply_to_id == root.id
    assert reply.in_reply_to_account_id == alice.id
    nested = alice.api.status_post("A reply to the reply", in_reply_to_id=reply.id)

    fetched = bob.api.status(root.id)
    assert fetched.id == root.id and fetched.replies_count == 1
    assert fetched.created_at == root.created_at

    middle = alice.api.status_context(reply)
    assert [s.id for s in middle.ancestors] == [root.id]
    assert [s.id for s in middle.descendants] == [nested.id]
    top = bob.api.status_context(root.id)
    assert top.ancestors == []
    assert [s.id for s in top.descendants] == [reply.id, nested.id]

    batch = bob.api.statuses([nested.id, root.id, "999999999999"])
    assert [s.id for s in batch] == [nested.id, root.id]
    answer = bob.api.status_reply(nested, "replying the Mastodon.py way")
    assert answer.in_reply_to_id == nested.id
    # status_reply adds the @mention, which links to the account (tests/api/test_content.py).
    assert answer.content.startswith('<p><span class="h-card" translate="no">')
    assert f"@<span>{alice.username}</span></a></span> replying" in answer.content
    assert [str(m.id) for m in answer.mentions] == [str(alice.id)]
    bob.api.status_delete(answer)

    deleted = alice.api.status_delete(nested)
    assert deleted.id == nested.id
    assert deleted.text == "A reply to the reply"
    with pytest.raises(MastodonNotFoundError):
        bob.api.status(nested.id)
    assert bob.api.status_context(reply.id).descendants == []

    # Someone else's status cannot be deleted (and is not revealed as existing).
    with pytest.raises(MastodonNotFoundError):
        bob.api.status_delete(root.id)
    assert alice.api.status(root.id).id == root.id


def test_account_statuses_paging_and_content(server: RunningServer,
                                              app: AppCredentials) -> None:
    author = sign_up(server, app, "author")
    reader = sign_up(server, app, "reader")
    posts = [author.api.status_post(f"post {n}") for n in range(5)]
    theirs = reader.api.status_post("a post to answer")
    replies = [author.api.status_post(f"reply {n}", in_reply_to_id=theirs) for n in range(2)]
    own_thread = author.api.status_post("a self-reply continues a thread",
                                        in_reply_to_id=posts[-1])
    posts.append(own_thread)

    page = reader.api.account_statuses(author.id, limit=3)
    assert [s.id for s in reader.api.fetch_remaining(page)] == [
        s.id for s in sorted(posts + replies, key=lambda s: int(s.id), reverse=True)]
    # Link headers keep the filter, so every page leaves out the replies to others
    # (self-replies stay, as in Mastodon).
    page = reader.api.account_statuses(author.id, exclude_replies=True, limit=2)
    assert [s.id for s in reader.api.fetch_remaining(page)] == [s.id for s in reversed(posts)]
    assert reader.api.account(author.id).statuses_count == 8

    markup = author.api.status_post(
        "<script>alert(1)</script> & friends\n\nsee https://example.org/a?b=1")
    assert "<script>" not in markup.content
    assert "&lt;script&gt;" in markup.content
    assert 'href="https://example.org/a?b=1"' in markup.content
    assert markup.content.count("<p>") == 2
    assert reader.api.status(markup.id).content == markup.content


def test_idempotency_key(server: RunningServer, app: AppCredentials) -> None:
    alice = sign_up(server, app, "alice")
    bob = sign_up(server, app, "bob")
    key = secrets.token_hex(16)
    first = alice.api.status_post("posted once, sent twice", idempotency_key=key)
    second = alice.api.status_post("posted once, sent twice", idempotency_key=key)
    assert second.id == first.id
    assert alice.api.account_verify_credentials().statuses_count == 1

    # The key belongs to the account: another account's post with it is its own.
    other = bob.api.status_post("same key, other account", idempotency_key=key)
    assert other.id != first.id
    assert alice.api.status_post("a new key", idempotency_key=key + "x").id != first.id


# --- follows ----------------------------------------------------------------------------


def test_follow_relationships_and_lists(server: RunningServer, app: AppCredentials) -> None:
    star = sign_up(server, app, "star")
    fans = [sign_up(server, app, "fan") for _ in range(5)]
    for fan in fans:
        relationship = fan.api.account_follow(star.id)
        assert relationship.following is True and relationship.id == star.id

    first_fan = fans[0]
    (rel,) = first_fan.api.account_relationships(star.id)
    assert rel.following is True and rel.followed_by is False
    (back,) = star.api.account_relationships([first_fan.id])
    assert back.following is False and back.followed_by is True

    star_now = star.api.account(star.id)
    assert star_now.followers_count == 5 and star_now.following_count == 0
    assert first_fan.api.account_verify_credentials().following_count == 1

    page = first_fan.api.account_followers(star.id, limit=2)
    seen: list[str] = []
    pages = 0
    while page:
        assert len(page) <= 2
        seen.extend(account.id for account in page)
        pages += 1
        page = first_fan.api.fetch_next(page)
    assert pages == 3
    # Newest follower first, every one exactly once.
    assert seen == [fan.id for fan in reversed(fans)]
    assert [a.id for a in star.api.fetch_remaining(star.api.account_followers(star.id, limit=4))
            ] == seen

    found = first_fan.api.account_lookup(star.username)
    assert found.id == star.id
    rels = first_fan.api.account_relationships([star.id, fans[1].id, "999999999999"])
    assert {r.id: r.following for r in rels} == {star.id: True, fans[1].id: False}
    assert [a.id for a in first_fan.api.accounts([star.id, fans[1].id])] == [star.id, fans[1].id]

    following = first_fan.api.account_following(first_fan.id)
    assert [account.id for account in following] == [star.id]
    assert star.api.account_following(star.id) == []

    # Following again changes only the options given.
    quiet = first_fan.api.account_follow(star.id, reblogs=False, notify=True)
    assert quiet.following is True
    assert quiet.showing_reblogs is False and quiet.notifying is True
    (still,) = first_fan.api.account_relationships(star.id)
    assert still.showing_reblogs is False and still.notifying is True
    assert star.api.account(star.id).followers_count == 5

    posted = star.api.status_post("something to read")
    assert [s.id for s in first_fan.api.account_statuses(star.id)] == [posted.id]

    after = first_fan.api.account_unfollow(star.id)
    assert after.following is False
    assert [a.id for a in star.api.fetch_remaining(star.api.account_followers(star.id, limit=2))
            ] == [fan.id for fan in reversed(fans[1:])]
    assert star.api.account(star.id).followers_count == 4


# --- the home timeline ------------------------------------------------------------------


def test_home_timeline_paging(server: RunningServer, app: AppCredentials) -> None:
    author = sign_up(server, app, "author")
    reader = sign_up(server, app, "reader")
    reader.api.account_follow(author.id)
    posted = [int(author.api.status_post(f"status number {n}").id) for n in range(45)]
    newest_first = sorted(posted, reverse=True)
    assert newest_first == posted[::-1]  # ids sort by time

    # Backwards through Link rel="next" until the end.
    walked: list[int] = []
    page = reader.api.timeline_home(limit=20)
    sizes = []
    while page:
        sizes.append(len(page))
        walked.extend(ids(page))
        page = reader.api.fetch_next(page)
    assert sizes == [20, 20, 5]
    assert walked == newest_first
    assert len(set(walked)) == len(walked)

    # min_id walks forward: the items immediately newer than it, newest first.
    oldest = newest_first[-1]
    forward = reader.api.timeline_home(min_id=oldest, limit=20)
    assert ids(forward) == newest_first[-21:-1]
    collected = ids(forward)
    page = reader.api.fetch_previous(forward)
    while page:
        assert ids(page) == sorted(ids(page), reverse=True)
        collected = ids(page) + collected
        page = reader.api.fetch_previous(page)
    assert collected == newest_first[:-1]

    # since_id: the newest items above it (possibly leaving a gap).
    since = reader.api.timeline_home(since_id=oldest, limit=20)
    assert ids(since) == newest_first[:20]
    assert reader.api.timeline_home(since_id=newest_first[0]) == []

    # max_id and min_id together bound a window.
    window = reader.api.timeline_home(max_id=newest_first[10], min_id=newest_first[15])
    assert ids(window) == newest_first[11:15]


def test_home_drops_unfollowed_and_deleted(server: RunningServer, app: AppCredentials) -> None:
    reader = sign_up(server, app, "reader")
    kept = sign_up(server, app, "kept")
    dropped = sign_up(server, app, "dropped")
    reader.api.account_follow(kept.id)
    reader.api.account_follow(dropped.id)
    own = reader.api.status_post("my own post")
    stays = kept.api.status_post("this stays")
    goes = dropped.api.status_post("this goes with the unfollow")
    deleted = kept.api.status_post("this is deleted")

    home = reader.api.timeline_home()
    assert [s.id for s in home] == [deleted.id, goes.id, stays.id, own.id]

    kept.api.status_delete(deleted)
    reader.api.account_unfollow(dropped.id)
    home = reader.api.timeline_home()
    assert [s.id for s in home] == [stays.id, own.id]
    # The unfollowed account's status itself is still there, just not at home.
    assert reader.api.status(goes.id).id == goes.id


# --- bad input and visibility -----------------------------------------------------------


def test_bad_input_through_the_client(server: RunningServer, app: AppCredentials) -> None:
    person = sign_up(server, app)

    with pytest.raises(MastodonAPIError) as empty:
        person.api.status_post("")
    assert error_status(empty) == 422
    with pytest.raises(MastodonAPIError) as blank:
        person.api.status_post("   \n  ")
    assert error_status(blank) == 422
    with pytest.raises(MastodonAPIError) as too_long:
        person.api.status_post("x" * 501)
    assert error_status(too_long) == 422
    assert person.api.status_post("x" * 500).id

    with pytest.raises(MastodonNotFoundError):
        person.api.status("999999999999")
    with pytest.raises(MastodonNotFoundError):
        person.api.status("not-an-id")
    with pytest.raises(MastodonNotFoundError):
        person.api.status_post("a reply to nothing", in_reply_to_id="999999999999")
    with pytest.raises(MastodonNotFoundError):
        person.api.account("999999999999")
    with pytest.raises(MastodonNotFoundError):
        person.api.account_follow("999999999999")

    with pytest.raises(MastodonUnauthorizedError):
        client(server, app, "not-a-real-token").account_verify_credentials()
    with pytest.raises(MastodonUnauthorizedError):
        client(server, app, "not-a-real-token").timeline_home()

    taken = client(server, app)
    with pytest.raises(MastodonIllegalArgumentError, match="taken"):
        taken.create_account(person.username, PASSWORD, f"other_{person.email}",
                             agreement=True)
    _, details = taken.create_account(unique("user"), "short", "not-an-email",
                                      agreement=False, return_detailed_error=True)
    assert {"password", "email", "agreement"} <= set(details.details)


def test_read_only_token_cannot_post(server: RunningServer) -> None:
    full = new_app(server)
    person = sign_up(server, full)
    reader_app = new_app(server, scopes=["read"])
    api = client(server, reader_app)
    api.log_in(username=person.email, password=PASSWORD, scopes=["read"], allow_http=True)
    assert api.account_verify_credentials().id == person.id
    assert api.timeline_home() == []
    with pytest.raises(MastodonAPIError) as refused:
        api.status_post("not allowed")
    assert error_status(refused) == 403
    with pytest.raises(MastodonAPIError) as no_follow:
        api.account_follow(person.id)
    assert error_status(no_follow) == 403

    # Asking for more than the app registered is refused outright.
    greedy = client(server, reader_app)
    with pytest.raises(MastodonIllegalArgumentError, match="Invalid user name, password"):
        greedy.log_in(username=person.email, password=PASSWORD, scopes=["read", "write"],
                      allow_http=True)


def test_private_and_direct_visibility(server: RunningServer, app: AppCredentials) -> None:
    author = sign_up(server, app, "author")
    follower = sign_up(server, app, "follower")
    stranger = sign_up(server, app, "stranger")
    follower.api.account_follow(author.id)

    private = author.api.status_post("followers only", visibility="private")
    direct = author.api.status_post("nobody mentioned", visibility="direct")
    public = author.api.status_post("for everyone")

    assert follower.api.status(private.id).visibility == "private"
    with pytest.raises(MastodonNotFoundError):
        stranger.api.status(private.id)
    with pytest.raises(MastodonNotFoundError):
        Mastodon(api_base_url=server.url).status(private.id)
    for viewer in (follower, stranger):
        with pytest.raises(MastodonNotFoundError):
            viewer.api.status(direct.id)
    assert author.api.status(direct.id).visibility == "direct"

    assert [s.id for s in stranger.api.account_statuses(author.id)] == [public.id]
    assert [s.id for s in follower.api.account_statuses(author.id)] == [public.id, private.id]
    assert [s.id for s in follower.api.timeline_home()] == [public.id, private.id]
    with pytest.raises(MastodonNotFoundError):
        stranger.api.status_context(private.id)
    reply = follower.api.status_post("a public reply to a private post",
                                     in_reply_to_id=private.id)
    assert stranger.api.status_context(reply.id).ancestors == []
