"""`roost media prune`: deletes uploads never attached to a status and older than a day,
with the files nothing else uses, then removes files no row names that are older than an
hour (the orphan sweep, media/orphans.py; docs/media.md). The same clean-up runs every hour
where the media consumer runs; this is for a one-off run or a cron job. Only the
standard library at import: `roost --help` stays quick.

Exit codes: 0 done; 1 the database failed; 2 a schema that is behind (`roost migrate`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.media.prune import Pruned


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="media_command", required=True, metavar="COMMAND")
    commands.add_parser("prune", help="delete unattached uploads older than a day, "
                                      "and files no row names")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from roost.events.worker import CommandFailed, check_database, first_line

    try:
        check_database(settings)
        pruned = asyncio.run(_prune(settings))
    except CommandFailed as exc:
        return _fail(str(exc), exc.code)
    except (SQLAlchemyError, OSError) as exc:
        return _fail(f"database error: {first_line(exc)}", 1)
    print(f"Pruned {_count(pruned.uploads, 'unattached upload')}; "
          f"removed {_count(pruned.orphans, 'orphaned file')}")
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


async def _prune(settings: Settings) -> Pruned:
    from roost.db.engine import Database
    from roost.media.prune import prune_and_sweep

    db = Database(settings.database_url)
    try:
        return await prune_and_sweep(db, settings)
    finally:
        await db.dispose()


def _fail(message: str, code: int) -> int:
    print(f"roost media: {message}", file=sys.stderr)
    return code
