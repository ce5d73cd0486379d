"""`roost worker` and `roost events`, run as an operator runs them: real processes
beside a real `roost serve` that leaves its events to them (ROOST_SERVE_CONSUMERS=off),
on a fresh SQLite data dir and a fresh PostgreSQL database."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, insert, select

from roost.config import normalise_database_url
from roost.db.migrate import sync_url
from roost.db.tables import event_dead_letters, outbox_events
from tests.support.api import unique_name
from tests.support.events import settle
from tests.support.server import RunningServer, roost_command, server_env, start_server
from tests.support.services import fresh_postgres_database

WAIT_SECONDS = 20.0
STARTED = "event worker started"


@dataclass
class Deployment:
    server: RunningServer
    env: dict[str, str]  # what `roost worker` and `roost events` run with
    engine: Engine  # to look at and plant rows, as an operator's psql would

    def roost(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(roost_command(*args), env=self.env, capture_output=True,
                              text=True, timeout=60)

    def status(self) -> dict[str, Any]:
        done = self.roost("events", "status", "--json")
        assert done.returncode == 0, done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def backlog(self) -> int:
        [dispatcher] = [r for r in self.status()["readers"] if r["name"] == "dispatcher"]
        return int(dispatcher["backlog"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("events-cli") / "data"
    with ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_database()) if request.param != "sqlite" \
            else None
        server = start_server(data_dir, url, ROOST_SERVE_CONSUMERS="off",
                              ROOST_LOG_LEVEL="warning")
        stack.callback(server.stop)
        engine = create_engine(sync_url(normalise_database_url(server.effective_database_url)))
        stack.callback(engine.dispose)
        yield Deployment(server, server_env(data_dir, url, ROOST_SERVE_CONSUMERS="off"), engine)


# --- the worker process ---------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> int:
        """SIGTERM, as a process supervisor stops it; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"roost worker ignored SIGTERM:\n{self.log()}") from None


@contextmanager
def worker(deployment: Deployment, *args: str) -> Iterator[Worker]:
    data_dir = deployment.server.data_dir
    log_path = data_dir / f"worker-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(roost_command("worker", *args), stdout=log_file,
                                   stderr=subprocess.STDOUT,
                                   env={**deployment.env, "ROOST_LOG_LEVEL": "info"})
    running = Worker(process, log_path)
    try:
        wait_for(lambda: STARTED in running.log() or process.poll() is not None,
                 "the worker to start")
        assert process.poll() is None, f"roost worker exited early:\n{running.log()}"
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


# --- the API, synchronously -----------------------------------------------------------


def sign_up(http: httpx.Client) -> dict[str, str]:
    """A new account's auth headers."""
    app = http.post("/api/v1/apps", data={"client_name": "tests", "scopes": "read write",
                                          "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}).json()
    app_token = http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "scope": "read write"}).json()["access_token"]
    name = unique_name()
    reply = http.post("/api/v1/accounts", headers={"Authorization": f"Bearer {app_token}"},
                      data={"username": name, "email": f"{name}@example.test",
                            "password": "correct horse battery", "agreement": "true"})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def post_and_like(http: httpx.Client) -> tuple[dict[str, str], str]:
    """A new author's status, liked by a new account: (the author's headers, status id)."""
    author, fan = sign_up(http), sign_up(http)
    status = http.post("/api/v1/statuses", headers=author, data={"status": "hello"})
    assert status.status_code == 200, status.text
    status_id = status.json()["id"]
    liked = http.post(f"/api/v1/statuses/{status_id}/favourite", headers=fan)
    assert liked.status_code == 200, liked.text
    return author, status_id


def favourites(http: httpx.Client, headers: dict[str, str], status_id: str) -> int:
    reply = http.get(f"/api/v1/statuses/{status_id}", headers=headers)
    assert reply.status_code == 200, reply.text
    return int(reply.json()["favourites_count"])


def statuses_count(http: httpx.Client, headers: dict[str, str]) -> int:
    reply = http.get("/api/v1/accounts/verify_credentials", headers=headers)
    return int(reply.json()["statuses_count"])


def favourite_notifications(http: httpx.Client, headers: dict[str, str]) -> int:
    reply = http.get("/api/v1/notifications", headers=headers)
    assert reply.status_code == 200, reply.text
    return sum(1 for n in reply.json() if n["type"] == "favourite")


# --- the tests ------------------------------------------------------------------------


