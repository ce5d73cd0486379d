"""Bulk loading into PostgreSQL: COPY into tables stripped of their secondary indexes,
each table committed on its own (the first with the index drops), and each table's
indexes rebuilt on other connections while the next tables load; then ANALYZE (the
technique of bench/explain_hot_queries.py).

Foreign keys are not checked row by row (session_replication_role = replica, when the
role may set it): the rows are consistent by construction, and the unique indexes
rebuilt afterwards still check every uniqueness rule the schema has. Primary keys that
foreign keys point at stay in place during the COPY; rows come in id order, so their
B-trees grow at the right edge.
"""

from __future__ import annotations

import contextlib
import queue
import struct
import sys
import threading
import time
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from roost.seed.progress import Progress, Step
from roost.seed.rows import Block, TableRows

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
BINARY_TRAILER = struct.pack(">h", -1)
PG_EPOCH_MS = 946_684_800_000  # timestamptz counts microseconds from 2000-01-01 UTC
BLOCK_ROWS = 1_000_000
# Index builds run on this many connections of their own, each sorting in this much
# memory (PostgreSQL's, split with its parallel workers).
INDEX_CONNECTIONS = 2
INDEX_MEMORY = "1GB"
LOAD_LAST = ("statuses", "status_stats", "mentions", "status_tags")
_SIZES = {"q": ">i8", "i": ">i4", "b": "u1", "ts": ">i8"}


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as libpq takes it."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def moment(ms: int) -> str:
    """timestamptz input for COPY: ISO 8601 with an explicit UTC offset."""
    seconds, millis = divmod(ms, 1000)
    return f"{_utc(seconds)}.{millis:03d}+00"


