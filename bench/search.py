"""Search latency on a seeded database: account prefix search, hashtag prefix search
and status full-text search, the very functions GET /api/v2/search calls, with the
plans that show which indexes they use (docs/search.md).

    createdb -h 127.0.0.1 -U postgres search_bench
    ROOST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/search_bench \\
        roost seed --users 100000 --search-index
    .venv/bin/python bench/search.py --database-url postgresql://postgres@127.0.0.1:5432/search_bench

    # SQLite: a seeded data dir's roost.db
    .venv/bin/python bench/search.py --database-url sqlite:////tmp/lab/roost.db

The database must be migrated (0009) and its search index built (`roost seed
--search-index` or `roost search reindex`); it is only read. Cases are drawn with a
fixed random seed from what the database holds: username prefixes of 1, 2 and 4
letters and whole usernames, display-name prefixes, tag-name prefixes, a common and a
rare word of the statuses' text, each searched by signed-in viewers drawn at random.
Each case runs `--repeat` times after one warm-up round; the times are of the whole
call (statement and rows), in this process. Then each case's statement is explained:
EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite. Results go to
bench/results/search-<database>-<date>.json and a table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from sqlalchemy import ClauseElement, func, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: E402

from roost.db.engine import Database  # noqa: E402
from roost.db.tables import accounts, statuses, tags  # noqa: E402
from roost.paging import Page  # noqa: E402
from roost.search import dialects  # noqa: E402
from roost.search.accounts import account_search_query, account_terms, search_accounts  # noqa: E402
from roost.search.queries import matching_status_ids, search_query, search_terms  # noqa: E402
from roost.search.tags import search_tags, tag_prefix, tag_search_query  # noqa: E402

LIMIT = 20
HOST = "bench.example"
_WORD = re.compile(r"[a-z]{4,}")


async def _pick_cases(conn: AsyncConnection, rng: random.Random) -> list[dict[str, Any]]:
    total = int((await conn.execute(select(func.count()).select_from(accounts))).scalar_one())
    offsets = [rng.randrange(total) for _ in range(40)]
    names = [
        (await conn.execute(select(accounts.c.username, accounts.c.display_name)
                            .order_by(accounts.c.id).offset(o).limit(1))).one()
        for o in offsets
    ]
    tag_total = int((await conn.execute(select(func.count()).select_from(tags))).scalar_one())
    tag_names = [
        str((await conn.execute(select(tags.c.name_lower).order_by(tags.c.id)
                                .offset(rng.randrange(tag_total)).limit(1))).scalar_one())
        for _ in range(20)
    ] if tag_total else []
    sample = (await conn.execute(
        select(statuses.c.text).where(statuses.c.reblog_of_id.is_(None))
        .order_by(statuses.c.id.desc()).limit(5000))).scalars().all()
    words = Counter(w for t in sample for w in set(_WORD.findall(t.lower())))
    common = [w for w, _ in words.most_common(5)]
    # How many documents hold a word, counted through the index, for a sample of the
    # less common words: rare (at most 20 documents) and middling (100 to 5,000).
    dialect = dialects.of(conn)
    counted: dict[str, int] = {}
    uncommon = sorted(w for w, n in words.items() if n <= 2)
    for w in rng.sample(uncommon, min(300, len(uncommon))):
        counted[w] = int((await conn.execute(
            select(func.count()).select_from(dialect.table).where(dialect.matches([w]))
        )).scalar_one())
    rare = [w for w, n in counted.items() if 0 < n <= 20][:20]
    middling = [w for w, n in counted.items() if 100 <= n <= 5000][:20]
    cases: list[dict[str, Any]] = []
    for size in (1, 2, 4):
        cases.append({"kind": "accounts", "case": f"username prefix, {size} letters",
                      "queries": [n.username[:size] for n in names]})
    cases.append({"kind": "accounts", "case": "whole username (exact match)",
                  "queries": [n.username for n in names]})
    cases.append({"kind": "accounts", "case": "display name, first word",
                  "queries": [(n.display_name.split() or [n.username])[0] for n in names]})
    if tag_names:
        cases.append({"kind": "hashtags", "case": "tag prefix, 2 letters",
                      "queries": [t[:2] for t in tag_names]})
        cases.append({"kind": "hashtags", "case": "whole tag name",
                      "queries": [f"#{t}" for t in tag_names]})
    cases.append({"kind": "statuses", "case": "common word", "queries": common})
    cases.append({"kind": "statuses", "case": "rare word (<= 20 documents)", "queries": rare})
    cases.append({"kind": "statuses", "case": "middling word (100-5,000 documents)",
                  "queries": middling})
    cases.append({"kind": "statuses", "case": "two common words",
                  "queries": [f"{a} {b}" for a, b in itertools.pairwise(common)]})
    return cases


def _runner(kind: str) -> Callable[[AsyncConnection, str, int], Awaitable[int]]:
    async def accounts_(conn: AsyncConnection, q: str, viewer: int) -> int:
        return len(await search_accounts(conn, q, viewer, local_host=HOST, limit=LIMIT))

    async def hashtags_(conn: AsyncConnection, q: str, viewer: int) -> int:
        return len(await search_tags(conn, q, limit=LIMIT))

    async def statuses_(conn: AsyncConnection, q: str, viewer: int) -> int:
        return len(await matching_status_ids(conn, q, viewer, Page(limit=LIMIT),
                                             searchable_only=True))

    return {"accounts": accounts_, "hashtags": hashtags_, "statuses": statuses_}[kind]


async def _statement(conn: AsyncConnection, kind: str, q: str, viewer: int
                     ) -> ClauseElement | None:
    if kind == "accounts":
        terms = account_terms(q, HOST)
        return None if terms is None else account_search_query(conn, terms, viewer, limit=LIMIT)
    if kind == "hashtags":
        prefix = tag_prefix(q)
        return None if prefix is None else tag_search_query(conn, prefix, limit=LIMIT)
    terms_ = search_terms(q)
    if not terms_:
        return None
    dialect = dialects.of(conn)
    few = await dialect.has_uncommon_term(conn, terms_)
    return search_query(dialect, terms_, viewer, Page(limit=LIMIT), searchable_only=True,
                        few_matches=few)


async def _explain(conn: AsyncConnection, statement: ClauseElement) -> list[str]:
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    sql = str(compiled)
    if conn.dialect.name == "postgresql":
        rows = await conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))
        return [str(row[0]) for row in rows]
    rows = await conn.execute(text("EXPLAIN QUERY PLAN " + sql))
    return [f"{row[0]}/{row[1]} {row[3]}" for row in rows]  # id/parent detail


async def run(url: str, repeat: int, seed: int, kinds: set[str]) -> dict[str, Any]:
    db = Database(url)
    rng = random.Random(seed)  # noqa: S311 (a reproducible draw, not a secret)
    results: dict[str, Any] = {"database_url": re.sub(r"//[^@/]*@", "//", url),
                               "dialect": "", "repeat": repeat, "limit": LIMIT, "cases": []}
    try:
        async with db.read() as conn:
            results["dialect"] = conn.dialect.name
            results["accounts"] = int((await conn.execute(
                select(func.count()).select_from(accounts))).scalar_one())
            results["statuses"] = int((await conn.execute(
                select(func.count()).select_from(statuses))).scalar_one())
            results["tags"] = int((await conn.execute(
                select(func.count()).select_from(tags))).scalar_one())
            cases = await _pick_cases(conn, rng)
            viewer_ids = [int(v) for v in (await conn.execute(
                select(accounts.c.id).order_by(func.random()).limit(50))).scalars()]
        for case in cases:
            if case["kind"] not in kinds:
                continue
            run_one = _runner(case["kind"])
            queries = [q for q in case["queries"] if q]
            if not queries:
                continue
            times: list[float] = []
            found: list[int] = []
            async with db.read() as conn:
                for q in queries:  # warm-up
                    await run_one(conn, q, viewer_ids[0])
                for n in range(repeat):
                    q = queries[n % len(queries)]
                    viewer = viewer_ids[n % len(viewer_ids)]
                    started = time.perf_counter()
                    found.append(await run_one(conn, q, viewer))
                    times.append((time.perf_counter() - started) * 1000)
                statement = await _statement(conn, case["kind"], queries[0], viewer_ids[0])
                plan = await _explain(conn, statement) if statement is not None else []
            times.sort()
            execution = [line for line in plan if line.startswith("Execution Time")]
            case_result = {
                "kind": case["kind"], "case": case["case"], "example": queries[0],
                "runs": len(times),
                "p50_ms": round(statistics.median(times), 3),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 3),
                "max_ms": round(times[-1], 3),
                "mean_results": round(sum(found) / len(found), 1),
                "explain_execution": execution[0] if execution else None,
                "plan": plan,
            }
            results["cases"].append(case_result)
            print(f"{case['kind']:9} {case['case']:32} p50 {case_result['p50_ms']:7.2f} ms"
                  f"  p95 {case_result['p95_ms']:7.2f} ms  max {case_result['max_ms']:7.2f} ms"
                  f"  results {case_result['mean_results']}", flush=True)
    finally:
        await db.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--kinds", default="accounts,hashtags,statuses",
                        help="which searches to measure (comma-separated)")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()
    results = asyncio.run(run(args.database_url, args.repeat, args.seed,
                              set(args.kinds.split(","))))
    results["date"] = datetime.now(UTC).date().isoformat()
    results["seconds"] = round(time.perf_counter() - started, 1)
    # Other work on the machine shows in the times: the load averages say how much.
    results["loadavg_before"] = [round(x, 2) for x in load_before]
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    name = f"search-{results['dialect']}-{results['accounts']}-{results['date']}.json"
    out = args.out or REPO / "bench" / "results" / name
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
