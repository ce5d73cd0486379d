"""The `roost` command: createuser, migrate, and serve's handling of the schema.

Commands that must be real processes (serve, and one createuser through the installed
console script) run as subprocesses; the other invocations call roost.cli.main in a
worker thread (it runs its own event loop) with the environment set as a shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from roost.cli import main
from roost.config import normalise_database_url
from roost.db.migrate import current_revision, head_revision
from tests.support.server import RunningServer, roost_command, server_env, start_server
from tests.support.services import fresh_postgres_database

PASSWORD = "correct horse battery"
MIGRATE_FIRST = "run `roost migrate` first"


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             env: dict[str, str], *argv: str) -> Outcome:
    """`roost ARGV` in this process, with exactly `env`'s ROOST_* settings."""
    with monkeypatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("ROOST_"):
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        with ThreadPoolExecutor(1) as pool:
            code = pool.submit(main, list(argv)).result(timeout=120)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def run_process(env: dict[str, str], command: list[str]) -> Outcome:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    return Outcome(done.returncode, done.stdout, done.stderr)


def console_script() -> list[str]:
    installed = Path(sys.executable).parent / "roost"
    return [str(installed)] if installed.exists() else roost_command()


# --- the embedded SQLite database -----------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`roost serve` on a data dir with no database yet: it must migrate by itself."""
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    running = start_server(data_dir, None, ROOST_LOG_LEVEL="warning")
    yield running
    running.stop()


def test_serve_on_sqlite_migrates_itself(sqlite_server: RunningServer) -> None:
    database = sqlite_server.data_dir / "roost.sqlite3"
    assert database.exists()
    assert current_revision(f"sqlite:///{database}") == head_revision()
    assert httpx.get(f"{sqlite_server.url}/readyz").status_code == 200


def _sign_in(server: RunningServer, login: str, password: str) -> httpx.Response:
    app = httpx.post(f"{server.url}/api/v1/apps", data={
        "client_name": "cli test", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
        "scopes": "read write"})
    assert app.status_code == 200, app.text
    return httpx.post(f"{server.url}/oauth/token", data={
        "grant_type": "password", "client_id": app.json()["client_id"],
        "client_secret": app.json()["client_secret"], "username": login,
        "password": password, "scope": "read"})


def test_createuser_then_sign_in(sqlite_server: RunningServer) -> None:
    env = server_env(sqlite_server.data_dir, None)
    created = run_process(env, [*console_script(), "createuser", "alice", "--email",
                                "alice@example.test", "--password", PASSWORD])
    assert created.code == 0, created.err
    assert created.out.startswith("Created @alice (id ")
    account_id = created.out.split("(id ", 1)[1].split(")", 1)[0]
    assert account_id.isdigit()

    for login in ("alice", "ALICE@example.test"):
        token = _sign_in(sqlite_server, login, PASSWORD)
        assert token.status_code == 200, token.text
        me = httpx.get(f"{sqlite_server.url}/api/v1/accounts/verify_credentials",
                       headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert me.status_code == 200, me.text
        assert me.json()["id"] == account_id
        assert me.json()["username"] == "alice"

    wrong = _sign_in(sqlite_server, "alice", "not the password")
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"


def test_createuser_admin(sqlite_server: RunningServer, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ROOST_DATA_DIR": str(sqlite_server.data_dir)}
    created = run_main(monkeypatch, capsys, env, "createuser", "boss", "--email",
                       "boss@example.test", "--password", PASSWORD, "--admin")
    assert created.code == 0, created.err
    assert created.out.strip().endswith(") as an admin")
    assert _sign_in(sqlite_server, "boss", PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("name", "email", "message"),
    [
        ("dupe", "dupe2@example.test", "Validation failed: Username has already been taken"),
        ("DUPE", "dupe3@example.test", "Validation failed: Username has already been taken"),
        ("dupe_other", "Dupe@Example.test", "Validation failed: Email has already been taken"),
    ],
)
def test_createuser_duplicate_is_a_clear_error(
    sqlite_server: RunningServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], name: str, email: str, message: str,
) -> None:
    env = {"ROOST_DATA_DIR": str(sqlite_server.data_dir)}
    first = run_main(monkeypatch, capsys, env, "createuser", "dupe", "--email",
                     "dupe@example.test", "--password", PASSWORD)
    assert first.code in (0, 1)  # the first parametrisation creates it
    again = run_main(monkeypatch, capsys, env, "createuser", name, "--email", email,
                     "--password", PASSWORD)
    assert again.code == 1
    assert again.err.strip() == f"roost: {message}"
    assert again.out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bad name", "--email", "x@example.test", "--password", PASSWORD],
         "Username must contain only letters, numbers and underscores"),
        (["shorty", "--email", "s@example.test", "--password", "short"],
         "Password is too short (minimum is 8 characters)"),
        (["nomail", "--email", "not-an-email", "--password", PASSWORD], "Email"),
    ],
)
def test_createuser_rejects_bad_input(
    sqlite_server: RunningServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str,
) -> None:
    env = {"ROOST_DATA_DIR": str(sqlite_server.data_dir)}
    outcome = run_main(monkeypatch, capsys, env, "createuser", *argv)
    assert outcome.code == 1
    assert outcome.err.startswith("roost: Validation failed: ")
    assert message in outcome.err


