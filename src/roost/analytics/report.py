"""`roost stats`: the analytics consumer's daily numbers, newest day first. (Only the
standard library at import: `roost --help` stays quick.)"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.analytics.queries import Day
    from roost.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.days <= 3660:
        print("roost stats: --days must be 1 to 3660", file=sys.stderr)
        return 2

    from roost.analytics.queries import METRICS, daily
    from roost.db.engine import Database

    async def main() -> list[Day]:
        db = Database(settings.database_url)
        try:
            return await daily(db, args.days)
        finally:
            await db.dispose()

    days = asyncio.run(main())
    if args.json:
        print(json.dumps([asdict(d) for d in days], indent=1))
        return 0
    header = ("day", "active", *METRICS)
    print("  ".join(f"{h:>10}" for h in header))
    for d in days:
        row = (d.day, d.active_accounts, d.posts, d.signups, d.likes, d.boosts, d.follows)
        print("  ".join(f"{v:>10}" for v in row))
    return 0
