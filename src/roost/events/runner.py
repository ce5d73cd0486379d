"""Running one event through one consumer: exactly-once effects, retries, dead letters.

Every log backend hands events to `deliver`. It runs the handler in a transaction that
first records (consumer, event id) in processed_events: if the row is already there
the event was applied before (a redelivery, a replay) and nothing happens; if the
handler fails the whole transaction rolls back, marker included.

A failure does not hold up the events behind it: the event is parked in
event_retries with its next attempt after an exponential backoff with full jitter
(base * 2^(attempt-1), capped, times a random factor in [0, 1)), and the backend goes
on. `retry_due` runs parked events again when their time comes; after the last allowed
attempt the event moves, whole, to event_dead_letters (`roost events dead ...`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import structlog
from sqlalchemy import Delete, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import event_dead_letters, event_retries, processed_events
from roost.db.upsert import dialect_insert
from roost.events import metrics, outbox
from roost.events.consumer import Consumer, ServiceUnavailable
from roost.events.types import Envelope, UnknownEvent, decode

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)
MAX_BACKOFF_SECONDS = 300.0
SERVICE_RETRY_MAX_SECONDS = 10.0  # waiting for a service (ServiceUnavailable): try often
CLAIM_SECONDS = 60  # a claimed retry is someone's for this long
# skipped: the event had nothing for this consumer to do (Consumer.relevant).
Outcome = Literal["applied", "duplicate", "skipped", "retry", "dead"]


@dataclass(frozen=True)
class Retry:
    consumer: str
    envelope: Envelope
    attempts: int


def backoff_seconds(attempts: int, base_ms: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempts-1)))."""
    ceiling = min(MAX_BACKOFF_SECONDS, base_ms / 1000 * 2.0 ** max(attempts - 1, 0))
    draw: float = (rng or random).random()
    return draw * float(ceiling)


