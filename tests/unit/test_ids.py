"""Ids: layout, ordering, the per-millisecond sequence, parsing, and uniqueness across
real processes that lease their node numbers from a shared database."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from array import array
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update

from roost.db.engine import Database
from roost.db.migrate import sync_url
from roost.db.nodes import LEASE_MS, NodeLease, NoFreeNode
from roost.db.tables import id_nodes
from roost.ids import (
    MAX_ID,
    MAX_SEQUENCE,
    NODE_COUNT,
    ROOST_EPOCH_MS,
    SHARD_COUNT,
    IdGenerator,
    compose_id,
    datetime_of,
    node_of,
    now_ms,
    parse_id,
    random_shard,
    shard_of,
    unix_ms_of,
)
from tests.support.services import migrated_database

T0 = 1_700_000_000_000  # a fixed moment in 2023, well inside the id range


class FakeClock:
    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


# --- layout and ordering ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("unix_ms", "shard", "node", "sequence"),
    [
        (ROOST_EPOCH_MS, 0, 0, 0),
        (T0, 1, 2, 3),
        (T0, SHARD_COUNT - 1, NODE_COUNT - 1, MAX_SEQUENCE),
        (ROOST_EPOCH_MS + (1 << 41) - 1, SHARD_COUNT - 1, NODE_COUNT - 1, MAX_SEQUENCE),
    ],
)
def test_compose_round_trips(unix_ms: int, shard: int, node: int, sequence: int) -> None:
    id_ = compose_id(unix_ms, shard, node, sequence)
    assert 0 <= id_ <= MAX_ID
    assert unix_ms_of(id_) == unix_ms
    assert shard_of(id_) == shard
    assert node_of(id_) == node
    assert id_ & MAX_SEQUENCE == sequence


def test_largest_id_fits_a_signed_bigint() -> None:
    largest = compose_id(ROOST_EPOCH_MS + (1 << 41) - 1, SHARD_COUNT - 1, NODE_COUNT - 1,
                         MAX_SEQUENCE)
    assert largest == MAX_ID


@pytest.mark.parametrize("unix_ms", [ROOST_EPOCH_MS - 1, ROOST_EPOCH_MS + (1 << 41), 0])
def test_timestamps_outside_the_range_are_rejected(unix_ms: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        compose_id(unix_ms, 0, 0, 0)


def test_time_dominates_every_other_field() -> None:
    # The newest possible id of one millisecond is older than the oldest of the next.
    assert compose_id(T0, SHARD_COUNT - 1, NODE_COUNT - 1, MAX_SEQUENCE) < compose_id(
        T0 + 1, 0, 0, 0
    )


def test_datetime_of() -> None:
    id_ = compose_id(T0 + 123, 5, 6, 7)
    assert datetime_of(id_) == datetime.fromtimestamp((T0 + 123) / 1000, tz=UTC)
    assert datetime_of(compose_id(ROOST_EPOCH_MS, 0, 0, 0)) == datetime(2020, 1, 1, tzinfo=UTC)


def test_ids_follow_the_clock() -> None:
    clock = FakeClock()
    generator = IdGenerator(3, clock=clock)
    made = []
    for step in range(50):
        clock.now = T0 + step * 7
        made.append(generator.next_id(step % SHARD_COUNT))
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert [unix_ms_of(i) for i in made] == [T0 + step * 7 for step in range(50)]
    assert {node_of(i) for i in made} == {3}
    assert [shard_of(i) for i in made] == [step % SHARD_COUNT for step in range(50)]


def test_real_clock_ids_are_near_now() -> None:
    before = now_ms()
    id_ = IdGenerator(0).next_id(0)
    after = now_ms()
    assert before <= unix_ms_of(id_) <= after


def test_sequence_counts_within_one_millisecond() -> None:
    generator = IdGenerator(9, clock=FakeClock())
    made = [generator.next_id(1) for _ in range(MAX_SEQUENCE + 1)]
    assert [i & MAX_SEQUENCE for i in made] == list(range(MAX_SEQUENCE + 1))
    assert {unix_ms_of(i) for i in made} == {T0}


def test_sequence_overflow_borrows_the_next_millisecond() -> None:
    clock = FakeClock()
    generator = IdGenerator(9, clock=clock)
    per_ms = MAX_SEQUENCE + 1
    made = [generator.next_id(1) for _ in range(per_ms * 3 + 1)]
    # The clock stood still, yet ids kept increasing by borrowing milliseconds ahead.
    assert all(a < b for a, b in pairwise(made))
    assert [unix_ms_of(i) for i in made] == [T0 + n // per_ms for n in range(len(made))]
    # The clock catches up only partly: ids stay increasing and never reuse a stamp.
    clock.now = T0 + 1
    more = [generator.next_id(1) for _ in range(per_ms)]
    assert all(a < b for a, b in pairwise([*made, *more]))
    assert unix_ms_of(more[0]) == T0 + 3
    # Once the clock passes the borrowed time, the sequence restarts at its moment.
    clock.now = T0 + 100
    later = generator.next_id(1)
    assert unix_ms_of(later) == T0 + 100
    assert later & MAX_SEQUENCE == 0
    assert later > more[-1]


def test_a_clock_going_backwards_never_repeats_an_id() -> None:
    clock = FakeClock(T0 + 1000)
    generator = IdGenerator(1, clock=clock)
    first = [generator.next_id(0) for _ in range(5)]
    clock.now = T0  # e.g. NTP stepped the clock back a second
    after = [generator.next_id(0) for _ in range(40)]
    sequence = [*first, *after]
    assert all(a < b for a, b in pairwise(sequence))


def test_ids_differ_between_shards_and_nodes_in_the_same_millisecond() -> None:
    clock = FakeClock()
    a = IdGenerator(1, clock=clock)
    b = IdGenerator(2, clock=clock)
    made = {a.next_id(0), b.next_id(0), a.next_id(0), b.next_id(0), a.next_id(5), b.next_id(5)}
    assert len(made) == 6


def test_id_at_stamps_a_past_moment_without_disturbing_next_id() -> None:
    clock = FakeClock()
    generator = IdGenerator(4, clock=clock)
    current = [generator.next_id(1) for _ in range(MAX_SEQUENCE)]
    past = [generator.id_at(T0 - 60_000, 1) for _ in range(2)]
    assert {unix_ms_of(i) for i in past} == {T0 - 60_000}
    # Ids stamped in the past must not rewind the live sequence of this millisecond.
    following = [generator.next_id(1) for _ in range(3)]
    everything = [*current, *following]
    assert len(set(everything)) == len(everything)
    assert everything == sorted(everything)


def test_id_at_is_unique_for_a_sequence_worth_of_ids() -> None:
    generator = IdGenerator(4, clock=FakeClock())
    past = [generator.id_at(T0 - 1, 2) for _ in range(MAX_SEQUENCE + 1)]
    assert len(set(past)) == MAX_SEQUENCE + 1
    assert {(unix_ms_of(i), shard_of(i), node_of(i)) for i in past} == {(T0 - 1, 2, 4)}


@pytest.mark.parametrize("node", [-1, NODE_COUNT, 1000])
def test_invalid_node_is_rejected(node: int) -> None:
    with pytest.raises(ValueError, match="node"):
        IdGenerator(node)


@pytest.mark.parametrize("shard", [-1, SHARD_COUNT, 5000])
def test_invalid_shard_is_rejected(shard: int) -> None:
    with pytest.raises(ValueError, match="shard"):
        IdGenerator(0).next_id(shard)


def test_random_shard_is_in_range() -> None:
    shards = {random_shard() for _ in range(2000)}
    assert shards <= set(range(SHARD_COUNT))
    assert len(shards) > 100  # spread, not constant


# --- parse_id --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        (1, 1),
        ("109876543210987654", 109876543210987654),
        (str(MAX_ID), MAX_ID),
        (MAX_ID, MAX_ID),
        ("007", 7),
        (True, None),
        (False, None),
        (0, None),
        ("0", None),
        (-1, None),
        ("-1", None),
        ("+1", None),
        (MAX_ID + 1, None),
        (str(MAX_ID + 1), None),
        ("99999999999999999999", None),
        ("1" * 40, None),
        ("", None),
        (" 12", None),
        ("12 ", None),
        ("12a", None),
        ("1_000", None),
        ("1e5", None),
        ("0x10", None),
        ("\u0661\u0662\u0663", None),  # Arabic-Indic digits: isdigit() is true
        ("\uff11\uff12\uff13", None),  # full-width digits
        ("\u00b2", None),  # superscript two
        (1.0, None),
        (None, None),
        ([1], None),
        (b"123", None),
    ],
)
def test_parse_id(raw: object, expected: int | None) -> None:
    assert parse_id(raw) == expected


# --- node leases against a real database ----------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lease_database_url(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database of each kind, used only by this module."""
    with migrated_database(request.param, tmp_path_factory.mktemp("ids")) as url:
        yield url