def test_worker_applies_what_the_server_writes_and_replays_without_counting_twice(
    deployment: Deployment,
) -> None:
    with httpx.Client(base_url=deployment.server.url, timeout=10) as http:
        author, status_id = post_and_like(http)
        # The server runs no consumers: the like waits in the outbox.
        assert deployment.backlog() > 0
        assert favourites(http, author, status_id) == 0

        with worker(deployment, "--only", "counters") as counters_only:
            wait_for(lambda: favourites(http, author, status_id) == 1, "the like to count")
            assert counters_only.terminate() == 0, counters_only.log()
        started = [json.loads(line) for line in counters_only.log().splitlines()
                   if STARTED in line]
        assert started[0]["consumers"] == ["counters"]
        assert started[0]["event_log"] == "outbox"
        assert "event worker stopped" in counters_only.log()
        # A subset reads with a cursor of its own: the other consumers' events wait for
        # them under "dispatcher", not passed over.
        waiting = deployment.backlog()
        assert waiting > 0
        [subset] = [r for r in deployment.status()["readers"]
                    if r["name"] == "dispatcher:counters"]
        assert int(subset["backlog"]) == 0
        assert favourite_notifications(http, author) == 0  # not its consumer
        assert statuses_count(http, author) == 1

        with worker(deployment) as everything:
            wait_for(lambda: favourite_notifications(http, author) == 1,
                     "the like to notify")
            settle(deployment.server.effective_database_url, WAIT_SECONDS)
            # The counters consumer had applied these events: it skipped them.
            assert favourites(http, author, status_id) == 1, everything.log()
            assert statuses_count(http, author) == 1, everything.log()
            assert everything.terminate() == 0, everything.log()
        assert deployment.backlog() == 0

        replay = deployment.roost("events", "replay", "--since", "1h")
        assert replay.returncode == 0, replay.stderr
        moved = re.search(r"(\d+) events? will be handed to the consumers again", replay.stdout)
        assert moved is not None, replay.stdout
        again = int(moved[1])
        assert again > 0
        assert deployment.backlog() == again

        with worker(deployment) as everything:
            settle(deployment.server.effective_database_url, WAIT_SECONDS)
            # Every consumer had applied these events: a replay changes nothing.
            assert favourites(http, author, status_id) == 1, everything.log()
            assert statuses_count(http, author) == 1, everything.log()
            assert favourite_notifications(http, author) == 1, everything.log()
            assert everything.terminate() == 0, everything.log()
        assert deployment.backlog() == 0


def plant_dead_letter(deployment: Deployment, status_id: str, consumer: str,
                      version: int | None = None) -> int:
    """The Favourited event of `status_id` from the outbox, as `consumer`'s dead letter."""
    with deployment.engine.begin() as conn:
        rows = conn.execute(
            select(outbox_events).where(outbox_events.c.type == "status.favourited")
        ).all()
        [event] = [r for r in rows if json.loads(r.payload)["status_id"] == int(status_id)]
        conn.execute(insert(event_dead_letters).values(
            consumer=consumer, event_id=event.event_id, type=event.type,
            version=event.version if version is None else version,
            account_id=event.account_id, payload=event.payload, attempts=5,
            last_error="RuntimeError: " + "the handler fell over " * 20,
            failed_at=datetime.now(UTC)))
    return int(event.event_id)


def listed(deployment: Deployment, *args: str) -> list[list[str]]:
    done = deployment.roost("events", "dead", "list", *args)
    assert done.returncode == 0, done.stderr
    return [line.split() for line in done.stdout.splitlines()[1:]]


def dead_letter_row(deployment: Deployment, consumer: str, event_id: int) -> Any:
    with deployment.engine.connect() as conn:
        return conn.execute(select(event_dead_letters).where(
            event_dead_letters.c.consumer == consumer, event_dead_letters.c.event_id == event_id
        )).first()


