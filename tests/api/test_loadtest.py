"""`roost bench` end to end: a real server (SQLite), a few users, each scenario briefly.

No timing assertions: the machine running the suite is shared. What is checked is that
a run talks to every endpoint of its scenario without a 5xx, and writes its reports.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from roost.cli import main
from roost.loadtest.scenarios import ENDPOINTS
from tests.support.api import User, follow, post_status, register_app, sign_up
from tests.support.server import RunningServer, free_port, roost_command, start_server

USERS = 5


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("bench-server"), None,
                           ROOST_LOG_LEVEL="warning")
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def people(bench_server: RunningServer) -> list[User]:
    async with httpx.AsyncClient(base_url=bench_server.url, timeout=30) as http:
        app = await register_app(http)
        users = [await sign_up(http, app) for _ in range(USERS)]
        for i, user in enumerate(users):
            for other in users:
                if other is not user and (i == 0 or other is users[0]):
                    await follow(http, user, other)
            await post_status(http, user, f"hello from {user.username}")
        return users


@pytest.fixture(scope="module")
def tokens(people: list[User], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tokens")
    four = directory / "four.tsv"  # with account ids and activity weights
    four.write_text("".join(f"{u.username}\t{u.token}\t{u.id}\t{10 - i}\n"
                            for i, u in enumerate(people)))
    two = directory / "two.tsv"  # ids looked up lazily, Zipf skew by line order
    two.write_text("".join(f"{u.username}\t{u.token}\n" for u in people))
    return {"four": four, "two": two}


def bench_command(url: str, tokens: Path, out: Path, scenario: str, *extra: str,
                  duration: float = 2, warmup: float = 0) -> list[str]:
    return roost_command("bench", "--url", url, "--tokens", str(tokens), "--scenario",
                         scenario, "--duration", str(duration), "--warmup", str(warmup),
                         "--concurrency", "3", "--think-scale", "0", "--seed", "3",
                         "--grace", "3", "--out", str(out), *extra)


def bench(url: str, tokens: Path, out: Path, scenario: str, *extra: str,
          duration: float = 2) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bench_command(url, tokens, out, scenario, *extra, duration=duration),
                          capture_output=True, text=True, timeout=60)


# Which tokens file each scenario reads (both kinds get exercised), how long it runs and
# its warmup. A mastodon session is about ten requests in order: on a slow, shared CI
# machine it needs the time to reach its last step (follow) at least once.
SCENARIO_TOKENS = {"mixed": "four", "mastodon": "two", "home": "two"}
SCENARIO_TIMES = {"mixed": (2.5, 0.5), "mastodon": (3.0, 0.0), "home": (2.0, 0.0)}


@pytest.fixture(scope="module")
def scenario_runs(bench_server: RunningServer, tokens: dict[str, Path],
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, Path]]:
    """One run of each scenario, side by side (the suite's time is what is short):
    scenario -> (exit code, stderr, --out directory)."""
    base = tmp_path_factory.mktemp("runs")
    # one run pins itself to a CPU it may use, as `--cpu` is meant to be used
    pin = ["--cpu", str(min(os.sched_getaffinity(0)))]
    started = {}
    for scenario, kind in SCENARIO_TOKENS.items():
        out = base / scenario
        duration, warmup = SCENARIO_TIMES[scenario]
        command = bench_command(bench_server.url, tokens[kind], out, scenario,
                                *(pin if scenario == "home" else []),
                                duration=duration, warmup=warmup)
        stderr = (base / f"{scenario}.stderr").open("w+")
        started[scenario] = (subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                              stderr=stderr, text=True), stderr, out)
    results = {}
    for scenario, (process, stderr, out) in started.items():
        code = process.wait(timeout=60)
        stderr.seek(0)
        results[scenario] = (code, stderr.read(), out)
        stderr.close()
    return results


def check_report(out: Path, scenario: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    assert report["parameters"]["scenario"] == scenario
    assert list(report["endpoints"])[: len(ENDPOINTS[scenario])] == list(ENDPOINTS[scenario])
    for name, entry in report["endpoints"].items():
        assert entry["requests"] > 0, name
        five_hundreds = {k: v for k, v in entry["errors_by_kind"].items() if k.startswith("5")}
        assert not five_hundreds, (name, entry["errors_by_kind"])
        assert "connection" not in entry["errors_by_kind"], name
        assert entry["latency_ms"]["p99"] is not None
    assert report["total"]["requests"] > 0
    assert len(report["timeseries"]["second"]) >= 2
    markdown = (out / "report.md").read_text()
    assert "| endpoint | requests | req/s | p50 ms | p99 ms | p99.9 ms |" in markdown
    for name in ENDPOINTS[scenario]:
        assert f"`{name}`" in markdown
    assert report["machine"]["server_url"] in markdown
    for png in ("throughput.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return report


@pytest.mark.parametrize("scenario", list(SCENARIO_TOKENS))
def test_each_scenario_runs_and_reports(scenario_runs: dict[str, tuple[int, str, Path]],
                                        scenario: str) -> None:
    code, stderr, out = scenario_runs[scenario]
    assert code == 0, stderr
    report = check_report(out, scenario)
    if scenario == "home":
        assert report["machine"]["generator_cpus"] == [min(os.sched_getaffinity(0))]


def test_compare_adds_a_before_after_table(bench_server: RunningServer,
                                           scenario_runs: dict[str, tuple[int, str, Path]],
                                           tokens: dict[str, Path], tmp_path: Path) -> None:
    before, after = scenario_runs["home"][2], tmp_path / "after"
    result = bench(bench_server.url, tokens["four"], after, "home", "--compare", str(before),
                   duration=1.5)
    assert result.returncode == 0, result.stderr
    report = check_report(after, "home")
    block = report["compare"]
    assert block["old_dir"] == str(before)
    home = block["endpoints"]["GET /api/v1/timelines/home"]
    assert home["throughput_rps"]["old"] > 0 and home["throughput_rps"]["new"] > 0
    assert "total" in block["endpoints"]
    assert f"## Compared with `{before}`" in (after / "report.md").read_text()


def bench_in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`roost bench ARGV` in this process (a worker thread: it runs its own event loop);
    the failures below need no subprocess."""
    with ThreadPoolExecutor(1) as pool:
        code = pool.submit(main, ["bench", *argv]).result(timeout=60)
    return code, capsys.readouterr().err


def test_bad_compare_directory_is_a_clear_error(bench_server: RunningServer,
                                                 tokens: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, err = bench_in_process(capsys, "--url", bench_server.url, "--tokens",
                                 str(tokens["two"]), "--compare", str(tmp_path / "missing"),
                                 "--out", str(tmp_path / "out"))
    assert code == 2
    assert "--compare: cannot read" in err
    assert not (tmp_path / "out").exists()


def test_unreachable_server_is_a_clear_error(tokens: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, err = bench_in_process(capsys, "--url", url, "--tokens", str(tokens["two"]),
                                 "--duration", "1", "--out", str(tmp_path / "out"))
    assert code == 3
    assert f"server at {url} is unreachable" in err
    assert not (tmp_path / "out").exists()


def test_bad_tokens_file_is_a_clear_error(bench_server: RunningServer, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("alice only-one-field-and-no-tab\n")
    code, err = bench_in_process(capsys, "--url", bench_server.url, "--tokens", str(bad))
    assert code == 2
    assert "line 1: expected 2 to 4 tab-separated fields" in err
    bad.write_text("")
    code, err = bench_in_process(capsys, "--url", bench_server.url, "--tokens", str(bad))
    assert code == 2
    assert "no users" in err


def test_refused_token_is_a_clear_error(bench_server: RunningServer, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "stale.tsv"
    stale.write_text("ghost\tnot-a-real-token\n")
    code, err = bench_in_process(capsys, "--url", bench_server.url, "--tokens", str(stale),
                                 "--out", str(tmp_path / "out"))
    assert code == 3
    assert "token of 'ghost' was refused" in err
