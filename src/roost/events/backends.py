"""Which event log this process runs, from ROOST_EVENT_LOG (config.Settings.event_log).

Every backend is a set of services: things to start() and, on shutdown, stop()
gracefully (finishing or returning the events in hand). `roost serve` starts them
in-process when ROOST_SERVE_CONSUMERS is on (the default: one command runs
everything); `roost worker` starts them on their own, any number of times over.

- outbox (the embedded default): the in-process dispatcher reads the outbox itself.
- redis: a relay moves the outbox onto Redis streams (events/redis_relay.py), and
  each consumer reads them through its consumer group (events/redis_consumers.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from roost.events.consumer import Consumer
from roost.events.dispatcher import Dispatcher

if TYPE_CHECKING:
    from roost.context import Roost


class Service(Protocol):
    def start(self) -> None: ...

    async def stop(self) -> None: ...


def build(roost: Roost, consumers: list[Consumer], *, relay: bool = True) -> list[Service]:
    """The services that move events to `consumers` on the configured log; with
    `relay`, also the one that moves outbox events onto a broker (if there is one)."""
    consumers = [c for c in consumers if c.enabled(roost.settings)]
    chores = _chores(roost, consumers)
    return _event_services(roost, consumers, relay=relay) + chores


def _chores(roost: Roost, consumers: list[Consumer]) -> list[Service]:
    """Periodic work that runs where its consumer runs (the media clean-up)."""
    from roost.media.prune import MediaPruner

    return [MediaPruner(roost)] if any(c.name == "media" for c in consumers) else []


def _event_services(roost: Roost, consumers: list[Consumer], *, relay: bool) -> list[Service]:
    log = roost.settings.event_log
    if log == "outbox":
        dispatcher = Dispatcher(roost, consumers)
        roost.dispatcher = dispatcher
        return [dispatcher]
    if log == "redis":
        from roost.events.redis_consumers import RedisConsumerGroup
        from roost.events.redis_relay import RedisRelay

        relays: list[Service] = [RedisRelay(roost)] if relay else []
        return relays + [RedisConsumerGroup(roost, c) for c in consumers]
    if log.startswith("nats://"):
        from roost.events.nats_consumers import NatsConsumer
        from roost.events.nats_relay import NatsRelay

        nats_relays: list[Service] = [NatsRelay(roost)] if relay else []
        return nats_relays + [NatsConsumer(roost, c) for c in consumers]
    raise NotImplementedError(f"event log {log!r} is not built yet")
