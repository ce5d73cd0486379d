"""The events a write produces: typed, versioned, and encoded one way for every log.

An event says what happened, with the ids a consumer needs to find the rest in the
database; it does not carry state a consumer could read stale (consumers re-read rows,
which is what makes them indifferent to order: events.consumer). `account_id` is the
account that acted: the log keeps each account's events in order (its partition key).

Changing an event: add fields with defaults and keep the version, or bump `VERSION`
and teach `decode` to read the old one (`_UPCASTERS`); never reuse a type name.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    event_id: int
    account_id: int


@dataclass(frozen=True)
class AccountCreated(Event):
    TYPE = "account.created"


@dataclass(frozen=True)
class AccountUpdated(Event):
    TYPE = "account.updated"


@dataclass(frozen=True)
class StatusCreated(Event):
    """An original status or a reply (boosts are `Reblogged`)."""

    TYPE = "status.created"
    status_id: int = 0
    visibility: int = 0
    in_reply_to_id: int | None = None
    in_reply_to_account_id: int | None = None
    mentioned_account_ids: tuple[int, ...] = ()
    tag_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class StatusUpdated(Event):
    """An edit; `added_mention_ids` are accounts the new text mentions first."""

    TYPE = "status.updated"
    status_id: int = 0
    edit_id: int = 0
    added_mention_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class StatusDeleted(Event):
    TYPE = "status.deleted"
    status_id: int = 0
    in_reply_to_id: int | None = None
    # What it was (the row is gone when consumers read): who may hear of the deletion.
    # None in events written before the field existed.
    visibility: int | None = None


@dataclass(frozen=True)
class Reblogged(Event):
    TYPE = "status.reblogged"
    boost_id: int = 0
    status_id: int = 0  # the original
    status_account_id: int = 0


@dataclass(frozen=True)
class Unreblogged(Event):
    """A boost undone or deleted (also when its original was deleted)."""

    TYPE = "status.unreblogged"
    boost_id: int = 0
    status_id: int = 0


@dataclass(frozen=True)
class Favourited(Event):
    TYPE = "status.favourited"
    favourite_id: int = 0
    status_id: int = 0
    status_account_id: int = 0


@dataclass(frozen=True)
class Unfavourited(Event):
    TYPE = "status.unfavourited"
    favourite_id: int = 0
    status_id: int = 0


@dataclass(frozen=True)
class Followed(Event):
    TYPE = "account.followed"
    follow_id: int = 0
    target_account_id: int = 0


@dataclass(frozen=True)
class Unfollowed(Event):
    """A follow removed: unfollowed, or broken by a block."""

    TYPE = "account.unfollowed"
    follow_id: int = 0
    target_account_id: int = 0


@dataclass(frozen=True)
class FollowUpdated(Event):
    """An existing follow's options changed (show_reblogs, notify)."""

    TYPE = "account.follow_updated"
    follow_id: int = 0
    target_account_id: int = 0


@dataclass(frozen=True)
class FollowRequested(Event):
    TYPE = "account.follow_requested"
    request_id: int = 0
    target_account_id: int = 0


@dataclass(frozen=True)
class FollowRequestClosed(Event):
    """A pending request withdrawn, rejected, authorized (a `Followed` follows) or
    broken by a block."""

    TYPE = "account.follow_request_closed"
    request_id: int = 0
    target_account_id: int = 0


@dataclass(frozen=True)
class Blocked(Event):
    TYPE = "account.blocked"
    target_account_id: int = 0


@dataclass(frozen=True)
class Unblocked(Event):
    TYPE = "account.unblocked"
    target_account_id: int = 0


@dataclass(frozen=True)
class Muted(Event):
    TYPE = "account.muted"
    target_account_id: int = 0
    hide_notifications: bool = True


@dataclass(frozen=True)
class Unmuted(Event):
    TYPE = "account.unmuted"
    target_account_id: int = 0


@dataclass(frozen=True)
class NotificationCreated(Event):
    """A notification row was made (by the notifications consumer, in the transaction
    that made it); `account_id` is the account whose action it tells of."""

    TYPE = "notification.created"
    notification_id: int = 0
    recipient_id: int = 0
    notification_type: str = ""


@dataclass(frozen=True)
class MediaUploaded(Event):
    """An upload stored as it came, to be processed off the request path (the 202 of
    POST /api/v2/media; roost.media.consumer)."""

    TYPE = "media.uploaded"
    media_id: int = 0


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        AccountCreated,
        AccountUpdated,
        StatusCreated,
        StatusUpdated,
        StatusDeleted,
        Reblogged,
        Unreblogged,
        Favourited,
        Unfavourited,
        Followed,
        Unfollowed,
        FollowUpdated,
        FollowRequested,
        FollowRequestClosed,
        Blocked,
        Unblocked,
        Muted,
        Unmuted,
        NotificationCreated,
        MediaUploaded,
    )
}

# (type, old version) -> a function turning that version's payload into the next one's.
_UPCASTERS: dict[tuple[str, int], Any] = {}


class UnknownEvent(ValueError):
    """A type or version this code cannot read (written by a newer Roost)."""


@dataclass(frozen=True)
class Envelope:
    """An event as stored and shipped: what every log backend carries."""

    event_id: int
    type: str
    version: int
    account_id: int
    payload: str
    extra: dict[str, str] = field(default_factory=dict)


def encode(event: Event) -> Envelope:
    fields = {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if f.name not in ("event_id", "account_id")
    }
    payload = json.dumps(fields, separators=(",", ":"), sort_keys=True)
    return Envelope(event.event_id, event.TYPE, event.VERSION, event.account_id, payload)


def decode(envelope: Envelope) -> Event:
    cls = EVENT_TYPES.get(envelope.type)
    if cls is None:
        raise UnknownEvent(f"unknown event type {envelope.type!r}")
    data: dict[str, Any] = json.loads(envelope.payload)
    version = envelope.version
    while version < cls.VERSION:
        upcast = _UPCASTERS.get((envelope.type, version))
        if upcast is None:
            raise UnknownEvent(f"no upcaster for {envelope.type} v{version}")
        data = upcast(data)
        version += 1
    if version != cls.VERSION:
        raise UnknownEvent(f"{envelope.type} v{envelope.version} is newer than this code")
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in known:  # fields a newer minor change added are ignored
            values[name] = tuple(value) if isinstance(value, list) else value
    return cls(event_id=envelope.event_id, account_id=envelope.account_id, **values)