def test_dead_letters_are_listed_replayed_and_dropped(deployment: Deployment) -> None:
    with httpx.Client(base_url=deployment.server.url, timeout=10) as http:
        author, status_id = post_and_like(http)
        event_id = plant_dead_letter(deployment, status_id, "counters")
        assert plant_dead_letter(deployment, status_id, "notifications") == event_id
        ours = str(event_id)

        [row] = [r for r in listed(deployment, "--consumer", "counters") if r[1] == ours]
        assert row[0] == "counters" and row[2:4] == ["status.favourited", "5"]
        assert row[-1].endswith("…")  # the long error, cut short

        unselected = deployment.roost("events", "dead", "replay", "--consumer", "counters")
        assert unselected.returncode == 2
        assert "--event" in unselected.stderr and "Traceback" not in unselected.stderr

        # No dispatcher has seen this like: the count it shows is the replay's doing.
        assert favourites(http, author, status_id) == 0
        replayed = deployment.roost("events", "dead", "replay", "--consumer", "counters",
                                    "--event", ours)
        assert replayed.returncode == 0, replayed.stderr
        assert "applied; dead letter removed" in replayed.stdout
        assert favourites(http, author, status_id) == 1
        assert dead_letter_row(deployment, "counters", event_id) is None

        dropped = deployment.roost("events", "dead", "drop", "--consumer", "notifications",
                                   "--event", ours)
        assert dropped.returncode == 0, dropped.stderr
        assert dropped.stdout == "Dropped 1 dead letter\n"  # --consumer spared it so far
        assert dead_letter_row(deployment, "notifications", event_id) is None

        # One written by a newer Roost (a version this code cannot read) fails again,
        # and stays a dead letter with the new error.
        _, other_status_id = post_and_like(http)
        newer = plant_dead_letter(deployment, other_status_id, "notifications", version=99)
    status = {c["name"]: c for c in deployment.status()["consumers"]}
    assert status["notifications"]["dead_letters"] >= 1
    failing = deployment.roost("events", "dead", "replay", "--all")
    assert failing.returncode == 1
    assert "failed again; still a dead letter" in failing.stdout
    row = dead_letter_row(deployment, "notifications", newer)
    assert row.last_error.startswith("UnknownEvent:")
    assert row.attempts == 6
    everything = deployment.roost("events", "dead", "drop", "--all")
    assert everything.returncode == 0
    assert re.fullmatch(r"Dropped \d+ dead letters?\n", everything.stdout)
    assert deployment.roost("events", "dead", "list").stdout == "No dead letters.\n"


# --- refusals -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return server_env(tmp_path_factory.mktemp("events-refusals") / "data", None)


@pytest.mark.parametrize(("args", "message"), [
    (["worker", "--only", "counters,nope"], "unknown consumer nope (known: counters,"),
    (["events", "replay", "--since", "yesterday"], "or a duration such as 15m"),
    (["events", "replay", "--since", "2d"], "older than the outbox keeps events"),
    (["events", "replay", "--since", "2999-01-01T00:00:00Z"], "is in the future"),
    (["events", "replay", "--since", "1h", "--cursor", "nope"], "no reader cursor 'nope'"),
    (["events", "dead", "replay", "--event", "7", "--consumer", "counters"],
     "no dead letter of counters for event 7"),
    (["events", "dead", "list", "--limit", "0"], "must be a whole number of at least 1"),
    (["events", "dead", "list", "--consumer", "nope"], "unknown consumer nope"),
    (["events", "dead", "drop", "--event", "12x"], "must be an event id"),
    (["events", "dead", "drop", "--consumer", "counters"], "one of the arguments"),
    (["events", "dead", "drop", "--event", "7", "--all"], "not allowed with argument"),
])
def test_bad_input_is_refused_with_exit_2(sqlite_env: dict[str, str], args: list[str],
                                          message: str) -> None:
    done = subprocess.run(roost_command(*args), env=sqlite_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_refuses_a_database_it_cannot_use(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:  # never migrated
        behind = subprocess.run(roost_command("worker"), env=server_env(tmp_path, url),
                                capture_output=True, text=True, timeout=60)
    assert behind.returncode == 2
    assert "run `roost migrate` first" in behind.stderr
    unreachable = subprocess.run(
        roost_command("worker"),
        env=server_env(tmp_path, "postgresql://roost@127.0.0.1:1/roost"),
        capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 1
    assert "roost worker: cannot reach the database:" in unreachable.stderr
    assert "Traceback" not in behind.stderr + unreachable.stderr


def test_worker_names_an_event_log_it_cannot_run(sqlite_env: dict[str, str]) -> None:
    # Which logs are built changes as Roost grows: stand one in that is not.
    script = (
        "import sys\n"
        "from roost.events import backends\n"
        "def build(*args, **kwargs):\n"
        "    raise NotImplementedError(\"event log 'carrier-pigeon' is not built yet\")\n"
        "backends.build = build\n"
        "from roost.cli import main\n"
        "sys.exit(main(['worker']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=sqlite_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "roost worker: ROOST_EVENT_LOG=outbox: event log 'carrier-pigeon' is not built yet" \
        in done.stderr
    assert "Traceback" not in done.stderr