async def _mark_processed(conn: AsyncConnection, consumer: str, event_id: int) -> bool:
    """True when this is the first time; False when the event was already applied."""
    values = {"consumer": consumer, "event_id": event_id, "processed_at": utcnow()}
    # RETURNING rather than rowcount: psycopg reports an INSERT's rowcount as -1 once
    # SQLAlchemy has closed its cursor, which read as "inserted" on every redelivery.
    statement = (
        dialect_insert(conn, processed_events).values(**values).on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    result = await conn.execute(statement)
    return result.first() is not None


async def deliver(
    roost: Roost, consumer: Consumer, envelope: Envelope, *, attempts_before: int = 0
) -> Outcome:
    """Applies one event once; parks it for a retry (or gives up on it) if it fails."""
    started = time.perf_counter()
    try:
        event = decode(envelope)
        if not consumer.relevant(event):
            if attempts_before:  # a retry of an event that has nothing left to do
                async with roost.db.write() as conn:
                    await conn.execute(_forget_retry(consumer.name, envelope.event_id))
            metrics.observe_handler(consumer.name, envelope.type, "skipped", started)
            return "skipped"
        async with roost.db.write() as conn:
            first_time = await _mark_processed(conn, consumer.name, envelope.event_id)
            if first_time:
                await consumer.handle(roost, conn, event)
            if attempts_before:
                await conn.execute(_forget_retry(consumer.name, envelope.event_id))
    except UnknownEvent as error:  # no retry can help: straight to the dead letters
        await _give_up(roost, consumer, envelope, attempts_before + 1, error)
        return "dead"
    except Exception as error:  # any failure is parked, never lost
        metrics.observe_handler(consumer.name, envelope.type, "error", started)
        return await _park(roost, consumer, envelope, attempts_before + 1, error)
    outcome: Outcome = "applied" if first_time else "duplicate"
    metrics.observe_handler(consumer.name, envelope.type, outcome, started)
    return outcome


def _forget_retry(consumer: str, event_id: int) -> Delete:
    return delete(event_retries).where(
        event_retries.c.consumer == consumer, event_retries.c.event_id == event_id
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


async def _park(
    roost: Roost, consumer: Consumer, envelope: Envelope, attempts: int, error: BaseException
) -> Outcome:
    settings = roost.settings
    waiting_for_service = isinstance(error, ServiceUnavailable)
    if attempts >= settings.event_max_attempts and not waiting_for_service:
        await _give_up(roost, consumer, envelope, attempts, error)
        return "dead"
    delay = backoff_seconds(attempts, settings.event_retry_base_ms)
    if waiting_for_service:  # soon after the service is back, not minutes later
        delay = min(delay, SERVICE_RETRY_MAX_SECONDS)
    log.warning(
        "event handler failed, will retry", event_id=envelope.event_id, type=envelope.type,
        consumer=consumer.name, attempt=attempts, retry_in_s=round(delay, 3),
        error=_describe(error),
    )
    values = {
        "attempts": attempts,
        "next_attempt_at": utcnow() + timedelta(seconds=delay),
        "last_error": _describe(error),
    }
    async with roost.db.write() as conn:
        changed = await conn.execute(
            update(event_retries)
            .where(
                event_retries.c.consumer == consumer.name,
                event_retries.c.event_id == envelope.event_id,
            )
            .values(**values)
        )
        if not changed.rowcount:
            await conn.execute(
                insert(event_retries).values(
                    consumer=consumer.name, event_id=envelope.event_id, **values
                )
            )
    metrics.retries.labels(consumer.name, envelope.type).inc()
    return "retry"


async def _give_up(
    roost: Roost, consumer: Consumer, envelope: Envelope, attempts: int, error: BaseException
) -> None:
    log.error(
        "event dead-lettered", event_id=envelope.event_id, type=envelope.type,
        consumer=consumer.name, attempts=attempts, error=_describe(error),
    )
    async with roost.db.write() as conn:
        await conn.execute(_forget_retry(consumer.name, envelope.event_id))
        await conn.execute(
            delete(event_dead_letters).where(
                event_dead_letters.c.consumer == consumer.name,
                event_dead_letters.c.event_id == envelope.event_id,
            )
        )
        await conn.execute(
            insert(event_dead_letters).values(
                consumer=consumer.name,
                event_id=envelope.event_id,
                type=envelope.type,
                version=envelope.version,
                account_id=envelope.account_id,
                payload=envelope.payload,
                attempts=attempts,
                last_error=_describe(error),
                failed_at=utcnow(),
            )
        )
    metrics.dead_letters.labels(consumer.name, envelope.type).inc()


async def _claim_due(roost: Roost, names: list[str], limit: int) -> list[Retry]:
    """Parked events whose time has come, each claimed (pushed CLAIM_SECONDS ahead) so
    that another process does not run it at the same time."""
    now = utcnow()
    due = (
        select(event_retries)
        .where(event_retries.c.next_attempt_at <= now, event_retries.c.consumer.in_(names))
        .order_by(event_retries.c.next_attempt_at)
        .limit(limit)
    )
    # Looked for without a write transaction first: nearly always there is nothing due,
    # and a write (BEGIN IMMEDIATE on SQLite) on every round would queue behind requests.
    async with roost.db.read() as conn:
        if (await conn.execute(due.limit(1))).first() is None:
            return []
    async with roost.db.write() as conn:
        rows = (await conn.execute(due)).all()
        claimed = []
        for row in rows:
            taken = await conn.execute(
                update(event_retries)
                .where(
                    event_retries.c.consumer == row.consumer,
                    event_retries.c.event_id == row.event_id,
                    event_retries.c.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
            )
            if taken.rowcount:
                claimed.append(row)
        found = await outbox.by_ids(conn, [int(row.event_id) for row in claimed])
    retries = []
    for row in claimed:
        stored = found.get(int(row.event_id))
        if stored is None:
            # Older than the outbox's retention: it can only be kept as a dead letter,
            # and the outbox no longer has its payload.
            async with roost.db.write() as conn:
                await conn.execute(_forget_retry(row.consumer, row.event_id))
            log.error("event left the outbox before its retry", event_id=row.event_id,
                      consumer=row.consumer)
            continue
        retries.append(Retry(row.consumer, stored.envelope, int(row.attempts)))
    return retries


async def parked(conn: AsyncConnection, consumers: list[str]) -> int:
    """Events of these consumers waiting for another attempt."""
    found = await conn.execute(
        select(func.count()).select_from(event_retries)
        .where(event_retries.c.consumer.in_(consumers))
    )
    return int(found.scalar_one())


async def retry_due(roost: Roost, consumers: list[Consumer], limit: int = 100) -> int:
    """Runs the parked events that are due; returns how many were tried."""
    by_name = {c.name: c for c in consumers}
    retries = await _claim_due(roost, list(by_name), limit)
    for retry in retries:
        await deliver(roost, by_name[retry.consumer], retry.envelope,
                      attempts_before=retry.attempts)
    return len(retries)
