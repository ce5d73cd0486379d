"""`roost events`: look at the event log and repair it (docs/events-operations.md).

- `status [--json]`: each reader's backlog and lag, parked retries, dead letters.
- `dead list|replay|drop`: the events consumers gave up on (events.runner).
- `replay --since WHEN [--cursor NAME]`: hands recent events to the consumers again.

This module parses and prints; events.admin does the work. Exit codes: 0 done; 1 the
database failed, or a replayed dead letter failed again; 2 bad input, or a schema
that is behind (`roost migrate`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from roost.config import Settings
from roost.events.worker import CommandFailed, check_database, first_line, running_roost

if TYPE_CHECKING:
    from roost.db.engine import Database

ERROR_WIDTH = 60
DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


# --- arguments ------------------------------------------------------------------------


def _positive_int(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def _event_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**63:
        raise argparse.ArgumentTypeError(f"must be an event id (a positive number), not {raw!r}")
    return int(raw)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consumer", metavar="NAME", help="only this consumer's dead letters")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", metavar="ID", type=_event_id, help="only this event")
    which.add_argument("--all", action="store_true", help="every dead letter (of --consumer)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="events_command", required=True, metavar="COMMAND")

    status = commands.add_parser("status", help="backlog, lag, retries and dead letters")
    status.add_argument("--json", action="store_true", help="one JSON object, for machines")

    dead = commands.add_parser("dead", help="events the consumers gave up on")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True, metavar="COMMAND")
    listing = dead_commands.add_parser("list", help="show dead letters, oldest first")
    listing.add_argument("--consumer", metavar="NAME", help="only this consumer's")
    listing.add_argument("--limit", type=_positive_int, default=50, metavar="N",
                         help="at most N rows (default 50)")
    _add_selection(dead_commands.add_parser(
        "replay", help="run dead letters through their consumer again, now"))
    _add_selection(dead_commands.add_parser("drop", help="forget dead letters"))

    replay = commands.add_parser(
        "replay", help="hand the events written since a moment to the consumers again")
    replay.add_argument(
        "--since", required=True, metavar="WHEN",
        help="an ISO 8601 moment (2026-11-30T03:00:00Z) or a duration ago (15m, 2h, 1d)")
    replay.add_argument("--cursor", default=None, metavar="NAME",
                        help="the reader to move back (default: dispatcher on the outbox log, "
                        "relay on a broker)")


def parse_since(raw: str, now: datetime) -> datetime:
    """An ISO 8601 moment (UTC when it names no offset) or a duration before `now`."""
    match = DURATION.match(raw)
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise CommandFailed(
            f"--since must be an ISO 8601 moment (2026-11-30T03:00:00Z) or a duration "
            f"such as 15m, 2h or 1d, not {raw!r}"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now:
        raise CommandFailed(f"--since {raw} is in the future")
    return moment


def check_since(raw: str, settings: Settings, now: datetime) -> datetime:
    since = parse_since(raw, now)
    earliest = now - timedelta(hours=settings.event_retention_hours)
    if since < earliest:
        raise CommandFailed(
            f"--since {raw} is older than the outbox keeps events "
            f"(ROOST_EVENT_RETENTION_HOURS={settings.event_retention_hours}); the earliest "
            f"moment that can be replayed is {_iso(earliest)}")
    return since


def check_consumer(name: str | None) -> None:
    from roost.events.consumer import select

    if name is not None:
        try:
            select(name)
        except ValueError as exc:
            raise CommandFailed(f"--consumer: {exc}") from None
        if "," in name:
            raise CommandFailed("--consumer takes one name")


# --- printing -------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(max(int(seconds), 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def table(headers: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()
          ) -> str:
    """Columns aligned with spaces; the `numeric` ones to the right."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def events(count: int) -> str:
    return f"{count} event{'' if count == 1 else 's'}"


def one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render_status(status: dict[str, Any]) -> str:
    box = status["outbox"]
    oldest = (f", oldest {box['oldest_at']} ({age(box['oldest_age_seconds'])} ago)"
              if box["oldest_at"] else "")
    parts = [
        f"Event log: {status['event_log']}; the outbox keeps events "
        f"{status['retention_hours']} h",
        f"Outbox: {events(box['events'])}{oldest}",
        "",
        table(["reader", "backlog", "lag", "oldest unprocessed", "cursor moved"],
              [[r["name"], str(r["backlog"]), age(r["lag_seconds"]) if r["backlog"] else "-",
                r["oldest_unprocessed_at"] or "-", r["updated_at"] or "never"]
               for r in status["readers"]],
              frozenset({1, 2}))
        if status["readers"] else "No reader has read the outbox yet.",
        "",
        table(["consumer", "parked retries", "dead letters"],
              [[c["name"], str(c["parked_retries"]), str(c["dead_letters"])]
               for c in status["consumers"]],
              frozenset({1, 2})),
    ]
    if status["leases"]:
        parts += ["", table(
            ["lease", "holder", "expires"],
            [[lease["name"], lease["holder"],
              f"{lease['expires_at']}{'' if lease['live'] else ' (expired)'}"]
             for lease in status["leases"]])]
    return "\n".join(parts)


