"""`roost trends prune`: deletes the trend inputs no score reads any more (tag_uses rows
and status candidates older than the scores' windows and a day; docs/trends.md,
"Pruning"). The event-log
reader does the same every ten minutes, a few batches at a time; this deletes a whole
backlog at once (after an upgrade, say). Only the standard library at import:
`roost --help` stays quick.

Exit codes: 0 done; 1 the database failed; 2 a schema that is behind (`roost migrate`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="trends_command", required=True, metavar="COMMAND")
    commands.add_parser("prune", help="delete trend inputs older than the scores read")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from roost.events.worker import CommandFailed, check_database, first_line

    try:
        check_database(settings)
        uses, candidates = asyncio.run(_prune(settings))
    except CommandFailed as exc:
        return _fail(str(exc), exc.code)
    except (SQLAlchemyError, OSError) as exc:
        return _fail(f"database error: {first_line(exc)}", 1)
    print(f"Pruned {uses:,} hashtag use{'' if uses == 1 else 's'}")
    print(f"Pruned {candidates:,} status candidate{'' if candidates == 1 else 's'}")
    return 0


async def _prune(settings: Settings) -> tuple[int, int]:
    from roost.clock import utcnow
    from roost.db.engine import Database
    from roost.trends.prune import prune_trend_inputs

    db = Database(settings.database_url)
    try:
        return await prune_trend_inputs(db, utcnow())
    finally:
        await db.dispose()


def _fail(message: str, code: int) -> int:
    print(f"roost trends: {message}", file=sys.stderr)
    return code
