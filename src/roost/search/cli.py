"""`roost search reindex [--batch N]`: rebuilds the search index from the statuses
(docs/search.md). Only the standard library at import: `roost --help` stays quick.

Exit codes: 0 done; 1 the database failed; 2 bad input, or a schema that is behind
(`roost migrate`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.search.index import Reindexed

DEFAULT_BATCH = 5000


def _batch(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 1000000, not {raw!r}")
    return int(raw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="search_command", required=True, metavar="COMMAND")
    reindex = commands.add_parser(
        "reindex", help="rebuild the status search index from the statuses, in batches")
    reindex.add_argument("--batch", type=_batch, default=DEFAULT_BATCH, metavar="N",
                         help=f"statuses per transaction (default {DEFAULT_BATCH})")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from roost.events.worker import CommandFailed, check_database, first_line

    try:
        check_database(settings)
        started = time.perf_counter()
        done = asyncio.run(_reindex(settings, args.batch))
    except CommandFailed as exc:
        return _fail(str(exc), exc.code)
    except (SQLAlchemyError, OSError) as exc:
        return _fail(f"database error: {first_line(exc)}", 1)
    seconds = time.perf_counter() - started
    print(f"Indexed {done.statuses:,} statuses in {done.batches:,} "
          f"batch{'' if done.batches == 1 else 'es'} of up to {args.batch:,} "
          f"({seconds:.1f} s)")
    return 0


async def _reindex(settings: Settings, batch: int) -> Reindexed:
    from roost.db.engine import Database
    from roost.search.index import reindex_all

    db = Database(settings.database_url)
    try:
        return await reindex_all(db, batch)
    finally:
        await db.dispose()


def _fail(message: str, code: int) -> int:
    print(f"roost search: {message}", file=sys.stderr)
    return code
