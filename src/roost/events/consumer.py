"""What a consumer is, and the rules every one of them keeps.

A consumer has a name (its consumer group, its rows in processed_events), the event
types it wants, and a handler. The runner (events.runner) calls the handler inside a
database transaction that also records the event as processed, so an event delivered
twice has its effects once.

Handlers must not depend on the order events arrive in: the log keeps each account's
events in order, but a retried event comes back later, and several workers share a
partition's events. So a handler re-reads the rows it acts on (a notification for a
like is only made if the favourite row still exists; an unlike removes it whether or
not it was made yet), and counter changes are increments, which commute.

A handler whose service is down raises ServiceUnavailable: retried until it is back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.events.types import Event

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.context import Roost

Handler = Callable[["Roost", AsyncConnection, Event], Awaitable[None]]


class ServiceUnavailable(Exception):
    """A service the handler writes to (Redis) cannot be reached. The event is retried
    with backoff until it can, never sent to the dead letters: the handler is not at
    fault, and the service coming back is what fixes it."""


def _always(_event: Event) -> bool:
    return True


def _everywhere(_settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class Consumer:
    name: str
    types: frozenset[str]
    handle: Handler
    # Whether an event of one of `types` has anything for the handler to do (a post
    # without mentions, for notifications): one that has not costs no transaction.
    relevant: Callable[[Event], bool] = _always
    # Whether this deployment runs it at all (the home-timeline fan-out needs a Redis).
    enabled: Callable[[Settings], bool] = _everywhere

    def wants(self, event_type: str) -> bool:
        return event_type in self.types


def all_consumers() -> list[Consumer]:
    """Every consumer Roost runs, in a stable order."""
    from roost.events.consumers import CONSUMERS

    return list(CONSUMERS)


def select(only: str | None) -> list[Consumer]:
    """The consumers named in `only` (comma-separated), or all of them."""
    consumers = all_consumers()
    if not only:
        return consumers
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {c.name for c in consumers}
    if unknown:
        known = ", ".join(c.name for c in consumers)
        raise ValueError(f"unknown consumer {', '.join(sorted(unknown))} (known: {known})")
    return [c for c in consumers if c.name in wanted]
