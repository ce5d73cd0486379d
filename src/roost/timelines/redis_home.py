"""Home timelines kept in Redis: one sorted set per account, newest statuses first.

```
{prefix}home:{account_id}   members: status ids, zero-padded to 19 digits, all score 0
                            plus a marker member: "~built" once the set is complete,
                            "~building" while it is being filled from the database
```

- Members are ordered by their bytes (all scores are 0, so Redis orders them
  lexicographically), and zero-padded ids sort as the numbers do. A score would be a
  double, which cannot hold a 63-bit id exactly; lexicographic ranges keep max_id and
  since_id paging exact.
- The marker sorts after every digit, so ranges that end below "~" never see it. A
  set without a marker does not exist: the fan-out adds only to timelines that exist
  (EXISTS in the same script), so an account nobody built a timeline for never gets a
  partial one that a reader would take for the whole.
- A timeline lives `ROOST_ACTIVE_DAYS` after it was last built or read (its TTL): the
  fan-out does not renew it, so an account that stops visiting stops costing fan-out
  writes, and its timeline is rebuilt from the database on its next visit.
- Each set keeps the newest `ROOST_HOME_TIMELINE_SIZE` statuses (the fan-out trims as
  it adds).

Building: the marker "~building" goes in first, so the fan-out of a status committed
while the database is read lands in the set too; then the database's page, then
"~built". Adding twice is harmless (a set), so the two paths may overlap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from roost.paging import Page

ID_DIGITS = 19  # 2**63 - 1 has 19 digits
BUILT = "~built"
BUILDING = "~building"
NEWEST = "(~"
# Removal counts live a day after their last change: far longer than one handler runs.
CHANGES_TTL_S = 86_400
# A delivery counts as running this long after it began or last renewed its token;
# a removal that overlaps one waits at most this long (only when a process died).
DELIVERY_TTL_S = 30
WAIT_POLL_S = 0.02
# One process rebuilds a missing timeline; another may try again after this long.
REBUILD_CLAIM_S = 30  # below both markers: the top of the statuses
OLDEST = "-"

# ARGV: cap, the timelines' key prefix, account ids joined by commas, then members.
# Adds the members to each of those accounts' timelines that exists and trims it to its
# newest `cap` statuses (rank 0 is the oldest; the marker is always the highest and
# survives). Returns how many timelines took them. The keys are made here from the ids
# (a third of the bytes to send and to encode, per follower, as full key names in
# KEYS); Roost does not run Redis Cluster, where they would have to be in KEYS.
_ADD_TO_EXISTING = """
local cap = tonumber(ARGV[1])
local prefix = ARGV[2]
local taken = 0
for id in string.gmatch(ARGV[3], '[^,]+') do
  local key = prefix .. id
  if redis.call('EXISTS', key) == 1 then
    for i = 4, #ARGV do
      redis.call('ZADD', key, 0, ARGV[i])
    end
    redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 2))
    taken = taken + 1
  end
