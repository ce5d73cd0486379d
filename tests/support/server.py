"""A real Roost server in a subprocess, as a client would meet it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    database_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'roost.sqlite3'}"

    def settle(self) -> None:
        """Waits until the server has dispatched every committed event (tests/support/events.py)."""
        from tests.support.events import settle

        settle(self.effective_database_url)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def roost_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "roost", *args]


# The suite signs up well over a thousand accounts; at argon2's default cost (about
# 100 ms each, one at a time on two cores) that alone took minutes. Tests check what a
# password does, not how hard it is to crack, so their servers hash cheaply; the
# defaults are asserted in tests/unit/test_config.py and tests/unit/test_passwords.py.
CHEAP_PASSWORD_HASHING = {"ROOST_PASSWORD_HASH_TIME_COST": "1",
                          "ROOST_PASSWORD_HASH_MEMORY_KIB": "1024"}


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    # Rate limits are off unless a test turns them on: the suite sends far more than
    # 300 requests per 5 minutes from 127.0.0.1 (tests/api/test_rate_limits.py).
    # The outbox polled every 50 ms, not every second: on SQLite a server hears the test
    # process's events (and a sibling server's) only when it looks.
    env = {**os.environ, "ROOST_RATE_LIMITS": "off", "ROOST_DATA_DIR": str(data_dir),
           "ROOST_EVENT_POLL_MS": "50", **CHEAP_PASSWORD_HASHING, **extra}
    if database_url is not None:
        env["ROOST_DATABASE_URL"] = database_url
    else:
        env.pop("ROOST_DATABASE_URL", None)
    return env


def start_server(
    data_dir: Path,
    database_url: str | None,
    *,
    workers: int = 1,
    migrate: bool = True,
    ready_path: str = "/readyz",
    **extra_env: str,
) -> RunningServer:
    """`roost serve` on a free port, returned once `ready_path` answers 200 (/healthz
    for a server meant to start with its database down, whose /readyz says 503)."""
    env = server_env(data_dir, database_url, **extra_env)
    data_dir.mkdir(parents=True, exist_ok=True)
    if migrate and database_url is not None and database_url.startswith("postgres"):
        subprocess.run(roost_command("migrate"), env=env, check=True, capture_output=True)
    port = free_port()
    log_path = data_dir / f"server-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        roost_command("serve", "--port", str(port), "--workers", str(workers)),
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    server = RunningServer(url, database_url or "", data_dir, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"roost serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"roost serve did not become ready:\n{server.log()}")
