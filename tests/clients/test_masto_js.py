"""masto.js (npm `masto`, pinned in tests/clients/masto_js/package.json) against a real
server on both databases: tests/clients/masto_js/flows.mjs runs one flow per test
under Node.js and prints what it saw as JSON, which the test checks.

Flows: verify (token, credentials, v2 instance), home (post, then find it in the home
timeline), media (upload through POST /api/v2/media, post with it), notifications (a
second account likes and mentions; polled until both arrive) and streaming (the
WebSocket URL from the v2 instance, the user stream, an update for a new post).

`make install-dev` installs the package (`npm ci`). Without Node.js or the installed
package the tests are skipped, or fail under CI (tests/support/services.unavailable).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.clients.test_mastodon_py import Person, new_app, sign_up
from tests.support.server import RunningServer
from tests.support.services import unavailable

FLOWS_DIR = Path(__file__).parent / "masto_js"
TIMEOUT_S = 120


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js", "no `node` on PATH; masto.js needs Node.js 20 or later")
        raise AssertionError("unreachable")
    if not (FLOWS_DIR / "node_modules" / "masto" / "package.json").exists():
        unavailable(
            "masto.js",
            "tests/clients/masto_js/node_modules is missing: "
            "run `make install-dev` (npm ci --prefix tests/clients/masto_js)",
        )
    return node


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("masto-js") / "picture.png"
    Image.new("RGB", (64, 48), (200, 80, 40)).save(path)
    return path


@pytest.fixture(scope="module")
def people(server: RunningServer) -> tuple[Person, Person]:
    app = new_app(server)
    return sign_up(server, app, "mastojs"), sign_up(server, app, "mastojs_friend")


def run_flow(
    server: RunningServer, people: tuple[Person, Person], picture: Path, flow: str
) -> dict[str, Any]:
    node = _node()
    me, friend = people
    done = subprocess.run(
        [
            node,
            "flows.mjs",
            # name=value: a token may begin with "-", which Node's parseArgs would
            # otherwise take for an option (one token in 64 did, and the run failed).
            f"--url={server.url}",
            f"--token={me.api.access_token}",
            f"--other-token={friend.api.access_token}",
            f"--image={picture}",
            flow,
        ],
        cwd=FLOWS_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"node exited with {done.returncode}:\n{done.stderr}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[0])
    assert result["flow"] == flow
    assert result["ok"], (
        f"masto.js {flow} flow failed: {result['error']}\n"
        f"stderr:\n{done.stderr}\nserver log:\n{server.log()[-3000:]}"
    )
    return result


def test_verify_credentials_and_instance(
    server: RunningServer, people: tuple[Person, Person], picture: Path
) -> None:
    result = run_flow(server, people, picture, "verify")
    me = people[0]
    assert (result["id"], result["username"], result["acct"]) == (me.id, me.username, me.username)
    assert result["sourcePrivacy"] == "public"
    assert result["version"].startswith("4.")
    assert result["streaming"] == server.url.replace("http://", "ws://", 1)


def test_post_and_read_home(
    server: RunningServer, people: tuple[Person, Person], picture: Path
) -> None:
    result = run_flow(server, people, picture, "home")
    assert result["accountId"] == people[0].id
    assert "hello from masto.js" in result["content"]
    assert people[0].api.status(result["statusId"]).content == result["content"]


def test_post_with_an_uploaded_picture(
    server: RunningServer, people: tuple[Person, Person], picture: Path
) -> None:
    result = run_flow(server, people, picture, "media")
    assert result["type"] == "image"
    assert result["description"] == "a test picture"
    assert result["url"] and result["previewUrl"]
    assert result["attachmentIds"] == [result["id"]]
    status = people[0].api.status(result["statusId"])
    assert [str(m.id) for m in status.media_attachments] == [result["id"]]


def test_notifications_of_a_like_and_a_mention(
    server: RunningServer, people: tuple[Person, Person], picture: Path
) -> None:
    result = run_flow(server, people, picture, "notifications")
    friend = people[1]
    assert result["favouriteFrom"] == friend.id == result["friendId"]
    assert {"favourite", "mention"} <= set(result["types"])


def test_streaming_user_updates(
    server: RunningServer, people: tuple[Person, Person], picture: Path
) -> None:
    result = run_flow(server, people, picture, "streaming")
    assert result["streamingApiUrl"] == server.url.replace("http://", "ws://", 1)
    assert result["event"] == "update"
    assert "user" in result["stream"]
