"""toot, the terminal Mastodon client (PyPI `toot`), against a real server on both
databases: it logs in with `login_cli` (the password grant), then posts, reads the
home timeline (with a followed account's post), notifications, a thread, favourites,
its lists and followed tags, and searches and follows by name.

toot runs as a subprocess, exactly as a person runs it, with HOME and XDG_CONFIG_HOME
in a scratch directory (its config file there holds the app and the token). Its
`--json` options print what the server answered, which the tests read. The other
side of each conversation (a second account that posts, likes and mentions) is
Mastodon.py, whose session waits for the server's event log after every write; after
a toot write the tests wait with `server.settle()`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients.test_mastodon_py import PASSWORD, Person, new_app, sign_up
from tests.support.server import RunningServer

TIMEOUT_S = 60


@dataclass
class Toot:
    """toot's command line, logged in as `person`."""

    server: RunningServer
    home: Path
    person: Person

    def run(self, *args: str) -> str:
        env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "COLUMNS": "100",
        }
        env.pop("TOOT_TESTING", None)  # toot refuses to read its config when it is set
        done = subprocess.run(
            [sys.executable, "-m", "toot", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, (
            f"toot {' '.join(args)} exited with {done.returncode}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}\n"
            f"server log:\n{self.server.log()[-3000:]}"
        )
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json"))

    def write(self, *args: str) -> Any:
        """A command that changes something, then a wait for what it causes."""
        output = self.json(*args)
        self.server.settle()
        return output


@pytest.fixture(scope="module")
def toot(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Toot:
    person = sign_up(server, new_app(server), "tootuser")
    runner = Toot(server, tmp_path_factory.mktemp("toot-home"), person)
    output = runner.run(
        "login_cli", "--instance", server.url, "--email", person.email, "--password", PASSWORD
    )
    assert "Successfully logged in" in output
    return runner


@pytest.fixture
def friend(server: RunningServer) -> Person:
    return sign_up(server, new_app(server), "friend")


def test_login_cli_keeps_the_app_and_the_token_in_its_config(toot: Toot) -> None:
    instance = toot.server.url.split("://", 1)[1]
    config = json.loads((toot.home / "config" / "toot" / "config.json").read_text())
    assert config["active_user"] == f"{toot.person.username}@{instance}"
    assert config["apps"][instance]["base_url"] == toot.server.url
    assert toot.person.username in toot.run("auth")
    me = toot.json("whoami")
    assert (me["id"], me["username"], me["acct"]) == (
        toot.person.id,
        toot.person.username,
        toot.person.username,
    )


def test_instance_is_described(toot: Toot) -> None:
    output = toot.run("instance")
    assert "Roost" in output
    assert "running Mastodon 4." in output


def test_post_then_read_it_in_home_with_a_followed_accounts_post(
    toot: Toot, friend: Person
) -> None:
    mine = toot.write("post", "hello from toot")
    assert mine["content"] == "<p>hello from toot</p>"
    assert mine["account"]["id"] == toot.person.id
    toot.person.api.account_follow(friend.id)
    theirs = friend.api.status_post("a friend's post")
    home = toot.json("timelines", "home")
    ids = [status["id"] for status in home]
    assert str(theirs.id) in ids and mine["id"] in ids
    assert ids.index(str(theirs.id)) < ids.index(mine["id"])  # newest first
    shown = toot.run("timeline", "--once")
    assert "hello from toot" in shown and "a friend's post" in shown


def test_post_with_options_and_read_the_thread(toot: Toot) -> None:
    root = toot.write(
        "post", "a root", "--visibility", "unlisted", "--spoiler-text", "cw", "--language", "en"
    )
    assert (root["visibility"], root["spoiler_text"], root["language"]) == ("unlisted", "cw", "en")
    reply = toot.write("post", "a reply", "--reply-to", root["id"])
    assert reply["in_reply_to_id"] == root["id"]
    thread = toot.json("thread", reply["id"])
    assert [status["id"] for status in thread["ancestors"]] == [root["id"]]
    assert toot.json("status", root["id"])["id"] == root["id"]


def test_favourite_a_friends_post(toot: Toot, friend: Person) -> None:
    post = friend.api.status_post("like me")
    liked = toot.write("favourite", str(post.id))
    assert liked["favourited"] is True
    assert friend.api.status(post.id).favourites_count == 1


def test_notifications_show_likes_and_mentions(toot: Toot, friend: Person) -> None:
    mine = toot.write("post", "notice me")
    friend.api.status_favourite(mine["id"])
    mention = friend.api.status_post(f"@{toot.person.username} hello there")
    notifications = toot.json("notifications")
    seen = {(n["type"], n["account"]["id"], n["status"]["id"]) for n in notifications}
    assert ("favourite", friend.id, mine["id"]) in seen
    assert ("mention", friend.id, str(mention.id)) in seen
    assert "hello there" in toot.run("notifications")


def test_lists_and_followed_tags_are_empty(toot: Toot) -> None:
    assert toot.json("lists", "list") == []
    assert toot.json("tags", "followed") == []


def test_search_finds_an_account_and_follow_uses_it(toot: Toot, friend: Person) -> None:
    found = toot.json("search", friend.username, "--type", "accounts")
    assert friend.id in [account["id"] for account in found["accounts"]]
    followed = toot.write("follow", friend.username)
    assert followed["following"] is True
    assert toot.person.api.account_relationships(friend.id)[0].following is True