# --- commands -------------------------------------------------------------------------


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[int]]
                         ) -> int:
    from roost.db.engine import Database

    db = Database(settings.database_url)
    try:
        return await work(db)
    finally:
        await db.dispose()


async def status(args: argparse.Namespace, settings: Settings) -> int:
    from roost.events import admin

    async def work(db: Database) -> int:
        found = await admin.gather_status(db, settings)
        print(json.dumps(found, indent=2) if args.json else render_status(found))
        return 0

    return await _with_database(settings, work)


async def dead_list(args: argparse.Namespace, settings: Settings) -> int:
    from roost.events import admin

    async def work(db: Database) -> int:
        total, letters = await admin.dead_letters(db, args.consumer, None, args.limit)
        if not letters:
            print("No dead letters.")
            return 0
        print(table(
            ["consumer", "event", "type", "attempts", "failed at", "last error"],
            [[d.consumer, str(d.envelope.event_id), d.envelope.type, str(d.attempts),
              _iso(d.failed_at), one_line(d.last_error, ERROR_WIDTH)] for d in letters],
            frozenset({1, 3})))
        if total > len(letters):
            print(f"({len(letters)} of {total} shown; --limit shows more)")
        return 0

    return await _with_database(settings, work)


def _no_match(args: argparse.Namespace) -> CommandFailed:
    whose = f" of {args.consumer}" if args.consumer else ""
    return CommandFailed(f"no dead letter{whose} for event {args.event}")


OUTCOMES = {
    "applied": "applied; dead letter removed",
    "duplicate": "had been applied already; dead letter removed",
    "failed": "failed again; still a dead letter (see dead list)",
    "no-consumer": "skipped: this Roost has no consumer of that name",
}


async def dead_replay(args: argparse.Namespace, settings: Settings) -> int:
    from roost.events import admin

    async with running_roost(settings) as roost:
        replayed = await admin.replay_dead_letters(roost, args.consumer, args.event)
    if not replayed:
        if args.event is not None:
            raise _no_match(args)
        print("No dead letters.")
        return 0
    print(table(["consumer", "event", "type", "outcome"],
                [[r.letter.consumer, str(r.letter.envelope.event_id), r.letter.envelope.type,
                  OUTCOMES[r.outcome]] for r in replayed],
                frozenset({1})))
    failed = sum(1 for r in replayed if not r.succeeded)
    print(f"Replayed {len(replayed)}: {len(replayed) - failed} done, {failed} failed")
    return 1 if failed else 0


async def dead_drop(args: argparse.Namespace, settings: Settings) -> int:
    from roost.events import admin

    async def work(db: Database) -> int:
        dropped = await admin.drop_dead_letters(db, args.consumer, args.event)
        if not dropped and args.event is not None:
            raise _no_match(args)
        print(f"Dropped {dropped} dead letter{'' if dropped == 1 else 's'}")
        return 0

    return await _with_database(settings, work)


async def replay(args: argparse.Namespace, settings: Settings) -> int:
    from roost.events import admin

    since = check_since(args.since, settings, datetime.now(UTC))

    async def work(db: Database) -> int:
        done = await admin.rewind(db, args.cursor or admin.main_reader(settings), since)
        if not done.found:
            if args.cursor is not None:
                known = ", ".join(await admin.known_cursors(db)) or "none yet"
                raise CommandFailed(f"no reader cursor {args.cursor!r} (known: {known})")
            print(f"Nothing to replay: the {done.cursor} has not read anything yet "
                  f"({events(done.waiting)} waiting for it).")
        elif not done.moved:
            print(f"Nothing to replay: {done.cursor} has not read past {_iso(since)} yet "
                  f"({events(done.waiting)} waiting for it).")
        else:
            print(f"Moved {done.cursor} back to before {_iso(since)}: {events(done.again)} "
                  f"will be handed to the consumers again (they skip what they had "
                  f"applied); {events(done.waiting)} had not been handed on yet.")
        return 0

    return await _with_database(settings, work)


Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]
DEAD_COMMANDS: dict[str, Command] = {"list": dead_list, "replay": dead_replay, "drop": dead_drop}


def run(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    command: Command = {"status": status, "replay": replay}.get(args.events_command) or \
        DEAD_COMMANDS[args.dead_command]
    try:
        # Bad input is refused before any I/O.
        if args.events_command == "replay":
            check_since(args.since, settings, datetime.now(UTC))
        check_consumer(getattr(args, "consumer", None))
        check_database(settings)
        _log_to_stderr(settings)  # after migrating: Alembic's chatter stays out
        return asyncio.run(_run(command, args, settings))
    except CommandFailed as exc:
        return fail(str(exc), exc.code)
    except SQLAlchemyError as exc:
        return fail(f"database error: {first_line(exc)}", 1)


async def _run(command: Command, args: argparse.Namespace, settings: Settings) -> int:
    return await command(args, settings)


def _log_to_stderr(settings: Settings) -> None:
    """The runner logs what it does (a handler failing, a dead letter): on stderr, so
    that what the command prints (--json) stays clean."""
    import structlog

    from roost.observability.logging import configure_logging

    configure_logging(settings.log_level)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))


def fail(message: str, code: int = 2) -> int:
    print(f"roost events: {message}", file=sys.stderr)
    return code
