"""The `roost` command: serve, migrate, createuser, seed, bench, worker, events, stats,
search, media, trends."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys

from roost.config import ConfigError, Settings, load_settings

KEEP_ALIVE_S = 65


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # Metrics from several worker processes are merged through files in this directory;
    # it must be set before prometheus_client is first imported, and emptied at start.
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # Read by each worker's settings: an in-process object cache is only right when one
    # process serves every request (config.Settings.serve_processes).
    if settings.object_cache == "local" and args.workers > 1:
        print("roost: ROOST_OBJECT_CACHE=local needs --workers 1 (use redis for several)",
              file=sys.stderr)
        return 2
    os.environ["ROOST_SERVE_PROCESSES"] = str(args.workers)

    import uvicorn

    from roost.db.migrate import SchemaBehind, prepare_database
    from roost.observability.logging import configure_logging

    configure_logging(settings.log_level)
    try:
        prepare_database(settings)
    except SchemaBehind as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{args.port}"
    print(f"Roost is starting on {url}", flush=True)
    print("Create an account with: roost createuser NAME --email E --password P", flush=True)
    uvicorn.run(
        "roost.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        proxy_headers=True,
        # Longer than a client or load balancer keeps an idle connection (60 s is the
        # common default): with uvicorn's 5 s, a client reusing a connection just as
        # the server closed it got "Remote end closed connection without response".
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=10,
    )
    return 0


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from roost.db import migrate

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    print(f"Database is at revision {migrate.current_revision(settings.database_url)}")
    return 0


async def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from roost.accounts import operations, validation
    from roost.db.engine import Database
    from roost.db.migrate import SchemaBehind, prepare_database
    from roost.db.nodes import NodeLease
    from roost.errors import ApiError
    from roost.ids import IdGenerator
    from roost.security import passwords

    passwords.configure(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    try:
        prepare_database(settings)
    except SchemaBehind as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    problems = validation.Problems()
    validation.check_username(problems, args.name)
    validation.check_email(problems, args.email)
    validation.check_password(problems, args.password)
    db = Database(settings.database_url)
    lease = NodeLease(db)
    ids: IdGenerator | None = None
    try:
        problems.raise_if_any()
        ids = IdGenerator(await lease.acquire())
        new = operations.NewAccount(
            username=args.name,
            email=args.email,
            password_hash=await passwords.hash_password(args.password),
            admin=args.admin,
        )
        async with db.write() as conn:
            account_id = await operations.create_account(conn, ids, new)
    except ApiError as exc:
        print(f"roost: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await lease.release(free_after_ms=ids.last_issued_ms if ids else 0)
        await db.dispose()
    print(f"Created @{args.name} (id {account_id}){' as an admin' if args.admin else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roost", description="Roost social network server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1, help="worker processes")

    commands.add_parser("migrate", help="bring the database schema up to date")

    create = commands.add_parser("createuser", help="create a local account")
    create.add_argument("name")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--admin", action="store_true")

    # Each of these modules owns its arguments; they import nothing heavy at this point.
    from roost.analytics import report as stats_command
    from roost.events import cli as events_command
    from roost.events import worker as worker_command
    from roost.loadtest import command as bench_command
    from roost.media import cli as media_command
    from roost.search import cli as search_command
    from roost.seed import command as seed_command
    from roost.trends import cli as trends_command

    seed_command.add_arguments(
        commands.add_parser("seed", help="fill the database with a realistic synthetic network")
    )
    bench_command.add_arguments(
        commands.add_parser("bench", help="put a bounded load on a running server, and report")
    )
    worker_command.add_arguments(
        commands.add_parser("worker", help="run the event consumers (until SIGTERM)")
    )
    events_command.add_arguments(
        commands.add_parser("events", help="the event log: status, dead letters, replays")
    )
    stats_command.add_arguments(
        commands.add_parser("stats", help="daily active accounts, posts, sign-ups (analytics)")
    )
    search_command.add_arguments(
        commands.add_parser("search", help="the status search index: reindex")
    )
    media_command.add_arguments(
        commands.add_parser("media", help="media attachments: prune unattached uploads")
    )
    trends_command.add_arguments(
        commands.add_parser("trends", help="trends: prune hashtag uses no score reads")
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":  # a client of some server: needs no settings of its own
        from roost.loadtest import command as bench_command

        return bench_command.run(args)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "migrate":
        return _migrate(args, settings)
    if args.command == "seed":
        from roost.seed import command as seed_command

        return seed_command.run(args, settings)
    if args.command == "worker":
        from roost.events import worker as worker_command

        return worker_command.run(args, settings)
    if args.command == "stats":
        from roost.analytics import report as stats_command

        return stats_command.run(args, settings)
    if args.command == "events":
        from roost.events import cli as events_command

        return events_command.run(args, settings)
    if args.command == "search":
        from roost.search import cli as search_command

        return search_command.run(args, settings)
    if args.command == "media":
        from roost.media import cli as media_command

        return media_command.run(args, settings)
    if args.command == "trends":
        from roost.trends import cli as trends_command

        return trends_command.run(args, settings)
    return asyncio.run(_create_user(args, settings))


if __name__ == "__main__":
    sys.exit(main())
