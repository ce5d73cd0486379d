"""The `roost bench` command line (arguments and entry point). See docs/loadlab.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

EXIT_USAGE = 2  # bad arguments or tokens file
EXIT_UNREACHABLE = 3  # the server did not answer, or refused the tokens


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--tokens", type=Path, required=True,
                        help="username<TAB>access_token[<TAB>account_id[<TAB>weight]] lines")
    parser.add_argument("--scenario", choices=("mixed", "mastodon", "home", "ceiling"),
                        default="mixed")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds the run lasts in all, warmup included (default 30)")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="first seconds of the run, sent but not counted (default 0)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="concurrent virtual users (default 16)")
    parser.add_argument("--out", type=Path, default=Path("bench-report"),
                        help="directory for report.json, report.md and plots")
    parser.add_argument("--compare", type=Path, metavar="OLD_DIR",
                        help="a previous --out directory to compare with")
    parser.add_argument("--seed", type=int, default=1, help="seed of the user/choice draws")
    parser.add_argument("--think-scale", type=float, default=1.0,
                        help="mean think time in seconds of the mastodon scenario "
                             "(exponential; 0 for none)")
    parser.add_argument("--cpu", type=int, metavar="N",
                        help="pin the load generator to CPU N (sched_setaffinity)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    parser.add_argument("--grace", type=float, default=5.0,
                        help="seconds in-flight requests get after the deadline (default 5)")
    parser.add_argument("--server-pid", type=int,
                        help="a local server's pid, to report its CPU use")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def _fail(message: str, code: int) -> int:
    print(f"roost bench: {message}", file=sys.stderr)
    return code


def _validate(args: argparse.Namespace) -> str | None:
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"--url {args.url!r} is not an http(s) URL"
    if args.duration <= 0:
        return "--duration must be > 0"
    if args.warmup < 0 or args.warmup >= args.duration:
        return "--warmup must be >= 0 and shorter than --duration (which includes it)"
    if args.concurrency < 1:
        return "--concurrency must be >= 1"
    if args.think_scale < 0:
        return "--think-scale must be >= 0"
    if args.timeout <= 0 or args.grace < 0:
        return "--timeout must be > 0 and --grace >= 0"
    return None


def _pin(cpu: int) -> str | None:
    if not hasattr(os, "sched_setaffinity"):
        return "--cpu needs Linux (os.sched_setaffinity)"
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        return f"--cpu {cpu}: not one of the CPUs this process may use {sorted(allowed)}"
    os.sched_setaffinity(0, {cpu})
    return None


def _loop_runner() -> tuple[str, Callable[[Coroutine[Any, Any, Any]], Any]]:
    try:
        import uvloop
    except ImportError:
        return "asyncio", asyncio.run

    def run_uvloop(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)

    return "uvloop", run_uvloop


def run(args: argparse.Namespace) -> int:
    from roost.loadtest.driver import BenchError, RunConfig, drive
    from roost.loadtest.report import (
        CompareError,
        build_report,
        compare,
        load_report,
        machine_info,
        write_reports,
    )
    from roost.loadtest.scenarios import ENDPOINTS, SCENARIOS
    from roost.loadtest.tokens import TokensError, load_tokens

    problem = _validate(args)
    if problem:
        return _fail(problem, EXIT_USAGE)
    try:
        users = load_tokens(args.tokens)
    except TokensError as exc:
        return _fail(str(exc), EXIT_USAGE)
    old = None
    if args.compare is not None:
        try:
            old = load_report(args.compare)
        except CompareError as exc:
            return _fail(str(exc), EXIT_USAGE)
    if args.cpu is not None:
        problem = _pin(args.cpu)
        if problem:
            return _fail(problem, EXIT_USAGE)

    config = RunConfig(url=args.url, users=users, scenario=args.scenario,
                       duration=args.duration, warmup=args.warmup,
                       concurrency=args.concurrency, seed=args.seed,
                       think_scale=args.think_scale, timeout=args.timeout, grace=args.grace,
                       server_pid=args.server_pid)
    loop_name, runner = _loop_runner()
    print(f"roost bench: {args.scenario} on {args.url}, {args.concurrency} virtual users, "
          f"{args.duration:g} s ({args.warmup:g} s warmup), {len(users)} users",
          file=sys.stderr, flush=True)
    try:
        result = runner(drive(config, SCENARIOS[args.scenario]))
    except BenchError as exc:
        return _fail(str(exc), EXIT_UNREACHABLE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)

    parameters = {
        "scenario": args.scenario, "duration": args.duration, "warmup": args.warmup,
        "concurrency": args.concurrency, "seed": args.seed, "think_scale": args.think_scale,
        "timeout": args.timeout, "grace": args.grace, "tokens": str(args.tokens),
        "users": len(users), "cpu": args.cpu, "url": args.url,
    }
    report = build_report(config, result, machine_info(args.url, loop_name, args.cpu),
                          parameters, ENDPOINTS[args.scenario])
    if old is not None:
        report["compare"] = compare(old, report, str(args.compare))
    write_reports(args.out, report)
    if not args.no_plots:
        from roost.loadtest.plots import write_plots

        write_plots(args.out, report)
    total = report["total"]
    print(f"roost bench: {total['requests']} requests, {total['throughput_rps']:.1f} req/s, "
          f"p99 {total['latency_ms']['p99']} ms, {total['errors']} errors; "
          f"report in {args.out / 'report.md'}", file=sys.stderr)
    return 0
