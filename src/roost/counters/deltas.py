"""What each event does to the counters, as data: used by the counters consumer to
apply it, and by reads inside the writing transaction to show it already (overlay)."""

from __future__ import annotations

from dataclasses import dataclass

from roost.events import types as ev

STATUS = "status"
ACCOUNT = "account"


@dataclass(frozen=True)
class Delta:
    kind: str  # STATUS (status_stats) or ACCOUNT (account_stats)
    id: int
    column: str
    amount: int


def deltas(event: ev.Event) -> list[Delta]:
    match event:
        case ev.StatusCreated():
            found = [Delta(ACCOUNT, event.account_id, "statuses_count", +1)]
            if event.in_reply_to_id is not None:
                found.append(Delta(STATUS, event.in_reply_to_id, "replies_count", +1))
            return found
        case ev.StatusDeleted():
            found = [Delta(ACCOUNT, event.account_id, "statuses_count", -1)]
            if event.in_reply_to_id is not None:
                found.append(Delta(STATUS, event.in_reply_to_id, "replies_count", -1))
            return found
        case ev.Reblogged():
            return [
                Delta(ACCOUNT, event.account_id, "statuses_count", +1),
                Delta(STATUS, event.status_id, "reblogs_count", +1),
            ]
        case ev.Unreblogged():
            return [
                Delta(ACCOUNT, event.account_id, "statuses_count", -1),
                Delta(STATUS, event.status_id, "reblogs_count", -1),
            ]
        case ev.Favourited():
            return [Delta(STATUS, event.status_id, "favourites_count", +1)]
        case ev.Unfavourited():
            return [Delta(STATUS, event.status_id, "favourites_count", -1)]
        case ev.Followed():
            return [
                Delta(ACCOUNT, event.account_id, "following_count", +1),
                Delta(ACCOUNT, event.target_account_id, "followers_count", +1),
            ]
        case ev.Unfollowed():
            return [
                Delta(ACCOUNT, event.account_id, "following_count", -1),
                Delta(ACCOUNT, event.target_account_id, "followers_count", -1),
            ]
    return []


# The events that move a counter (the consumer subscribes to these).
COUNTED = frozenset(
    cls.TYPE
    for cls in (
        ev.StatusCreated, ev.StatusDeleted, ev.Reblogged, ev.Unreblogged, ev.Favourited,
        ev.Unfavourited, ev.Followed, ev.Unfollowed,
    )
)
# Posting or boosting makes the account's last_status_at the moment of the event.
TOUCHES_LAST_STATUS = frozenset({ev.StatusCreated.TYPE, ev.Reblogged.TYPE})