end
return taken
"""
# Accounts per script call: a call keeps Redis from its other clients while it runs (a
# few milliseconds per 1,000 timelines), so a delivery's page of followers is cut into
# several calls, between which other clients are served.
ACCOUNTS_PER_CALL = 1000


def member(status_id: int) -> str:
    return str(status_id).zfill(ID_DIGITS)


def status_ids(members: Iterable[str]) -> list[int]:
    """The status ids among `members` (markers left out), in the order given."""
    return [int(m) for m in members if not m.startswith("~")]


@dataclass(frozen=True)
class HeldPage:
    status_ids: list[int]  # newest first
    # False when the timeline was trimmed and the page reaches below what it keeps:
    # the database may have statuses there, and the pull query must answer.
    complete: bool


def _complete(page: Page, found: int, *, trimmed: bool, oldest_held: int | None) -> bool:
    if not trimmed:
        return True  # it holds everything the pull query has
    lower = page.min_id if page.min_id is not None else page.since_id
    if lower is not None and oldest_held is not None and lower >= oldest_held:
        return True  # the page lies within what it holds
    # Newest first: a full page holds the newest statuses of the range, which are kept.
    return not page.ascending and found == page.limit


class HomeTimelines:
    """The Redis side of home timelines; the fan-out consumer (timelines.fanout) and
    the read path use it, and nothing else knows its keys."""

    def __init__(self, redis: Redis, prefix: str, *, size: int, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.size = size
        self.ttl_s = ttl_s
        self._add = redis.register_script(_ADD_TO_EXISTING)

    @property
    def key_prefix(self) -> str:
        return f"{self.prefix}home:"

    def key(self, account_id: int) -> str:
        return f"{self.prefix}home:{account_id}"

    async def add(self, account_ids: Sequence[int], status_ids: Sequence[int]) -> int:
        """Adds the statuses to those of the accounts' timelines that exist; one script
        call per ACCOUNTS_PER_CALL accounts. Returns how many timelines took them."""
        if not account_ids or not status_ids:
            return 0
        members = [member(s) for s in status_ids]
        key_prefix = self.key_prefix
        taken = 0
        for start in range(0, len(account_ids), ACCOUNTS_PER_CALL):
            ids = ",".join(map(str, account_ids[start:start + ACCOUNTS_PER_CALL]))
            taken += int(await self._add(args=[self.size, key_prefix, ids, *members]))
        return taken

    async def remove(self, account_ids: Sequence[int], status_ids: Sequence[int]) -> None:
        """Removes the statuses from the accounts' timelines; one round trip."""
        if not account_ids or not status_ids:
            return
        members = [member(s) for s in status_ids]
        async with self.redis.pipeline(transaction=False) as pipe:
            for account_id in account_ids:
                pipe.zrem(self.key(account_id), *members)
            await pipe.execute()

    async def members(self, account_id: int) -> list[int] | None:
        """Every status id in the account's timeline, newest first; None when it has no
        complete timeline (never built, expired, or being built)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(self.key(account_id), BUILT)
            pipe.zrange(self.key(account_id), NEWEST, OLDEST, bylex=True, desc=True)
            built, members = await pipe.execute()
        if built is None:
            return None
        return status_ids(members)

    async def page(self, account_id: int, page: Page) -> HeldPage | None:
        """The page's status ids, newest first, in one round trip (which also renews the
        timeline's TTL: reading is what keeps an account active); None when the account
        has no complete timeline."""
        key = self.key(account_id)
        newest = f"({member(page.max_id)}" if page.max_id is not None else NEWEST
        oldest_bound = page.min_id if page.min_id is not None else page.since_id
        oldest = f"({member(oldest_bound)}" if oldest_bound is not None else OLDEST
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(key, BUILT)
            if page.ascending:  # min_id: the statuses just above it, oldest first
                pipe.zrange(key, oldest, newest, bylex=True, offset=0, num=page.limit)
            else:
                pipe.zrange(key, newest, oldest, bylex=True, desc=True, offset=0,
                            num=page.limit)
            pipe.zcard(key)
            pipe.zrange(key, OLDEST, NEWEST, bylex=True, offset=0, num=1)
            pipe.expire(key, self.ttl_s)
            built, members, size, lowest, _renewed = await pipe.execute()
        if built is None:
            return None
        ids = status_ids(members)
        return HeldPage(page.arrange(ids), complete=_complete(
            page, len(ids), trimmed=int(size) - 1 >= self.size,
            oldest_held=next(iter(status_ids(lowest)), None)))

    async def claim_rebuild(self, account_id: int) -> bool:
        """True for the one caller, across processes, that should rebuild the account's
        timeline now (the others answer from the database meanwhile)."""
        claimed = await self.redis.set(f"{self.prefix}home:rebuilding:{account_id}", "1",
                                       nx=True, ex=REBUILD_CLAIM_S)
        return bool(claimed)

    async def members_any(self, account_id: int) -> list[int]:
        """Every status id in the account's timeline, complete or not."""
        found: list[str] = await self.redis.zrange(  # type: ignore[assignment]
            self.key(account_id), NEWEST, OLDEST, bylex=True, desc=True)
        return status_ids(found)

    async def exists(self, account_id: int) -> bool:
        return bool(await self.redis.exists(self.key(account_id)))

    async def begin_build(self, account_id: int) -> None:
        """Replaces the account's timeline with an empty one marked as building: from now
        on the fan-out adds to it."""
        key = self.key(account_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zadd(key, {BUILDING: 0})
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def fill(self, account_id: int, status_ids: Sequence[int]) -> None:
        """Adds what the database gave to a timeline being built."""
        if status_ids:
            await self.redis.zadd(self.key(account_id), {member(s): 0 for s in status_ids})

    async def finish_build(self, account_id: int) -> None:
        """Trims and marks the timeline complete."""
        key = self.key(account_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(key, BUILDING)
            pipe.zadd(key, {BUILT: 0})
            pipe.zremrangebyrank(key, 0, -(self.size + 2))
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    def _changes_key(self, account_id: int) -> str:
        return f"{self.prefix}home:changes:{account_id}"

    async def bump(self, author_ids: Sequence[int]) -> None:
        """Notes that statuses by these authors are about to be taken out of timelines
        (before they are): a fan-out of theirs running meanwhile sees the count move
        and checks what it added (timelines.fanout)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for author_id in author_ids:
                pipe.incr(self._changes_key(author_id))
                pipe.expire(self._changes_key(author_id), CHANGES_TTL_S)
            await pipe.execute()

    async def changes(self, author_ids: Sequence[int]) -> list[str | None]:
        found: list[str | None] = await self.redis.mget(  # type: ignore[assignment]
            [self._changes_key(a) for a in author_ids])
        return found

    # --- deliveries in flight (timelines.fanout: write, then check) ---

    def _in_flight_key(self, author_id: int) -> str:
        return f"{self.prefix}home:inflight:{author_id}"

    async def begin_delivery(self, author_ids: Sequence[int], token: str) -> list[str | None]:
        """Notes a delivery of these authors' statuses as running, for DELIVERY_TTL_S
        (a delivery renews it as it goes; a removal waits for it), and returns their
        removal counts (`changes`) read just after, in the same round trip."""
        until = time.time() + DELIVERY_TTL_S
        async with self.redis.pipeline(transaction=False) as pipe:
            for author_id in author_ids:
                pipe.zadd(self._in_flight_key(author_id), {token: until})
                pipe.expire(self._in_flight_key(author_id), DELIVERY_TTL_S * 2)
            pipe.mget([self._changes_key(a) for a in author_ids])
            replies = await pipe.execute()
        changes: list[str | None] = replies[-1]
        return changes

    async def end_delivery(self, author_ids: Sequence[int], token: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for author_id in author_ids:
                pipe.zrem(self._in_flight_key(author_id), token)
            await pipe.execute()

    async def deliveries_in_flight(self, author_id: int, status_id: int | None = None
                                   ) -> list[str]:
        """The tokens of the author's running deliveries (of one status, if given)."""
        tokens: list[str] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            self._in_flight_key(author_id), time.time(), "+inf")
        if status_id is not None:
            tokens = [t for t in tokens if t.startswith(f"{status_id}:")]
        return tokens

    async def wait_for_deliveries(self, author_id: int, tokens: Sequence[str]) -> None:
        """Returns once those deliveries finished, or expired (their process died)."""
        key = self._in_flight_key(author_id)
        deadline = time.monotonic() + DELIVERY_TTL_S + 1
        while tokens and time.monotonic() < deadline:
            scores = await self.redis.zmscore(key, list(tokens))
            now = time.time()
            tokens = [t for t, score in zip(tokens, scores, strict=True)
                      if score is not None and float(score) > now]
            if tokens:
                await asyncio.sleep(WAIT_POLL_S)

    async def drop(self, account_ids: Sequence[int]) -> None:
        """Forgets the accounts' timelines (rebuilt from the database when next read)."""
        if account_ids:
            await self.redis.delete(*(self.key(a) for a in account_ids))
