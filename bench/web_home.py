"""Issue 8: what rendering the home page as HTML costs, measured as `GET /home` (the web
page, signed in by its `roost_session` cookie) against `GET /api/v1/timelines/home` (the
same viewers, Bearer tokens) on one server and one data set, side by side in one run.

    .venv/bin/python bench/web_home.py [--users 200] [--seconds 10] [--rounds 3]
        [--connections 16] [--postgresql postgresql://127.0.0.1:5432/postgres
        [--redis redis://127.0.0.1:6379/0]]

1. A scratch data dir seeded by `roost seed --users N --follows-mean F --posts-mean P` (a
   few dozen follows each, a few hundred statuses in total): embedded SQLite, or with
   `--postgresql ADMIN_URL` a scratch database `web_home_bench` made there (and dropped
   after), with `--redis URL` as the server's Redis (home timelines, object cache, rate
   limits; keys under a prefix of the run's own).
2. `roost serve --workers 1` pinned to core 0 (ROOST_RATE_LIMITS=off); wrk (one thread,
   `--connections` keep-alive connections) pinned to core 1.
3. Every viewer signs in to the pages the way a browser does: GET /auth/sign_in for the
   CSRF cookie and token, POST /auth/sign_in with the seeded password; the 303 carries
   the `roost_session` cookie (a "Roost Web" access token, roost.web.session). The API
   side uses the tokens `roost seed` wrote.
4. Before it is measured, every viewer's page and API home are read once (each must be a
   200; the page must not be the sign-in page): the caches are what earlier visits left.
5. A wrk Lua script per side rotates the viewers request by request. For each round:
   the page, then the API, for `--seconds` each; medians over the rounds (requests/s,
   p50, p99) and the median of the per-round API/page ratio, which suffers less from
   other load on a shared machine than either number alone.
6. bench/results/web-home[-postgresql[-redis]]-<date>.json; the table for docs/web.md is
   printed.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.file_serving import ensure_wrk, wait_for  # noqa: E402
from bench.lessons import (  # noqa: E402
    database_url,
    drop_database,
    free_port,
    loadavg,
    log,
    recreate_database,
    write_results,
)

from roost.seed.command import DEFAULT_PASSWORD as SEED_PASSWORD  # noqa: E402

CSRF_INPUT = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
SIDES = {
    # side: (path, header, value prefix)
    "page": ("/home", "Cookie", "roost_session="),
    "api": ("/api/v1/timelines/home", "Authorization", "Bearer "),
}
LUA = """-- written by bench/web_home.py: one viewer after another, request by request
local values = {%s}
local i = 0
request = function()
  i = i %% #values + 1
  return wrk.format("GET", %s, {[%s] = values[i]})
end
-- Every answer must be the page itself: a redirect to sign-in would be cheap and count.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) not_ok = 0 end
response = function(status, headers, body)
  if status ~= 200 then not_ok = not_ok + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("not_ok") end
  io.write(string.format("Not 200: %%d\\n", total))
end
"""


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


SCRATCH_DATABASE = "web_home_bench"


def roost_env(data_dir: Path, args: argparse.Namespace) -> dict[str, str]:
    """The environment of `roost seed` and `roost serve`: the embedded default, or the
    scratch PostgreSQL database (and Redis) of `--postgresql` (and `--redis`)."""
    env = {**os.environ, "ROOST_DATA_DIR": str(data_dir), "ROOST_LOG_LEVEL": "warning",
           "ROOST_RATE_LIMITS": "off"}
    for name in ("ROOST_DATABASE_URL", "ROOST_REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    if args.postgresql:
        env["ROOST_DATABASE_URL"] = database_url(args.postgresql, SCRATCH_DATABASE)
    if args.redis:
        env["ROOST_REDIS_URL"] = args.redis
        env["ROOST_REDIS_KEY_PREFIX"] = f"web-home-bench-{os.getpid()}:"
    return env


def row_counts(data_dir: Path, args: argparse.Namespace) -> dict[str, int]:
    tables = ("accounts", "follows", "statuses")
    query = "SELECT count(*) FROM {}"
    if args.postgresql:
        import psycopg

        with psycopg.connect(database_url(args.postgresql, SCRATCH_DATABASE)) as conn:
            return {table: conn.execute(query.format(table)).fetchone()[0]  # type: ignore[index]
                    for table in tables}
    with sqlite3.connect(data_dir / "roost.sqlite3") as db:
        return {table: db.execute(query.format(table)).fetchone()[0] for table in tables}


def forget_keys(redis_url: str, prefix: str) -> None:
    """The run's keys leave the shared Redis with it."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):  # a DEL per thousand keys, not per key
            client.delete(*keys[start:start + 1000])


