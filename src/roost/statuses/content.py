"""A status's text as stored: its HTML, the accounts it mentions and its hashtags.

Used by posting and by editing, inside the caller's transaction:

1. `prepare` scans the text once (statuses.html.extract), looks the mentioned
   usernames up in one statement, finds or creates the hashtags, and renders the HTML
   with links for what resolved. Unknown @names (and @name@other.domain: there is no
   federation) stay plain text.
2. `store` writes the `mentions` and `status_tags` rows once the status row exists,
   replacing earlier ones on an edit, and says which accounts are newly mentioned so
   that only they are notified.

Links are absolute, rendered with the base URL the caller passes (the configured
ROOST_DOMAIN, or the address the request came in on), and stored with the HTML, as
Mastodon stores them: content is rendered once at write time, never per read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import accounts, mentions, status_tags, tags
from roost.ids import IdGenerator, random_shard
from roost.statuses.html import extract, hashtag_url, normalise_hashtag, render_plain_text


@dataclass(frozen=True)
class Content:
    html: str
    mentioned_ids: tuple[int, ...]  # in order of first mention
    tag_ids: tuple[int, ...]


def host_of(base: str) -> str:
    return base.split("://", 1)[-1].rstrip("/").lower()


async def ensure_tags(
    conn: AsyncConnection, ids: IdGenerator, names: Iterable[str]
) -> dict[str, int]:
    """{name_lower: tag id} for `names`, creating the missing tags with the spelling
    given. Two posts creating the same new tag at once: the second insert fails on the
    unique name_lower inside its savepoint (on PostgreSQL after waiting for the first
    to commit) and the tag is read back instead."""
    spelling: dict[str, str] = {}
    for name in names:
        spelling.setdefault(normalise_hashtag(name), name)
    if not spelling:
        return {}
    lookup = select(tags.c.name_lower, tags.c.id).where(tags.c.name_lower.in_(list(spelling)))
    found: dict[str, int] = {
        row.name_lower: row.id for row in (await conn.execute(lookup)).all()
    }
    raced = False
    for key, name in spelling.items():
        if key in found:
            continue
        tag_id = ids.next_id(random_shard())
        try:
            async with conn.begin_nested():
                await conn.execute(insert(tags).values(id=tag_id, name=name, name_lower=key))
            found[key] = tag_id
        except IntegrityError:
            raced = True
    if raced:
        found.update(
            {row.name_lower: row.id for row in (await conn.execute(lookup)).all()}
        )
    return found


async def prepare(conn: AsyncConnection, ids: IdGenerator, text: str, base: str) -> Content:
    """Resolves mentions and hashtags of `text` and renders it (two or three statements,
    plus one insert per hashtag never used before)."""
    entities = extract(text)
    host = host_of(base)
    wanted = {
        name.lower()
        for name, domain in entities.mentions
        if domain is None or domain.lower() == host
    }
    known: dict[str, tuple[int, str]] = {}
    if wanted:
        rows = await conn.execute(
            select(accounts.c.id, accounts.c.username, accounts.c.username_lower).where(
                accounts.c.username_lower.in_(wanted)
            )
        )
        known = {row.username_lower: (row.id, row.username) for row in rows.all()}
    tag_ids = await ensure_tags(conn, ids, entities.hashtags)
    mentioned: dict[int, None] = {}

    def link_mention(name: str, domain: str | None) -> tuple[str, str] | None:
        if domain is not None and domain.lower() != host:
            return None
        account = known.get(name.lower())
        if account is None:
            return None
        mentioned[account[0]] = None
        return f"{base}/@{account[1]}", account[1]

    def link_hashtag(name: str) -> str | None:
        return hashtag_url(base, name) if normalise_hashtag(name) in tag_ids else None

    html = render_plain_text(text, mention=link_mention, hashtag=link_hashtag)
    ordered_tags = tuple(dict.fromkeys(tag_ids[normalise_hashtag(n)] for n in entities.hashtags))
    return Content(html=html, mentioned_ids=tuple(mentioned), tag_ids=ordered_tags)


async def store(
    conn: AsyncConnection, status_id: int, content: Content, *, replace: bool = False
) -> list[int]:
    """Writes the status's mentions and tags; with `replace`, those no longer in the
    text are removed first. Returns the accounts mentioned now but not before."""
    before: set[int] = set()
    if replace:
        rows = await conn.execute(
            select(mentions.c.account_id).where(mentions.c.status_id == status_id)
        )
        before = set(rows.scalars().all())
        gone = before - set(content.mentioned_ids)
        if gone:
            await conn.execute(
                delete(mentions).where(
                    mentions.c.status_id == status_id, mentions.c.account_id.in_(gone)
                )
            )
        await conn.execute(delete(status_tags).where(status_tags.c.status_id == status_id))
    added = [account_id for account_id in content.mentioned_ids if account_id not in before]
    if added:
        await conn.execute(
            insert(mentions),
            [{"status_id": status_id, "account_id": account_id} for account_id in added],
        )
    if content.tag_ids:
        await conn.execute(
            insert(status_tags),
            [{"status_id": status_id, "tag_id": tag_id} for tag_id in content.tag_ids],
        )
    return added
