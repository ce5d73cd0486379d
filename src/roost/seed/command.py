"""The `roost seed` command line (arguments and entry point).

Fills the configured database (migrated first, as `roost migrate` does) with a
synthetic network that looks real; docs/loadlab.md, "Seeding", says what it makes.
Refuses a database that already has accounts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as day_time
from pathlib import Path
from typing import TYPE_CHECKING

from roost.config import Settings

if TYPE_CHECKING:
    from roost.seed.generate import Network

DEFAULT_PASSWORD = "roost-seed-password"  # noqa: S105 - documented; seeded data only


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=_positive_int, default=1000, help="accounts to make")
    parser.add_argument(
        "--seed", type=int, default=1, help="same seed and sizes: the same network, byte for byte"
    )
    parser.add_argument(
        "--tokens",
        type=Path,
        default=None,
        metavar="FILE",
        help="write username, access token, account id and activity weight per user (TSV)",
    )
    parser.add_argument("--follows-mean", type=_non_negative, default=40.0,
                        help="mean follows per user (default 40)")
    parser.add_argument("--posts-mean", type=_non_negative, default=20.0,
                        help="mean statuses per user, boosts included (default 20)")
    parser.add_argument("--likes-mean", type=_non_negative, default=None,
                        help="mean likes per user (default: as many as --posts-mean)")
    parser.add_argument("--weeks", type=_positive_float, default=4.0,
                        help="posting history spans this many weeks before --end (default 4)")
    parser.add_argument("--password", default=DEFAULT_PASSWORD,
                        help=f"the password of every seeded user (default {DEFAULT_PASSWORD!r})")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="history ends at this midnight UTC, at the latest today's (the default)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="base of mention and hashtag links (default: https://ROOST_DOMAIN, "
        "else http://127.0.0.1:8000)",
    )
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="processes rendering status texts (default: one per CPU)")
    parser.add_argument(
        "--search-index", action="store_true",
        help="also build the status search index (about a third more time on PostgreSQL; "
        "without it, run `roost search reindex` before searching; docs/search.md)",
    )


def _fail(message: str) -> int:
    print(f"roost seed: {message}", file=sys.stderr)
    return 2


def _base_url(args: argparse.Namespace, settings: Settings) -> str:
    if args.base_url:
        return str(args.base_url).rstrip("/")
    if settings.domain:  # as api.context.base_url renders links for requests
        domain = settings.domain
        return domain.rstrip("/") if "://" in domain else f"https://{domain}"
    return "http://127.0.0.1:8000"


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import numpy  # noqa: F401  (the generator needs it)
    except ImportError:
        return _fail("needs numpy: pip install 'roost[lab]'")
    from roost.db import migrate
    from roost.ids import now_ms
    from roost.security import passwords
    from roost.seed import generate, rows

    if settings.is_sqlite:
        from roost.seed import load_sqlite as loader
    else:
        from roost.seed import load_postgres as loader  # type: ignore[no-redef]

    started = time.perf_counter()
    today = datetime.now(UTC).date()
    end_day = args.end if args.end is not None else today
    if end_day > today:
        return _fail("--end must not be in the future: seeded ids must sort before live ones")
    end_ms = int(datetime.combine(end_day, day_time(0, 0), tzinfo=UTC).timestamp() * 1000)
    if end_ms > now_ms():
        return _fail("--end must be in the past")
    if args.users < 2:
        return _fail("--users must be at least 2")

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    if loader.has_accounts(settings.database_url):
        return _fail(
            "the database already has accounts; seed an empty database "
            "(a new ROOST_DATA_DIR or a freshly created PostgreSQL database)"
        )

    params = generate.Params(
        users=args.users,
        seed=args.seed,
        end_ms=end_ms,
        follows_mean=args.follows_mean,
        posts_mean=args.posts_mean,
        weeks=args.weeks,
        likes_mean=args.likes_mean,
        base_url=_base_url(args, settings),
    )
    print(f"roost seed: generating {args.users:,} users (seed {args.seed})", file=sys.stderr)
    mark = time.perf_counter()
    net = generate.generate(params)
    generated_s = time.perf_counter() - mark
    shape = generate.shape(net)
    print(
        f"  generated in {generated_s:.1f} s: {int(shape['follows']):,} follows, "
        f"{int(shape['statuses']):,} statuses, {int(shape['favourites']):,} likes, "
        f"{int(shape['notifications']):,} notifications",
        file=sys.stderr,
    )
    ours = {net.application_id, *net.token_id.tolist()}
    if ours & loader.existing_ids(settings.database_url):
        return _fail("an application or token id already in the database would collide")

    passwords.configure(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    password_hash = asyncio.run(passwords.hash_password(args.password))
    tables = rows.tables(net, password_hash, loader.moment, workers=args.workers)
    print(f"roost seed: loading into {'SQLite' if settings.is_sqlite else 'PostgreSQL'}",
          file=sys.stderr)
    mark = time.perf_counter()
    timings = loader.load(settings.database_url, tables)
    loaded_s = time.perf_counter() - mark
    if args.search_index:
        _build_search_index(settings)

    if args.tokens is not None:
        write_tokens(args.tokens, net)
    total_s = time.perf_counter() - started
    print(
        f"Seeded {args.users:,} users: {sum(net.row_counts().values()):,} rows in {total_s:.1f} s "
        f"(generate {generated_s:.1f} s, load {loaded_s:.1f} s, slowest table "
        f"{max(timings, key=lambda k: timings[k])})"
    )
    print(
        "Shape: top 1% hold {top:.0%} of follows, median followers {median:.0f}, "
        "{never:.0%} never post, top 10% make {posters:.0%} of statuses, "
        "{recip:.0%} of follows are mutual, day/night posting {rhythm:.1f}x".format(
            top=shape["top1pct_follower_share"],
            median=shape["median_followers"],
            never=shape["never_posted_share"],
            posters=shape["top10pct_status_share"],
            recip=shape["reciprocity"],
            rhythm=shape["day_night_ratio"],
        )
    )
    if args.tokens is not None:
        print(f"Tokens: {args.tokens} (password of every user: {args.password!r})")
    return 0


def _build_search_index(settings: Settings) -> None:
    """Seeded statuses come without events, so the search_index consumer never sees
    them: the index is built here in bulk, or later by `roost search reindex`."""
    from roost.db.engine import Database
    from roost.search.index import build_in_bulk

    async def build() -> int:
        db = Database(settings.database_url)
        try:
            return await build_in_bulk(db, workers=os.cpu_count() or 1)
        finally:
            await db.dispose()

    mark = time.perf_counter()
    indexed = asyncio.run(build())
    print(f"  search index: {indexed:,} statuses in {time.perf_counter() - mark:.1f} s",
          file=sys.stderr)


def write_tokens(path: Path, net: Network) -> None:
    """username, access token, account id, activity weight; tab-separated, one per user.
    The file holds live credentials: it is written readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for username, token, account_id, weight in zip(
            net.usernames,
            net.tokens,
            net.account_id.tolist(),
            net.activity_weight.tolist(),
            strict=True,
        ):
            out.write(f"{username}\t{token}\t{account_id}\t{weight:.9g}\n")
    partial.replace(path)
