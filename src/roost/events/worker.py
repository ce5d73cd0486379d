"""`roost worker`: the event consumers in a process of their own.

It builds the same context as `roost serve` (database, id node, id generator), starts
the services of the configured event log for the selected consumers
(events.backends.build) and runs until SIGTERM or SIGINT. Then it stops each service
gracefully (the dispatcher finishes the event in hand), gives back its id node and
exits 0. Run it with ROOST_SERVE_CONSUMERS=off on the servers, any number of times
over: on the outbox log one worker at a time holds the dispatcher lease, the others
wait as stand-bys (events.leases).

Exit codes: 0 after a graceful stop; 1 when the database cannot be reached; 2 for a
bad --only, a schema that is behind (`roost migrate`), or an event log this Roost
cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from roost.config import Settings

# The heavy imports wait for the command to run: `roost --help` builds every
# subcommand's arguments and should stay quick.
if TYPE_CHECKING:
    from roost.context import Roost
    from roost.events.consumer import Consumer


class CommandFailed(Exception):
    """An expected problem: its message is for the operator, its code for the shell."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", metavar="NAME[,NAME...]", default=None,
        help="run only these consumers (default: all of them)",
    )
    parser.add_argument(
        "--port", type=int, default=None,
        help="serve /healthz, /readyz and /metrics on this port (default: no HTTP)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="with --port (default 127.0.0.1)")


def check_database(settings: Settings) -> None:
    """migrate.prepare_database, as `roost serve` runs it (SQLite migrates itself,
    PostgreSQL must be up to date); raises CommandFailed when the database is
    unreachable or behind."""
    from sqlalchemy.exc import SQLAlchemyError

    from roost.db import migrate

    try:
        migrate.prepare_database(settings)
    except migrate.SchemaBehind as exc:
        raise CommandFailed(str(exc)) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise CommandFailed(f"cannot reach the database: {first_line(exc)}", code=1) from exc


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@asynccontextmanager
async def running_roost(settings: Settings) -> AsyncIterator[Roost]:
    """The context app.py's lifespan builds, for a process without the web app: a
    database and a leased id node (consumers write rows with new ids)."""
    from sqlalchemy.exc import SQLAlchemyError

    from roost.cache.objects import object_cache_for
    from roost.context import Roost
    from roost.db.engine import Database
    from roost.db.nodes import NodeLease
    from roost.ids import IdGenerator
    from roost.redis_client import shared_client

    db = Database(settings.database_url)
    lease = NodeLease(db)
    ids: IdGenerator | None = None
    try:
        try:
            node = await lease.acquire()
        except (SQLAlchemyError, OSError) as exc:
            raise CommandFailed(f"cannot reach the database: {first_line(exc)}", code=1) from exc
        lease.start_renewing()
        ids = IdGenerator(node)
        redis = shared_client(settings)
        try:
            roost = Roost(settings=settings, db=db, ids=ids, redis=redis)
            db.object_cache = object_cache_for(roost, serves_reads=False)
            yield roost
        finally:
            if redis is not None:
                await redis.aclose()
    finally:
        try:
            await lease.release(free_after_ms=ids.last_issued_ms if ids else 0)
        finally:
            await db.dispose()


SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop_on_signals() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT. The handlers are removed once the
    graceful stop begins, so that a second signal acts as it normally does (ends the
    process) for an operator who will not wait."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    return stop


def _default_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        loop.remove_signal_handler(signum)


async def serve(settings: Settings, consumers: list[Consumer], *, host: str = "127.0.0.1",
                port: int | None = None) -> None:
    import structlog

    from roost.events import backends

    log = structlog.get_logger(__name__)
    stop = _stop_on_signals()
    try:
        async with running_roost(settings) as roost:
            try:
                services = backends.build(roost, consumers)
            except NotImplementedError as exc:
                raise CommandFailed(f"ROOST_EVENT_LOG={settings.event_log}: {exc}") from exc
            names = [c.name for c in consumers]
            health = None
            if port is not None:
                from roost.events.health import HealthServer

                health = HealthServer(roost, host, port)
                try:
                    await health.start()
                except (OSError, SystemExit) as exc:
                    raise CommandFailed(f"--port {port}: cannot listen ({exc})") from exc
            for service in services:
                service.start()
            log.info("event worker started", event_log=settings.event_log, consumers=names,
                     node=roost.ids.node, port=port)
            try:
                await stop.wait()
            finally:
                _default_signals()
                log.info("event worker stopping", consumers=names)
                for service in services:
                    await service.stop()
                if health is not None:
                    await health.stop()
    finally:
        _default_signals()  # again if it failed before the wait (removing is idempotent)
    log.info("event worker stopped", consumers=names)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from roost.events.consumer import select
    from roost.observability.logging import configure_logging

    try:
        consumers = select(args.only)
    except ValueError as exc:  # an unknown name
        return fail(f"--only: {exc}")
    if not consumers:
        return fail("--only names no consumer")
    try:
        check_database(settings)
        configure_logging(settings.log_level)  # after migrating: Alembic's chatter stays out
        if args.port is not None and not 1 <= args.port <= 65535:
            return fail("--port must be 1 to 65535")
        asyncio.run(serve(settings, consumers, host=args.host, port=args.port))
    except CommandFailed as exc:
        return fail(str(exc), exc.code)
    except KeyboardInterrupt:  # a second Ctrl-C during the graceful stop
        return fail("interrupted before the consumers had stopped", 130)
    return 0


def fail(message: str, code: int = 2) -> int:
    print(f"roost worker: {message}", file=sys.stderr)
    return code
