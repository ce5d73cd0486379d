"""Which cursor (and lease) a dispatcher reads the outbox with."""

from __future__ import annotations

from roost.events.consumer import all_consumers
from roost.events.dispatcher import CURSOR, cursor_name


def test_every_consumer_shares_the_dispatcher_cursor() -> None:
    assert cursor_name(all_consumers()) == CURSOR == "dispatcher"
    assert cursor_name(list(reversed(all_consumers()))) == CURSOR


def test_a_subset_reads_with_a_cursor_of_its_own() -> None:
    by_name = {c.name: c for c in all_consumers()}
    assert cursor_name([by_name["counters"]]) == "dispatcher:counters"
    assert cursor_name([by_name["notifications"], by_name["counters"]]) == (
        "dispatcher:counters+notifications"
    )


def test_a_long_subset_name_fits_the_column() -> None:
    consumers = [c for c in all_consumers() if c.name != "counters"]
    name = cursor_name(consumers)
    assert len(name) <= 40 and name.startswith("dispatcher:")
    assert name != cursor_name([c for c in all_consumers() if c.name != "analytics"])
