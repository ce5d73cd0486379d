"""64-bit, time-ordered identifiers that carry the owning account's logical shard.

Layout, most significant bit first (the sign bit stays 0 so ids fit a signed BIGINT):

    | 1 sign | 41 ms since ROOST_EPOCH | 10 logical shard | 8 node | 4 sequence |

- Time first, so ids sort by creation time and max_id/since_id/min_id and Redis
  scores follow time. 41 bits of milliseconds last until 2089.
- The logical shard (0..1023) of the account that owns the row, so any id can be
  routed to its database without a lookup (scaling step 4).
- The node (0..255) is leased from the database when a process starts
  (db/nodes.py), so two processes never share one: ids are unique across
  processes without a central id service on the write path.
- The sequence counts ids within one millisecond. When 16 are used up the
  generator borrows the next millisecond (as Snowflake does) instead of sleeping,
  and the clock catches up.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

ROOST_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
TIMESTAMP_BITS = 41
SHARD_BITS = 10
NODE_BITS = 8
SEQUENCE_BITS = 4

SEQUENCE_SHIFT = 0
NODE_SHIFT = SEQUENCE_BITS
SHARD_SHIFT = NODE_SHIFT + NODE_BITS
TIMESTAMP_SHIFT = SHARD_SHIFT + SHARD_BITS

SHARD_COUNT = 1 << SHARD_BITS
NODE_COUNT = 1 << NODE_BITS
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_ID = (1 << 63) - 1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class IdGenerator:
    """Makes ids for one process; `node` must be unique among live processes."""

    def __init__(self, node: int, clock: Callable[[], int] = now_ms) -> None:
        if not 0 <= node < NODE_COUNT:
            raise ValueError(f"node must be in 0..{NODE_COUNT - 1}, got {node}")
        self.node = node
        self._clock = clock
        self._last_ms = 0
        self._sequence = 0
        self._past_sequence = 0  # id_at's own counter: it must not rewind next_id's
        self._lock = threading.Lock()

    @property
    def last_issued_ms(self) -> int:
        """The moment stamped on the latest id; ahead of the clock after borrowing, so
        the node must not be handed to another process before then (db/nodes.py)."""
        return self._last_ms

    def next_id(self, shard: int) -> int:
        if not 0 <= shard < SHARD_COUNT:
            raise ValueError(f"shard must be in 0..{SHARD_COUNT - 1}, got {shard}")
        with self._lock:
            current = self._clock()
            if current > self._last_ms:
                self._last_ms = current
                self._sequence = 0
            elif self._sequence < MAX_SEQUENCE:
                self._sequence += 1
            else:
                # Out of sequence numbers in this millisecond: borrow the next one.
                self._last_ms += 1
                self._sequence = 0
            return compose_id(self._last_ms, shard, self.node, self._sequence)

    def id_at(self, moment_ms: int, shard: int) -> int:
        """An id stamped with a past moment (bulk loading history); unique per node."""
        with self._lock:
            self._past_sequence = (self._past_sequence + 1) & MAX_SEQUENCE
            return compose_id(moment_ms, shard, self.node, self._past_sequence)


def compose_id(unix_ms: int, shard: int, node: int, sequence: int) -> int:
    elapsed = unix_ms - ROOST_EPOCH_MS
    if not 0 <= elapsed < (1 << TIMESTAMP_BITS):
        raise ValueError(f"timestamp {unix_ms} is outside Roost's id range")
    return (
        (elapsed << TIMESTAMP_SHIFT)
        | (shard << SHARD_SHIFT)
        | (node << NODE_SHIFT)
        | (sequence << SEQUENCE_SHIFT)
    )


def shard_of(id_: int) -> int:
    return (id_ >> SHARD_SHIFT) & (SHARD_COUNT - 1)


def node_of(id_: int) -> int:
    return (id_ >> NODE_SHIFT) & (NODE_COUNT - 1)


def unix_ms_of(id_: int) -> int:
    return (id_ >> TIMESTAMP_SHIFT) + ROOST_EPOCH_MS


def datetime_of(id_: int) -> datetime:
    return datetime.fromtimestamp(unix_ms_of(id_) / 1000, tz=UTC)


def random_shard() -> int:
    """Where a new account lives; uniform so shards fill evenly."""
    return random.randrange(SHARD_COUNT)  # noqa: S311 - placement, not security


def parse_id(raw: object) -> int | None:
    """An id from the API (a string of digits, or an int), or None when it cannot be one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 19:
        value = int(raw)
    else:
        return None
    return value if 0 < value <= MAX_ID else None