@pytest.fixture
async def db(lease_database_url: str) -> AsyncIterator[Database]:
    database = Database(lease_database_url)
    async with database.write() as conn:
        await conn.execute(update(id_nodes).values(holder="", expires_at_ms=0))
    yield database
    await database.dispose()


async def _occupy_all_but(db: Database, *free: int) -> None:
    """Leases every other node to a live process that is not part of the test."""
    async with db.write() as conn:
        await conn.execute(
            update(id_nodes)
            .where(id_nodes.c.node_id.not_in(free))
            .values(holder="someone-else", expires_at_ms=now_ms() + LEASE_MS)
        )


async def _row(db: Database, node: int) -> tuple[str, int]:
    async with db.read() as conn:
        row = (await conn.execute(
            select(id_nodes.c.holder, id_nodes.c.expires_at_ms)
            .where(id_nodes.c.node_id == node))).one()
    return row.holder, row.expires_at_ms


async def test_migration_provides_every_node(db: Database) -> None:
    async with db.read() as conn:
        nodes = (await conn.execute(select(id_nodes.c.node_id))).scalars().all()
    assert sorted(nodes) == list(range(NODE_COUNT))


async def test_leases_are_exclusive_and_renewable(db: Database) -> None:
    first, second = NodeLease(db), NodeLease(db)
    node = await first.acquire()
    holder, expires = await _row(db, node)
    assert holder == first.holder
    assert expires > now_ms()
    await _occupy_all_but(db, node)
    with pytest.raises(NoFreeNode):
        await second.acquire()
    assert await first.renew()
    await first.release()