def start_roost(data_dir: Path, port: int, args: argparse.Namespace
                ) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own command line
        ["taskset", "-c", str(args.server_cpu), sys.executable, "-m", "roost",  # noqa: S607
         "serve", "--port", str(port), "--workers", "1"],
        env=roost_env(data_dir, args), stdout=(data_dir / "roost.log").open("wb"),
        stderr=subprocess.STDOUT)


def seed(data_dir: Path, args: argparse.Namespace
         ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(username, API token) per seeded user, and what was seeded."""
    env = roost_env(data_dir, args)
    tokens = data_dir / "tokens.tsv"
    out = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "roost", "seed", "--users", str(args.users),
         "--follows-mean", str(args.follows_mean), "--posts-mean", str(args.posts_mean),
         "--tokens", str(tokens), "--workers", "1"],
        env=env, capture_output=True, text=True, check=True, cwd=REPO).stdout
    viewers = [(line.split("\t")[0], line.split("\t")[1])
               for line in tokens.read_text().splitlines() if line]
    summary = next((line for line in out.splitlines() if line.startswith("Seeded")), "")
    return viewers, {"summary": summary, "rows": row_counts(data_dir, args)}


def sign_in(base: str, username: str) -> str:
    """The `roost_session` cookie a browser gets from the sign-in form."""
    with httpx.Client(base_url=base, timeout=30) as browser:
        form = browser.get("/auth/sign_in")
        found = CSRF_INPUT.search(form.text)
        if form.status_code != 200 or found is None:
            sys.exit(f"GET /auth/sign_in: {form.status_code}, no csrf_token")
        answer = browser.post("/auth/sign_in", data={
            "csrf_token": found.group(1), "login": username, "password": SEED_PASSWORD,
            "next": "/home"})
        cookie = answer.cookies.get("roost_session")
        if answer.status_code != 303 or not cookie:
            sys.exit(f"sign-in of {username}: {answer.status_code}, no session cookie")
        return cookie


def warm(base: str, values: dict[str, list[str]]) -> dict[str, Any]:
    """Reads every viewer's page and API home once; checks they are what is measured."""
    cards, page_bytes, api_bytes = [], [], []
    with httpx.Client(base_url=base, timeout=30) as http:
        for cookie, token in zip(values["page"], values["api"], strict=True):
            page = http.get("/home", headers={"Cookie": "roost_session=" + cookie})
            api = http.get("/api/v1/timelines/home", headers={"Authorization": "Bearer " + token})
            if page.status_code != 200 or 'action="/statuses"' not in page.text:
                sys.exit(f"GET /home: {page.status_code}, not the signed-in home page")
            if api.status_code != 200:
                sys.exit(f"GET /api/v1/timelines/home: {api.status_code}")
            cards.append(len(api.json()))
            page_bytes.append(len(page.content))
            api_bytes.append(len(api.content))
    return {"mean_statuses_per_page": round(statistics.mean(cards), 1),
            "full_pages": sum(1 for count in cards if count >= 20),
            "mean_bytes": {"page": round(statistics.mean(page_bytes)),
                           "api": round(statistics.mean(api_bytes))}}


def write_script(side: str, values: list[str], into: Path) -> Path:
    path, header, prefix = SIDES[side]
    script = into / f"{side}.lua"
    script.write_text(LUA % (", ".join(lua_string(prefix + value) for value in values),
                             lua_string(path), lua_string(header)))
    return script


def milliseconds(text: str) -> float:
    """wrk's latency ("850.12us", "1.20ms", "1.02s") in ms."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"wrk latency {text!r}")
    value, unit = float(found.group(1)), found.group(2)
    return round(value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit], 3)


def run_wrk(base: str, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    """As bench/file_serving.py's run_wrk, with a Lua script choosing the requests."""
    out = subprocess.run(  # noqa: S603 - our own command line
        ["taskset", "-c", str(args.load_cpu), args.wrk, "-t1",  # noqa: S607
         f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s", str(script),
         base + "/"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    not_ok = re.search(r"Not 200: (\d+)", out)
    if not_ok is None:  # the script did not run: wrk would have asked for "/" instead
        sys.exit(f"wrk -s {script}: no count of answers\n{out}")
    latency = {q: milliseconds(m.group(1)) for q in ("50%", "99%")
               if (m := re.search(rf"^\s+{q}\s+(\S+)", out, re.MULTILINE))}
    return {"requests_per_s": rps, "p50_ms": latency.get("50%"), "p99_ms": latency.get("99%"),
            "non_2xx_3xx": int(errors.group(1)) if errors else 0,
            "not_200": int(not_ok.group(1)),
            "socket_errors": socket_errors.group(0) if socket_errors else None}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        side: {key: statistics.median(run[key] for run in runs if run["side"] == side)
               for key in ("requests_per_s", "p50_ms", "p99_ms")}
        for side in SIDES}
    by_round: dict[int, dict[str, float]] = {}
    for run in runs:
        by_round.setdefault(run["round"], {})[run["side"]] = run["requests_per_s"]
    summary["api_over_page_median_round"] = round(statistics.median(
        sides["api"] / sides["page"] for sides in by_round.values()), 2)
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = ["| request (same viewers, same server) | req/s | p50 ms | p99 ms |",
            "| --- | ---: | ---: | ---: |"]
    for side, label in (("page", "`GET /home` (HTML page, session cookie)"),
                        ("api", "`GET /api/v1/timelines/home` (JSON, Bearer token)")):
        entry = summary[side]
        rows.append(f"| {label} | {entry['requests_per_s']:,.0f} | {entry['p50_ms']:.1f} | "
                    f"{entry['p99_ms']:.1f} |")
    rows.append(f"\nAPI/page, median round: {summary['api_over_page_median_round']:.2f}x")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--follows-mean", type=int, default=30)
    parser.add_argument("--posts-mean", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--postgresql", metavar="ADMIN_URL",
                        help=f"seed and serve a scratch database {SCRATCH_DATABASE} made there")
    parser.add_argument("--redis", metavar="URL", help="the server's Redis (with --postgresql)")
    parser.add_argument("--no-save", action="store_true", help="print, write no results file")
    args = parser.parse_args(argv)
    if args.redis and not args.postgresql:
        parser.error("--redis needs --postgresql (the embedded default runs without Redis)")
    args.wrk = ensure_wrk()
    if args.wrk is None:
        sys.exit("needs wrk (apt-get install wrk)")
    database = ("postgresql" + (" + redis" if args.redis else "")) if args.postgresql else (
        "sqlite (embedded)")
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python bench/web_home.py " + " ".join(argv or sys.argv[1:]),
        "settings": vars(args), "cores": os.cpu_count(), "database": database,
        "load_before": loadavg(), "runs": []}
    if args.postgresql:
        recreate_database(args.postgresql, SCRATCH_DATABASE)
    with tempfile.TemporaryDirectory(prefix="web-home-") as scratch:
        data_dir = Path(scratch) / "data"
        data_dir.mkdir()
        log(f"roost seed --users {args.users} ({database})")
        viewers, result["seed"] = seed(data_dir, args)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        roost = start_roost(data_dir, port, args)
        try:
            wait_for(base + "/healthz", roost, "roost serve")
            log(f"signing in {len(viewers)} viewers through /auth/sign_in")
            values = {"page": [sign_in(base, username) for username, _token in viewers],
                      "api": [token for _username, token in viewers]}
            result["pages"] = warm(base, values)
            log(f"pages: {result['pages']}")
            scripts = {side: write_script(side, values[side], Path(scratch)) for side in SIDES}
            for round_number in range(args.rounds):
                for side in SIDES:
                    run = {"round": round_number, "side": side,
                           **run_wrk(base, scripts[side], args)}
                    log(f"round {round_number} {side:4} {run['requests_per_s']:>7.0f} req/s "
                        f"p50 {run['p50_ms']} ms p99 {run['p99_ms']} ms "
                        f"not 200 {run['not_200']}")
                    result["runs"].append(run)
        finally:
            roost.terminate()
            roost.wait(timeout=15)
            if args.postgresql:
                drop_database(args.postgresql, SCRATCH_DATABASE)
            if args.redis:
                forget_keys(args.redis, roost_env(data_dir, args)["ROOST_REDIS_KEY_PREFIX"])
    result["load_after"] = loadavg()
    result["median"] = summarise(result["runs"])
    print(table(result["median"]))
    if not args.no_save:
        kind = "web-home" + ("-postgresql" if args.postgresql else "") + (
            "-redis" if args.redis else "")
        print(f"results in {write_results(kind, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
