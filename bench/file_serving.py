"""Issue 7 (media serving): requests per second for one 100 KB stored media file, served by
Roost itself (roost.api.files) and by nginx from the same data dir (deploy/nginx.conf).

    .venv/bin/python bench/file_serving.py [--seconds 10] [--rounds 3] [--connections 16]

1. A scratch data dir (SQLite) with a 100 KB file in the content-addressed layout.
2. `roost serve --workers 1` and nginx (deploy/nginx/render, one worker process) both pinned
   to core 0 with taskset; wrk (Debian package, installed with apt-get when missing and run
   as root) pinned to core 1, one thread, `--connections` keep-alive connections.
3. Side by side in one run: for each round, Roost then nginx, for a full GET (200, 100 KB)
   and a revalidation (If-None-Match with the answer's own ETag, 304). Medians over the
   rounds count (requests/s, and the nginx/Roost ratio within a round); every run is kept.
4. bench/results/file-serving-<date>.json; the table for the "Serving" docs is printed.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.lessons import free_port, loadavg, log, write_results  # noqa: E402

RENDER = REPO / "deploy" / "nginx" / "render"
FILE_BYTES = 100 * 1024


def ensure_wrk() -> str | None:
    """wrk's path, installed from Debian's packages when missing and we are root."""
    wrk = shutil.which("wrk")
    if wrk is None and os.geteuid() == 0:
        log("installing wrk (apt-get)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,  # noqa: S607
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        wrk = shutil.which("wrk")
    return wrk


def ensure_tools() -> tuple[str, str]:
    wrk = ensure_wrk()
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if wrk is None or nginx is None:
        sys.exit("needs wrk and nginx (apt-get install wrk; deploy/install-nginx.sh)")
    return wrk, nginx


def store_file(data_dir: Path) -> tuple[str, str]:
    data = os.urandom(FILE_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{digest[0:2]}/{digest[2:4]}/{digest}.jpg"
    path = data_dir / "media" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"/media/{relative}", digest


def wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"{what} did not start")


def start_roost(data_dir: Path, port: int, server_cpu: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ROOST_DATA_DIR": str(data_dir), "ROOST_RATE_LIMITS": "off",
           "ROOST_LOG_LEVEL": "warning"}
    env.pop("ROOST_DATABASE_URL", None)
    return subprocess.Popen(  # noqa: S603 - our own command line
        ["taskset", "-c", str(server_cpu), sys.executable, "-m", "roost", "serve",  # noqa: S607
         "--port", str(port), "--workers", "1"],
        env=env, stdout=(data_dir / "roost.log").open("wb"), stderr=subprocess.STDOUT)


def start_nginx(nginx: str, prefix: Path, data_dir: Path, port: int, roost_port: int,
                server_cpu: int) -> subprocess.Popen[bytes]:
    conf = prefix / "nginx.conf"
    subprocess.run([sys.executable, str(RENDER), "--user", getpass.getuser(),  # noqa: S603
                    "--listen", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{roost_port}",
                    "--data-dir", str(data_dir), "--run-dir", str(prefix),
                    "--log-dir", str(prefix), "--output", str(conf)], check=True)
    # One worker, like the one Roost process: the comparison is per core.
    text = conf.read_text().replace("worker_processes auto;", "worker_processes 1;")
    # The access log would measure the disk, not the serving.
    conf.write_text(text.replace(f"access_log {prefix}/access.log;", "access_log off;"))
    return subprocess.Popen(  # noqa: S603 - our own command line
        ["taskset", "-c", str(server_cpu), nginx, "-p", str(prefix),  # noqa: S607
         "-e", str(prefix / "error.log"), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def run_wrk(wrk: str, url: str, args: argparse.Namespace, headers: dict[str, str]
            ) -> dict[str, Any]:
    command = ["taskset", "-c", str(args.load_cpu), wrk, "-t1", f"-c{args.connections}",
               f"-d{args.seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(  # noqa: S603 - our own command line
        [*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    latency = {q: m.group(1) for q in ("50%", "99%")
               if (m := re.search(rf"^\s+{q}\s+(\S+)", out, re.MULTILINE))}
    return {"requests_per_s": rps, "non_2xx_3xx": int(errors.group(1)) if errors else 0,
            "latency": latency}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    args = parser.parse_args()
    wrk, nginx = ensure_tools()
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "file_bytes": FILE_BYTES,
        "settings": vars(args),
        "cores": os.cpu_count(),
        "load_before": loadavg(),
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="file-serving-") as scratch:
        data_dir, prefix = Path(scratch) / "data", Path(scratch) / "nginx"
        data_dir.mkdir()
        prefix.mkdir()
        path, _digest = store_file(data_dir)
        roost_port, nginx_port = free_port(), free_port()
        roost = start_roost(data_dir, roost_port, args.server_cpu)
        proxy = None
        try:
            wait_for(f"http://127.0.0.1:{roost_port}/healthz", roost, "roost serve")
            proxy = start_nginx(nginx, prefix, data_dir, nginx_port, roost_port,
                                args.server_cpu)
            wait_for(f"http://127.0.0.1:{nginx_port}{path}", proxy, "nginx")
            servers = {"roost": f"http://127.0.0.1:{roost_port}{path}",
                       "nginx": f"http://127.0.0.1:{nginx_port}{path}"}
            etags = {name: httpx.get(url).headers["etag"] for name, url in servers.items()}
            for round_number in range(args.rounds):
                for case in ("full", "not_modified"):
                    for name, url in servers.items():
                        headers = {"If-None-Match": etags[name]} if case == "not_modified" else {}
                        run = {"round": round_number, "case": case, "server": name,
                               **run_wrk(wrk, url, args, headers)}
                        log(f"{name:5} {case:12} {run['requests_per_s']:>9.0f} req/s")
                        result["runs"].append(run)
        finally:
            for process in (proxy, roost):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=15)
    result["load_after"] = loadavg()
    summary: dict[str, dict[str, float]] = {}
    for case in ("full", "not_modified"):
        summary[case] = {
            name: statistics.median(r["requests_per_s"] for r in result["runs"]
                                    if r["case"] == case and r["server"] == name)
            for name in ("roost", "nginx")}
    result["median_requests_per_s"] = summary
    # Roost and nginx ran back to back in each round: their ratio suffers less from other
    # load on a shared machine than either number alone.
    ratios = {case: statistics.median(
        nginx_run["requests_per_s"] / roost_run["requests_per_s"]
        for roost_run in result["runs"] for nginx_run in result["runs"]
        if roost_run["case"] == nginx_run["case"] == case
        and roost_run["round"] == nginx_run["round"]
        and (roost_run["server"], nginx_run["server"]) == ("roost", "nginx"))
        for case in ("full", "not_modified")}
    result["median_round_ratio"] = ratios
    out = write_results("file-serving", result)
    print("\n| answer | Roost (1 process) | nginx (1 worker) | nginx/Roost, median round |")
    print("| --- | ---: | ---: | ---: |")
    for case, label in (("full", "GET 100 KB, 200"), ("not_modified", "If-None-Match, 304")):
        roost_rps, nginx_rps = summary[case]["roost"], summary[case]["nginx"]
        print(f"| {label} | {roost_rps:,.0f} req/s | {nginx_rps:,.0f} req/s "
              f"| {ratios[case]:.1f}x |")
    print(f"results in {out}")
    print(json.dumps({"load_before": result["load_before"], "load_after": result["load_after"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
