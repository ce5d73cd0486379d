"""The pure parts of the event log: encoding events and reading them back (types,
versions, upcasters), and the retry backoff with full jitter (events.runner)."""

from __future__ import annotations

import dataclasses
import json
import random
import typing
from dataclasses import dataclass
from typing import Any

import pytest

from roost.events import types as ev
from roost.events.runner import MAX_BACKOFF_SECONDS, backoff_seconds
from roost.events.types import EVENT_TYPES, Envelope, Event, UnknownEvent, decode, encode


def _sample_value(hint: Any, field: dataclasses.Field[Any], n: int) -> Any:
    """A value of the field's type that differs from its default."""
    if hint is bool:
        return not field.default
    if hint is str:
        return f"sample-{n}"
    if hint is int or (typing.get_origin(hint) is not None and int in typing.get_args(hint)):
        return 1_000 + n  # int, or int | None
    if typing.get_origin(hint) is tuple:
        return (n, n + 1, n + 2)
    raise AssertionError(f"no sample for {hint!r}: teach this test the new field type")


def _sample(cls: type[Event]) -> Event:
    hints = typing.get_type_hints(cls)
    values = {
        field.name: _sample_value(hints[field.name], field, n)
        for n, field in enumerate(dataclasses.fields(cls))
    }
    return cls(**values)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_survives_encode_and_decode(event_type: str) -> None:
    cls = EVENT_TYPES[event_type]
    event = _sample(cls)
    envelope = encode(event)
    assert (envelope.type, envelope.version) == (cls.TYPE, cls.VERSION)
    assert (envelope.event_id, envelope.account_id) == (event.event_id, event.account_id)
    # Envelopes travel as text: through JSON and back, as a broker would carry them.
    shipped = Envelope(**json.loads(json.dumps(dataclasses.asdict(envelope))))
    decoded = decode(shipped)
    assert decoded == event
    assert type(decoded) is cls
    for field in dataclasses.fields(cls):
        original = getattr(event, field.name)
        assert type(getattr(decoded, field.name)) is type(original), field.name


def test_sample_tuples_are_not_empty() -> None:
    # Otherwise the round trip above would not show that tuples come back as tuples.
    created = _sample(ev.StatusCreated)
    assert isinstance(created, ev.StatusCreated)
    assert created.mentioned_account_ids and created.tag_ids


def test_every_event_type_is_registered_under_its_own_name() -> None:
    for name, cls in EVENT_TYPES.items():
        assert name == cls.TYPE
        assert dataclasses.is_dataclass(cls)


def test_an_unknown_type_cannot_be_read() -> None:
    with pytest.raises(UnknownEvent, match="unknown event type"):
        decode(Envelope(1, "status.teleported", 1, 2, "{}"))


def test_a_newer_version_cannot_be_read() -> None:
    envelope = encode(ev.Favourited(event_id=1, account_id=2, favourite_id=3, status_id=4))
    newer = dataclasses.replace(envelope, version=ev.Favourited.VERSION + 1)
    with pytest.raises(UnknownEvent, match="newer than this code"):
        decode(newer)


def test_an_older_version_without_an_upcaster_cannot_be_read() -> None:
    envelope = encode(ev.Favourited(event_id=1, account_id=2, favourite_id=3, status_id=4))
    with pytest.raises(UnknownEvent, match="no upcaster"):
        decode(dataclasses.replace(envelope, version=0))


def test_fields_a_newer_minor_change_added_are_ignored() -> None:
    payload = json.dumps({"status_id": 4, "favourite_id": 3, "status_account_id": 5,
                          "added_later": [1, 2]})
    decoded = decode(Envelope(1, ev.Favourited.TYPE, 1, 2, payload))
    assert decoded == ev.Favourited(event_id=1, account_id=2, favourite_id=3, status_id=4,
                                    status_account_id=5)


