"""The Redis Streams event log (ROOST_EVENT_LOG=redis): what the relay and the
consumer groups share.

```
outbox ──relay (lease "relay", cursor "relay")──> XADD {prefix}events:{account % partitions}
                                                        │
              one consumer group per consumer (group = consumer name) on every stream;
              every `roost worker` (or `roost serve`) process joins each group once
```

An account's events all go to one partition stream, in the order the relay reads them
from the outbox. Entries carry the envelope as flat fields (`event_id`, `type`,
`version`, `account_id`, `payload`). Streams are capped approximately by length on
every XADD (ROOST_EVENT_STREAM_MAXLEN) and by age now and then (entries older than
ROOST_EVENT_RETENTION_HOURS, which the outbox keeps for replays anyway). Redis here
keeps nothing on disk: whatever it loses, the outbox has, and moving the relay's
cursor back (`replay`) refills the streams; consumers skip what they already applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from roost.events import outbox
from roost.events.types import Envelope

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.context import Roost

RELAY = "relay"  # the relay's lease and outbox cursor
COUNT_UNKNOWN_LAG_UP_TO = 10_000


def stream_key(settings: Settings, partition: int) -> str:
    return f"{settings.event_stream_prefix}events:{partition}"


def stream_keys(settings: Settings) -> list[str]:
    return [stream_key(settings, p) for p in range(settings.event_partitions)]


def stream_of(settings: Settings, account_id: int) -> str:
    return stream_key(settings, account_id % settings.event_partitions)


def connect(settings: Settings, *, timeout_s: float = 5.0, single: bool = False) -> Redis:
    """A client for the streams; its socket timeout outlasts a blocking read. `single`:
    one connection, always the same (its CLIENT ID can be unblocked)."""
    if not settings.redis_url:
        raise ValueError("ROOST_EVENT_LOG=redis needs ROOST_REDIS_URL")
    return Redis.from_url(
        settings.redis_url, decode_responses=True, single_connection_client=single,
        socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
    )


def to_fields(envelope: Envelope) -> dict[FieldT, EncodableT]:
    return {
        "event_id": envelope.event_id,
        "type": envelope.type,
        "version": envelope.version,
        "account_id": envelope.account_id,
        "payload": envelope.payload,
    }


def from_fields(fields: dict[str, str]) -> Envelope:
    """The envelope an entry carries; KeyError or ValueError when it is malformed."""
    return Envelope(
        event_id=int(fields["event_id"]),
        type=fields["type"],
        version=int(fields["version"]),
        account_id=int(fields["account_id"]),
        payload=fields["payload"],
    )


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream id `<unix ms>-<sequence>` as numbers: [0] is when it was added."""
    ms, _, sequence = entry_id.partition("-")
    return int(ms), int(sequence or 0)


async def group_backlog(redis: Redis, key: str, group: str) -> tuple[int, str | None]:
    """(entries of `key` the group has not acknowledged, the id of the oldest of them)."""
    try:
        groups: list[dict[str, Any]] = await redis.xinfo_groups(key)
    except Exception as error:  # no such stream: nothing to read
        if "no such key" in str(error).lower():
            return 0, None
        raise
    info = next((g for g in groups if g["name"] == group), None)
    if info is None:  # nobody has joined yet: the whole stream waits for them
        first: Any = await redis.xrange(key, count=1)
        return int(await redis.xlen(key)), first[0][0] if first else None
    pending = int(info["pending"])
    lag = info.get("lag")
    last = str(info["last-delivered-id"])
    newer: Any = await redis.xrange(
        key, min=f"({last}", count=1 if lag is not None else COUNT_UNKNOWN_LAG_UP_TO
    )
    if lag is None:  # Redis cannot tell (entries deleted in between): count, up to a bound
        lag = len(newer)
    oldest = newer[0][0] if newer else None
    if pending:
        summary = await redis.xpending(key, group)
        oldest = summary["min"] if oldest is None else min(summary["min"], oldest, key=entry_order)
    return pending + int(lag), oldest


async def backlog(roost: Roost, consumers: list[str] | None = None) -> int:
    """Events not yet applied: outbox events the relay has not published, entries each
    consumer group (all of them, or `consumers`) has not acknowledged, and parked
    retries. Zero means every committed event has had its effects (tests, shutdown).

    Read in the order an event travels (outbox, streams, retries), so one moving along
    while this counts is seen at least once."""
    from roost.events import runner
    from roost.events.consumer import all_consumers

    names = consumers if consumers is not None else [c.name for c in all_consumers()]
    async with roost.db.read() as conn:
        total = await outbox.unread(conn, RELAY)
    redis = connect(roost.settings)
    try:
        for key in stream_keys(roost.settings):
            for name in names:
                total += (await group_backlog(redis, key, name))[0]
    finally:
        await redis.aclose()
    async with roost.db.read() as conn:
        total += await runner.parked(conn, names)
    return total
