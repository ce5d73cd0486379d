"""What travels on a channel: one JSON object per event (docs/streaming.md).

    {"event": "update", "payload": "<status id>", "facts": {...}, "queued_at": <ms>}

The payload is an id, not a rendered entity: an entity is rendered for a viewer (the
viewer's favourited/reblogged/bookmarked flags) and with the request's base URL, and
neither is known where the message is made. The facts are what a connection needs to
decide, without a query, whether its viewer may see the message: the author, the
visibility, who is mentioned, whose status a boost carries. A `delete`'s payload is
the bare id, as Mastodon sends it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from roost.statuses.visibility import VISIBILITY_NAMES

# `conversation` goes to timeline:direct:{id} (Mastodon's direct stream).
EventName = Literal["update", "status.update", "delete", "notification", "conversation"]


@dataclass(frozen=True)
class StatusFacts:
    """A status as a streaming filter sees it (ids as integers)."""

    status_id: int
    account_id: int
    visibility: int
    reblog_of_id: int | None = None
    reblog_of_account_id: int | None = None
    in_reply_to_account_id: int | None = None
    # The accounts the status (a boost: its original) mentions, and its tag names.
    mentioned_ids: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "status_id": self.status_id,
            "account_id": self.account_id,
            "visibility": VISIBILITY_NAMES[self.visibility],
            "reblog_of_id": self.reblog_of_id,
            "reblog_of_account_id": self.reblog_of_account_id,
            "in_reply_to_account_id": self.in_reply_to_account_id,
            "mentioned_ids": list(self.mentioned_ids),
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class StreamMessage:
    event: EventName
    payload: str
    facts: dict[str, Any] = field(default_factory=dict)
    # When it was published (ms since the epoch): a subscriber can measure the delay.
    queued_at: int = 0

    def encode(self) -> str:
        return json.dumps(
            {
                "event": self.event,
                "payload": self.payload,
                "facts": self.facts,
                "queued_at": self.queued_at or int(time.time() * 1000),
            },
            separators=(",", ":"),
        )


def decode(raw: str) -> StreamMessage:
    data = json.loads(raw)
    return StreamMessage(data["event"], data["payload"], data.get("facts") or {},
                         int(data.get("queued_at") or 0))