async def test_release_makes_the_node_reusable(db: Database) -> None:
    first, second = NodeLease(db), NodeLease(db)
    node = await first.acquire()
    await _occupy_all_but(db, node)
    await first.release()
    assert first.node is None
    assert await second.acquire() == node
    await second.release()


async def test_an_expired_lease_is_taken_over(db: Database) -> None:
    dead, successor = NodeLease(db), NodeLease(db)
    node = await dead.acquire()
    await _occupy_all_but(db, node)
    # The holder stopped renewing (it died) and its lease ran out.
    async with db.write() as conn:
        await conn.execute(update(id_nodes).where(id_nodes.c.node_id == node)
                           .values(expires_at_ms=now_ms() - 1))
    assert await successor.acquire() == node
    assert (await _row(db, node))[0] == successor.holder
    # The old holder notices on its next renewal, and its release leaves the row alone.
    assert not await dead.renew()
    await dead.release()
    assert (await _row(db, node))[0] == successor.holder
    await successor.release()


async def test_release_keeps_the_node_until_borrowed_time_has_passed(db: Database) -> None:
    """A generator that borrowed milliseconds ahead of the clock must not hand its node
    to a successor that would stamp ids with those same milliseconds."""
    first, second = NodeLease(db), NodeLease(db)
    node = await first.acquire()
    await _occupy_all_but(db, node)
    # A burst far beyond 16 ids per millisecond (here a clock already ahead): the last
    # id issued is stamped with a moment the real clock has not reached yet.
    ahead = IdGenerator(node, clock=FakeClock(now_ms() + 60_000))
    issued = [ahead.next_id(0) for _ in range(100)]
    await first.release(free_after_ms=ahead.last_issued_ms)
    assert unix_ms_of(issued[-1]) == ahead.last_issued_ms
    with pytest.raises(NoFreeNode):
        await second.acquire()
    # Once that moment has passed, the node is free again.
    async with db.write() as conn:
        await conn.execute(update(id_nodes).where(id_nodes.c.node_id == node)
                           .values(expires_at_ms=now_ms() - 1))
    assert await second.acquire() == node
    await second.release()


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from array import array

    from roost.db.engine import Database
    from roost.db.nodes import NodeLease
    from roost.ids import IdGenerator

    async def main(url, count, out):
        db = Database(url)
        lease = NodeLease(db)
        try:
            node = await lease.acquire()
            print(node, flush=True)
            sys.stdin.readline()  # "go": every worker holds its lease now
            generator = IdGenerator(node)
            # One shard for all, so only the node keeps the processes' ids apart.
            ids = array("q", (generator.next_id(7) for _ in range(count)))
            with open(out, "wb") as handle:
                ids.tofile(handle)
            print("done", flush=True)
            sys.stdin.readline()  # "release": nobody is generating any more
            await lease.release(free_after_ms=generator.last_issued_ms)
        finally:
            await db.dispose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    """
)


def _free_all_nodes(url: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(update(id_nodes).values(holder="", expires_at_ms=0))
    finally:
        engine.dispose()


def test_ids_are_unique_across_processes(lease_database_url: str, tmp_path: Path) -> None:
    _free_all_nodes(lease_database_url)
    workers, per_worker = 4, 20_000
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    outputs = [tmp_path / f"ids-{n}.bin" for n in range(workers)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), lease_database_url, str(per_worker), str(out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for out in outputs
    ]
    try:
        # All lease concurrently; then all generate at the same time.
        nodes = []
        for process in processes:
            assert process.stdout is not None and process.stdin is not None
            line = process.stdout.readline().strip()
            assert line.isdigit(), process.stderr.read() if process.stderr else line
            nodes.append(int(line))
        assert len(set(nodes)) == workers, nodes
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "done"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("release\n")
            process.stdin.flush()
        for process in processes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    seen: set[int] = set()
    for node, out in zip(nodes, outputs, strict=True):
        ids = array("q")
        ids.frombytes(out.read_bytes())
        values = ids.tolist()
        assert len(values) == per_worker
        assert all(a < b for a, b in pairwise(values))
        assert {node_of(i) for i in values} == {node}
        assert {shard_of(i) for i in values} == {7}
        seen.update(values)
    assert len(seen) == workers * per_worker