@dataclass(frozen=True)
class _Renamed(Event):
    """A test-only event at version 3: v1 called the status `post_id`, v2 carried the
    mentions as a comma-separated string."""

    TYPE = "test.renamed"
    VERSION = 3
    status_id: int = 0
    mentioned_account_ids: tuple[int, ...] = ()


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data["status_id"] = data.pop("post_id")
    return data


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    text = data.pop("mentions")
    data["mentioned_account_ids"] = [int(part) for part in text.split(",") if part]
    return data


def test_upcasters_bring_old_versions_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    # monkeypatch puts both registries back as they were when the test ends.
    monkeypatch.setitem(EVENT_TYPES, _Renamed.TYPE, _Renamed)
    monkeypatch.setitem(ev._UPCASTERS, (_Renamed.TYPE, 1), _v1_to_v2)
    monkeypatch.setitem(ev._UPCASTERS, (_Renamed.TYPE, 2), _v2_to_v3)
    expected = _Renamed(event_id=7, account_id=8, status_id=9, mentioned_account_ids=(1, 2))

    v1 = Envelope(7, _Renamed.TYPE, 1, 8, json.dumps({"post_id": 9, "mentions": "1,2"}))
    v2 = Envelope(7, _Renamed.TYPE, 2, 8, json.dumps({"status_id": 9, "mentions": "1,2"}))
    assert decode(v1) == expected
    assert decode(v2) == expected  # the chain starts where the payload's version is
    assert decode(encode(expected)) == expected  # the current version needs none

    monkeypatch.delitem(ev._UPCASTERS, (_Renamed.TYPE, 1))
    with pytest.raises(UnknownEvent, match=r"no upcaster for test\.renamed v1"):
        decode(v1)

    monkeypatch.undo()
    assert _Renamed.TYPE not in EVENT_TYPES
    assert not [key for key in ev._UPCASTERS if key[0] == _Renamed.TYPE]
    with pytest.raises(UnknownEvent, match="unknown event type"):
        decode(v2)


class _Fixed(random.Random):
    def __init__(self, draw: float) -> None:
        super().__init__(0)
        self.draw = draw

    def random(self) -> float:
        return self.draw


@pytest.mark.parametrize("attempts", [1, 2, 3, 5, 8, 10, 11, 20, 60])
def test_backoff_is_bounded_by_the_doubling_ceiling_and_the_cap(attempts: int) -> None:
    base_ms = 500
    ceiling = min(MAX_BACKOFF_SECONDS, base_ms / 1000 * 2 ** (attempts - 1))
    rng = random.Random(attempts)
    draws = [backoff_seconds(attempts, base_ms, rng) for _ in range(2_000)]
    assert all(0 <= draw < ceiling for draw in draws)
    # Full jitter: the draws cover the whole range, not a band near the ceiling.
    assert min(draws) < 0.02 * ceiling
    assert max(draws) > 0.98 * ceiling
    assert 0.4 * ceiling < sum(draws) / len(draws) < 0.6 * ceiling
    assert backoff_seconds(attempts, base_ms, _Fixed(0.0)) == 0.0
    assert backoff_seconds(attempts, base_ms, _Fixed(0.5)) == pytest.approx(ceiling / 2)


def test_backoff_doubles_then_stops_at_the_cap() -> None:
    top = [backoff_seconds(n, 1_000, _Fixed(0.999_999)) for n in range(1, 15)]
    assert top[:4] == pytest.approx([1.0, 2.0, 4.0, 8.0], rel=1e-5)
    assert max(top) <= MAX_BACKOFF_SECONDS
    assert top[-1] == pytest.approx(MAX_BACKOFF_SECONDS, rel=1e-5)
    # Attempt 0 (none failed yet) waits no longer than the first retry.
    assert backoff_seconds(0, 1_000, _Fixed(0.5)) == pytest.approx(0.5)


def test_backoff_is_reproducible_with_a_seeded_generator() -> None:
    first = [backoff_seconds(n, 250, random.Random(42)) for n in range(1, 10)]
    again = [backoff_seconds(n, 250, random.Random(42)) for n in range(1, 10)]
    assert first == again
