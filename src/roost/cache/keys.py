"""Every object-cache key, its lifetime, and which writes invalidate it, in one place
(docs/caching.md). A write names what it changed by the events it emits; the few
writes without an event (bookmarks, the counters consumer's updates) name the keys
themselves with `invalidate_after_commit`. Database.write deletes them all after
its commit.

Keys are relative: the store puts the deployment's prefix (ROOST_REDIS_KEY_PREFIX)
and "c:" in front.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.counters.deltas import ACCOUNT, deltas
from roost.db.engine import INVALIDATE_AFTER_COMMIT
from roost.events import types as ev

# The share of a lifetime added or taken at random, so that entries written together
# (a page's misses) do not all expire together.
TTL_JITTER = 0.1


@dataclass(frozen=True)
class Kind:
    name: str  # also the `cache` label of roost_cache_* metrics
    ttl_s: float

    def ttl_ms(self) -> int:
        jitter = random.uniform(1 - TTL_JITTER, 1 + TTL_JITTER)  # noqa: S311 - spread, not secrecy
        return int(self.ttl_s * 1000 * jitter)


# A status as written: its row without counters, its mentions and tags. Changes only
# by an edit or a delete.
STATUS = Kind("status", 6 * 3600)
# A status's replies, boosts and likes: change with every interaction.
STATUS_COUNTS = Kind("status_counts", 600)
# An account's profile with its counters.
ACCOUNT_ROW = Kind("account", 3600)
# Whether a viewer liked, bookmarked or boosted a status.
VIEWER_FLAGS = Kind("viewer_flags", 600)
# What decides whether a viewer may see an author's statuses: follows, blocks.
VISIBILITY = Kind("visibility", 600)

# A viewer's Relationship to an account (follows, requests, blocks, mutes, both ways).
RELATIONSHIP = Kind("relationship", 600)

# What an access token grants, by the token's hash (the token itself is never
# stored), with its user's standing. Revoking deletes it. Nothing in Roost changes a
# user's approval or disabled flag yet: the operation that does must delete the
# user's tokens' keys; until then the short lifetime bounds how long one would last.
TOKEN = Kind("token", 300)

KINDS = (STATUS, STATUS_COUNTS, ACCOUNT_ROW, VIEWER_FLAGS, VISIBILITY, RELATIONSHIP, TOKEN)


def status_key(status_id: int) -> str:
    return f"s:{status_id}"


def status_counts_key(status_id: int) -> str:
    return f"sc:{status_id}"


def account_key(account_id: int) -> str:
    return f"a:{account_id}"


def viewer_flags_key(viewer_id: int, status_id: int) -> str:
    return f"f:{viewer_id}:{status_id}"


def visibility_key(viewer_id: int, author_id: int) -> str:
    return f"v:{viewer_id}:{author_id}"


def relationship_key(viewer_id: int, account_id: int) -> str:
    return f"r:{viewer_id}:{account_id}"


def token_key(token_hash: str) -> str:
    return f"t:{token_hash}"


def _pair(one: int, other: int) -> list[str]:
    return [visibility_key(one, other), visibility_key(other, one),
            relationship_key(one, other), relationship_key(other, one)]


def keys_for_event(event: ev.Event) -> list[str]:
    """What an event's write made stale (counters change later, in the counters
    consumer's own transaction: `keys_for_counters`)."""
    match event:
        case ev.AccountCreated() | ev.AccountUpdated():
            return [account_key(event.account_id)]
        case ev.StatusCreated(status_id=sid) | ev.StatusUpdated(status_id=sid):
            return [status_key(sid)]
        case ev.StatusDeleted(status_id=sid):
            return [status_key(sid), status_counts_key(sid)]
        case ev.Reblogged(boost_id=boost, status_id=sid) | ev.Unreblogged(
            boost_id=boost, status_id=sid
        ):
            return [status_key(boost), viewer_flags_key(event.account_id, sid)]
        case ev.Favourited(status_id=sid) | ev.Unfavourited(status_id=sid):
            return [viewer_flags_key(event.account_id, sid)]
        case (
            ev.Followed(target_account_id=target)
            | ev.Unfollowed(target_account_id=target)
            | ev.FollowUpdated(target_account_id=target)
            | ev.FollowRequested(target_account_id=target)
            | ev.FollowRequestClosed(target_account_id=target)
            | ev.Blocked(target_account_id=target)
            | ev.Unblocked(target_account_id=target)
            | ev.Muted(target_account_id=target)
            | ev.Unmuted(target_account_id=target)
        ):
            return _pair(event.account_id, target)
    return []


def keys_for_counters(event: ev.Event) -> list[str]:
    """The cached counters the counters consumer changes when it applies `event`."""
    return [
        account_key(delta.id) if delta.kind == ACCOUNT else status_counts_key(delta.id)
        for delta in deltas(event)
    ]


def keys_for_bookmark(viewer_id: int, status_id: int) -> list[str]:
    return [viewer_flags_key(viewer_id, status_id)]


def invalidate_after_commit(conn: AsyncConnection, keys: Iterable[str]) -> None:
    """Deletes `keys` from the object cache once this transaction commits (never
    before: a reader in between would cache the old row again)."""
    pending: set[str] = conn.info.setdefault(INVALIDATE_AFTER_COMMIT, set())
    pending.update(keys)