def test_missing_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["createuser", "someone"])
    assert exited.value.code == 2
    assert "--email" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setting", "value"),
    [("ROOST_REGISTRATIONS", "maybe"), ("ROOST_PASSWORD_GRANT", "perhaps"),
     ("ROOST_DATABASE_URL", "mysql://u@h/db")],
)
def test_bad_settings_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str], setting: str,
                             value: str) -> None:
    env = {"ROOST_DATA_DIR": str(tmp_path), setting: value}
    outcome = run_main(monkeypatch, capsys, env, "migrate")
    assert outcome.code == 2
    assert outcome.err.startswith(f"roost: {setting} ")
    assert repr(value) in outcome.err


# --- PostgreSQL: migrated explicitly ----------------------------------------------------


def test_postgresql_must_be_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with fresh_postgres_database() as database_url:
        env = server_env(tmp_path, database_url)
        settings_env = {"ROOST_DATA_DIR": str(tmp_path), "ROOST_DATABASE_URL": database_url}
        sync_url = normalise_database_url(database_url)
        assert current_revision(sync_url) is None

        # A real server refuses the empty schema and says what to do.
        refused = run_process(env, roost_command("serve", "--port", "1"))
        assert refused.code == 2, refused.err
        assert MIGRATE_FIRST in refused.err
        assert "Uvicorn running" not in refused.out + refused.err
        assert current_revision(sync_url) is None  # and did not migrate it itself

        early = run_main(monkeypatch, capsys, settings_env, "createuser", "early", "--email",
                         "early@example.test", "--password", PASSWORD)
        assert early.code == 2
        assert MIGRATE_FIRST in early.err

        migrated = run_process(env, roost_command("migrate"))
        assert migrated.code == 0, migrated.err
        assert migrated.out.strip() == f"Database is at revision {head_revision()}"
        assert current_revision(sync_url) == head_revision()

        again = run_main(monkeypatch, capsys, settings_env, "migrate")
        assert again.code == 0, again.err
        assert current_revision(sync_url) == head_revision()

        created = run_main(monkeypatch, capsys, settings_env, "createuser", "carol", "--email",
                           "carol@example.test", "--password", PASSWORD)
        assert created.code == 0, created.err
        assert created.out.startswith("Created @carol (id ")
        duplicate = run_main(monkeypatch, capsys, settings_env, "createuser", "Carol",
                             "--email", "other@example.test", "--password", PASSWORD)
        assert duplicate.code == 1
        assert duplicate.err.strip() == (
            "roost: Validation failed: Username has already been taken"
        )