def _utc(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def binary_rows(block: Block, lo: int, hi: int) -> bytes:
    """Rows lo..hi of a block in COPY's binary format: every row has the same layout,
    so one numpy record array is the whole message."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for j, column in enumerate(block):
        fields.append((f"len{j}", ">i4"))
        if column.kind == "t":
            fields.append((f"val{j}", f"S{len(column.values.encode())}"))
        elif column.kind != "n":
            fields.append((f"val{j}", _SIZES[column.kind]))
    records = np.empty(hi - lo, dtype=fields)
    records["count"] = len(block)
    for j, column in enumerate(block):
        if column.kind == "n":
            records[f"len{j}"] = -1
        elif column.kind == "t":
            records[f"len{j}"] = len(column.values.encode())
            records[f"val{j}"] = column.values.encode()
        elif isinstance(column.values, np.ndarray):
            values = column.values[lo:hi]
            if column.kind == "ts":
                values = (values - PG_EPOCH_MS) * 1000
            records[f"len{j}"] = np.dtype(_SIZES[column.kind]).itemsize
            records[f"val{j}"] = values
        else:  # a constant
            records[f"len{j}"] = np.dtype(_SIZES[column.kind]).itemsize
            records[f"val{j}"] = column.values
    return records.tobytes()


def _block_rows(block: Block) -> int:
    for column in block:
        if isinstance(column.values, np.ndarray):
            return int(column.values.size)
    raise ValueError("a block needs one array column")


def _drop_secondary_indexes(
    cur: psycopg.Cursor[Any], names: list[str]
) -> list[tuple[str, str]]:
    """Drops the indexes of the tables that back no constraint; returns (table, DDL)."""
    cur.execute(
        "SELECT ic.relname, pg_get_indexdef(i.indexrelid), t.relname FROM pg_index i"
        " JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
        " JOIN pg_namespace ns ON ns.oid = t.relnamespace"
        " WHERE t.relname = ANY(%s) AND ns.nspname = current_schema() AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        (names,),
    )
    found = cur.fetchall()
    for name, _, _ in found:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [(table, definition) for _, definition, table in found]


def _drop_unreferenced_keys(
    cur: psycopg.Cursor[Any], names: list[str]
) -> list[tuple[str, str]]:
    """Drops the primary keys and unique constraints of `names` that no foreign key
    points at (those of the edge and counter tables, the unique names, e-mails and
    token digests); returns (table, the statement that puts it back). Building a
    B-tree from all the rows at once is several times faster than growing it row by
    row, and rebuilding it still checks that every key is unique."""
    cur.execute(
        "SELECT t.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k"
        " JOIN pg_class t ON t.oid = k.conrelid"
        " JOIN pg_namespace ns ON ns.oid = t.relnamespace"
        " WHERE k.contype IN ('p', 'u') AND t.relname = ANY(%s)"
        " AND ns.nspname = current_schema()"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint f"
        "                 WHERE f.contype = 'f' AND f.conindid = k.conindid)",
        (names,),
    )
    restore = []
    for table, name, definition in cur.fetchall():
        cur.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
        restore.append((
            table,
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(table), sql.Identifier(name)
            ).as_string(cur)
            + definition,
        ))
    return restore


def has_accounts(url: str) -> bool:
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone() is not None


def existing_ids(url: str) -> set[int]:
    """Ids of the rows a server may have made before seeding without any account."""
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute("SELECT id FROM applications UNION ALL SELECT id FROM access_tokens")
        return {int(row[0]) for row in rows.fetchall()}


class IndexBuilder:
    """Builds the indexes of loaded (committed) tables on connections of its own, in
    threads, while the next tables load: PostgreSQL sorts for an index on one core
    while it parses COPY on the other."""

    def __init__(self, url: str, connections: int) -> None:
        self.url = url
        self.jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.errors: list[BaseException] = []
        self.seconds: dict[str, float] = {}
        self.lock = threading.Lock()
        self.connections: list[psycopg.Connection[Any]] = []
        self.threads = [
            threading.Thread(target=self._run, name=f"seed-index-{i}", daemon=True)
            for i in range(connections)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, table: str, definitions: list[str]) -> None:
        for definition in definitions:
            self.jobs.put((table, definition))

    def _run(self) -> None:
        try:
            with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
                with self.lock:
                    self.connections.append(conn)
                conn.execute(f"SET maintenance_work_mem = '{INDEX_MEMORY}'")
                conn.execute("SET synchronous_commit = off")
                while True:
                    job = self.jobs.get()
                    if job is None:
                        return
                    if self.errors:
                        continue  # drain: a failure stops the work
                    table, definition = job
                    started = time.perf_counter()
                    conn.execute(definition.encode())  # pg_get_indexdef output
                    with self.lock:
                        self.seconds[table] = (
                            self.seconds.get(table, 0.0) + time.perf_counter() - started
                        )
        except BaseException as error:  # handed to the loading thread
            with self.lock:
                self.errors.append(error)

    def finish(self) -> dict[str, float]:
        """Waits for every index; raises the first failure."""
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]
        return dict(self.seconds)

    def abort(self) -> None:
        """Stops: the builds under way are cancelled, the others not started."""
        with self.lock:
            self.errors.append(RuntimeError("loading failed"))
            connections = list(self.connections)
        for _ in self.threads:
            self.jobs.put(None)
        for conn in connections:
            with contextlib.suppress(psycopg.Error):
                conn.cancel_safe()
        for thread in self.threads:
            thread.join()


def _copy_table(cur: psycopg.Cursor[Any], table: TableRows) -> float:
    progress = Progress(table.name, table.count)
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    if table.blocks is not None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table.name), columns
        )
        with cur.copy(statement) as copy:
            copy.write(BINARY_HEADER)
            for block in table.blocks():
                size = _block_rows(block)
                for lo in range(0, size, BLOCK_ROWS):
                    hi = min(size, lo + BLOCK_ROWS)
                    copy.write(binary_rows(block, lo, hi))
                    progress.advance(hi - lo)
            copy.write(BINARY_TRAILER)
    elif table.copy_text is not None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), columns
        )
        with cur.copy(statement) as copy:
            for data in table.copy_text():
                copy.write(data)
                progress.advance(data.count(b"\n"))
    else:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), columns
        )
        with cur.copy(statement) as copy:
            for batch in table.batches():
                for row in batch:
                    copy.write_row(row)
                progress.advance(len(batch))
    return progress.finish()


def load(url: str, tables: list[TableRows]) -> dict[str, float]:
    """COPYs every table; returns seconds per table and per step.

    The first transaction drops the indexes to rebuild and loads the first table
    (accounts), so a failure before then leaves the database as it was; every table
    after it is committed on its own, and its indexes are built (by IndexBuilder)
    while the next ones load. A failure after the first table leaves a half-seeded
    database, which a new `roost seed` refuses (it has accounts): drop it."""
    timings: dict[str, float] = {}
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        # Without the privilege foreign keys are checked: slower, same result.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET session_replication_role = replica")
            # Unchecked, the statuses can come last: the longest load (their texts)
            # then covers the biggest index builds (notifications, follows) rather
            # than those running alone at the end.
            tables = [t for t in tables if t.name not in LOAD_LAST] + [
                t for t in tables if t.name in LOAD_LAST
            ]
        conn.execute("SET synchronous_commit = off")
        conn.autocommit = False
        with conn.cursor() as cur:
            names = [t.name for t in tables]
            rebuild: dict[str, list[str]] = {}
            dropped = _drop_secondary_indexes(cur, names)
            dropped += _drop_unreferenced_keys(cur, names)
            for table_name, definition in dropped:
                rebuild.setdefault(table_name, []).append(definition)
            builder = IndexBuilder(url, INDEX_CONNECTIONS)
            try:
                for table in tables:
                    timings[table.name] = _copy_table(cur, table)
                    conn.commit()
                    builder.submit(table.name, rebuild.pop(table.name, []))
                step = Step(f"{len(dropped)} indexes (the rest)")
                built = builder.finish()
            except BaseException:
                builder.abort()
                raise
            timings["indexes"] = step.finish()
            for table_name, seconds in built.items():
                timings[f"indexes of {table_name}"] = seconds
            print(
                "  index builds (while loading): "
                + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in built.items()),
                file=sys.stderr,
            )
        conn.autocommit = True
        conn.execute("RESET session_replication_role")
        step = Step("analyze")
        conn.execute("ANALYZE")
        timings["analyze"] = step.finish()
    return timings
