"""Account search: accounts whose username or display name begins with what was typed
(docs/search.md).

- **What matches.** The query, trimmed, without a leading `@`, lower-cased, is a prefix
  of the username, or of the whole display name (case-insensitive; on SQLite for ASCII
  letters only, see prefix.fold_case). `@name@this-server` is the account `name`;
  another server's domain finds nothing, since Roost does not federate.
- **What never matches.** Accounts still waiting for approval (as Mastodon: only
  approved users are searchable), and accounts the viewer blocks or is blocked by.
  With `following`, only accounts the viewer follows.
- **Order.** The exact username first, then accounts the viewer follows, then by
  followers (account_stats), then by username.
- **Cost.** Each of the two prefixes is one range scan of its index in byte order
  (prefix.py; migration 0009), stopped after CANDIDATES matches; the union of the two
  is ranked and paged. So a page costs one statement and reads at most 2 x CANDIDATES
  index entries however common the prefix: a one-letter query ranks the first 1,000
  usernames and display names that begin with it (in byte order), not every account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, exists, func, literal, not_, select, union
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import ACCOUNT_WITH_STATS
from roost.db.tables import account_stats, accounts, follows, users
from roost.search.prefix import fold_case, in_byte_order, starts_with
from roost.statuses.visibility import blocked_between

# Matches read from each index before ranking: the bound on a page's work.
CANDIDATES = 200
MAX_QUERY_CHARS = 200


@dataclass(frozen=True)
class AccountTerms:
    username: str  # lower-cased; a prefix of username_lower ("" when it cannot be one)
    display_name: str  # as typed (trimmed); folded per database when queried


def account_terms(query: str, local_host: str) -> AccountTerms | None:
    """What to look for, or None when nothing can match (blank, or another server)."""
    text = query.strip()[:MAX_QUERY_CHARS].removeprefix("@")
    if not text:
        return None
    name, at, domain = text.partition("@")
    if at:
        if domain and domain.lower() != local_host.lower():
            return None  # a remote account: Roost does not federate
        if not name:
            return None
        return AccountTerms(username=name.lower(), display_name="")
    return AccountTerms(username=text.lower(), display_name=text)


def _follows(viewer_id: int, account_id: Any) -> Any:
    return exists(
        select(follows.c.id).where(
            follows.c.account_id == viewer_id, follows.c.target_account_id == account_id
        )
    )


def _searchable(viewer_id: int | None, following: bool) -> list[Any]:
    approved = exists(
        select(users.c.account_id).where(
            users.c.account_id == accounts.c.id, users.c.approved.is_(True)
        )
    )
    conditions: list[Any] = [approved]
    if viewer_id is not None:
        conditions.append(not_(blocked_between(viewer_id, accounts.c.id)))
        if following:
            conditions.append(_follows(viewer_id, accounts.c.id))
    return conditions


def account_search_query(
    conn: AsyncConnection,
    terms: AccountTerms,
    viewer_id: int | None,
    *,
    limit: int,
    offset: int = 0,
    following: bool = False,
) -> Select[Any]:
    """Accounts with their counters (the columns accounts.queries reads), one page."""
    conditions = _searchable(viewer_id, following)
    arms = []
    for expression, prefix in (
        (accounts.c.username_lower, terms.username),
        (func.lower(accounts.c.display_name), fold_case(conn, terms.display_name)),
    ):
        if not prefix:
            continue
        key = in_byte_order(conn, expression)
        scan = (
            select(accounts.c.id.label("id"), accounts.c.username_lower.label("username"))
            .where(starts_with(key, prefix), *conditions)
            .order_by(key)
            .limit(CANDIDATES)
            .subquery()
        )
        arms.append(select(scan.c.id, scan.c.username))
    candidates = (union(*arms) if len(arms) > 1 else arms[0]).subquery("candidates")
    # Ranked on the candidates alone, the counters read by primary key per candidate:
    # joined whole, PostgreSQL hashed all of account_stats for a few hundred rows.
    followers = (
        select(account_stats.c.followers_count)
        .where(account_stats.c.account_id == candidates.c.id)
        .scalar_subquery()
    )
    rank: list[Any] = [
        case((candidates.c.username == terms.username, 0), else_=1).label("exact"),
        (case((_follows(viewer_id, candidates.c.id), 0), else_=1) if viewer_id is not None
         else literal(1)).label("unfollowed"),
        (-func.coalesce(followers, 0)).label("fewer_followers"),
    ]
    ranked = (
        select(candidates.c.id, candidates.c.username, *rank)
        .order_by(*rank, candidates.c.username)
        .offset(offset)
        .limit(limit)
        .subquery("ranked")
    )
    return (
        select(*ACCOUNT_WITH_STATS)
        .select_from(
            ranked.join(accounts, accounts.c.id == ranked.c.id).join(
                account_stats, account_stats.c.account_id == accounts.c.id
            )
        )
        .order_by(ranked.c.exact, ranked.c.unfollowed, ranked.c.fewer_followers,
                  ranked.c.username)
    )


async def search_accounts(
    conn: AsyncConnection,
    query: str,
    viewer_id: int | None,
    *,
    local_host: str,
    limit: int,
    offset: int = 0,
    following: bool = False,
) -> list[Row[Any]]:
    """One page of matching accounts, best first. One statement; none when the query
    cannot match anything."""
    terms = account_terms(query, local_host)
    if terms is None or limit < 1 or (following and viewer_id is None):
        return []
    statement = account_search_query(
        conn, terms, viewer_id, limit=limit, offset=offset, following=following
    )
    return list((await conn.execute(statement)).all())

