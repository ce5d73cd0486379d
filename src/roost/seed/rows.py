"""The generated network as table rows, exactly as Roost's own code writes them.

Each table is a column list and a function that streams tuples in that order; the
loaders (load_postgres, load_sqlite) only move them. Moments are handed to `moment`,
which formats them the way the target database stores a timestamp.

Where each value comes from (so the rows match what the application would write):
- accounts/users/account_stats: accounts.operations.create_account (fields [],
  updated_at = users.created_at = the creation moment), then the counters that
  posting, boosting and following move (statuses_count counts boosts too;
  last_status_at is the moment of the latest status or boost).
- statuses: statuses.operations.create_status (sensitive when there is a content
  warning, language "en", application_id of the token's app) and
  interactions.reblog (a boost has no text, no HTML and no application); content_html
  is rendered by statuses.html.render_plain_text with the links content.prepare makes.
- applications/access_tokens: oauth.operations (only SHA-256 digests are stored).
- notifications: notifications.operations.notify (see generate._notifications).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from roost.oauth.operations import OOB_REDIRECT
from roost.security.tokens import digest
from roost.seed import generate as gen
from roost.statuses.html import normalise_hashtag

Row = tuple[Any, ...]
Moment = Callable[[int], str]
BATCH = 20_000
T = TypeVar("T")


@dataclass(frozen=True)
class Column:
    """One column of a numeric block: `kind` is its PostgreSQL binary type ("q" bigint,
    "i" integer, "b" boolean, "ts" timestamptz as epoch milliseconds, "t" a constant
    text, "n" NULL) and `values` an array, or the constant."""

    kind: str
    values: Any


# Rows of one layout, as arrays: PostgreSQL takes them as binary COPY, built by numpy.
Block = list[Column]


@dataclass(frozen=True)
class TableRows:
    name: str
    columns: tuple[str, ...]
    count: int
    batches: Callable[[], Iterator[list[Row]]]
    blocks: Callable[[], Iterator[Block]] | None = None
    copy_text: Callable[[], Iterator[bytes]] | None = None  # COPY text, made elsewhere


def _batched(rows: Iterable[Row], size: int = BATCH) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _ids(values: Any) -> list[int | None]:
    """Ids as Python ints, with -1 (none) as None."""
    return [None if v < 0 else v for v in values.tolist()]


@dataclass(frozen=True)
class StatusColumns:
    """The numeric columns of statuses (-1: NULL), for the text workers to slice."""

    ids: Any
    author_ids: Any
    reply_to: Any
    reply_to_account: Any
    reblog_of: Any
    visibility: Any
    application_id: int

    @staticmethod
    def of(net: gen.Network) -> StatusColumns:
        status_ids, authors = net.status_id, net.status_author
        parent, reblog = net.status_parent, net.status_reblog
        return StatusColumns(
            ids=status_ids,
            author_ids=net.account_id[authors],
            reply_to=np.where(parent >= 0, status_ids[np.maximum(parent, 0)], -1),
            reply_to_account=np.where(
                parent >= 0, net.account_id[authors[np.maximum(parent, 0)]], -1
            ),
            reblog_of=np.where(reblog >= 0, status_ids[np.maximum(reblog, 0)], -1),
            visibility=net.status_visibility,
            application_id=net.application_id,
        )


# What the text workers read: set before they fork, so they share it.
_WORKER_NET: gen.Network | None = None
_WORKER_RENDERER: gen.Renderer | None = None
_WORKER_COLUMNS: StatusColumns | None = None


def _status_rows(chunk: int) -> list[Row]:
    """The statuses rows of one chunk, complete."""
    net, renderer, columns = _WORKER_NET, _WORKER_RENDERER, _WORKER_COLUMNS
    assert net is not None and renderer is not None and columns is not None
    made = gen.chunk_texts(net, renderer, chunk)
    lo = chunk * gen.CHUNK
    hi = lo + len(made.text)
    reblog_of = _ids(columns.reblog_of[lo:hi])
    app = columns.application_id
    return [
        (
            status_id,
            author,
            reply_to,
            reply_to_account,
            reblog,
            text,
            html,
            spoiler,
            visibility,
            bool(spoiler),
            None if reblog is not None else "en",
            None if reblog is not None else app,
            None,
        )
        for status_id, author, reply_to, reply_to_account, reblog, text, html, spoiler,
        visibility in zip(
            columns.ids[lo:hi].tolist(),
            columns.author_ids[lo:hi].tolist(),
            _ids(columns.reply_to[lo:hi]),
            _ids(columns.reply_to_account[lo:hi]),
            reblog_of,
            made.text,
            made.html,
            made.spoiler,
            columns.visibility[lo:hi].tolist(),
            strict=True,
        )
    ]


def _copy_field(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return _copy_text(value)
    return str(value)


def _copy_text(value: str) -> str:
    if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
    return value


def _copy_ids(values: Any) -> list[str]:
    """Ids in COPY's text format, -1 as NULL."""
    return ["\\N" if v < 0 else str(v) for v in values.tolist()]


def _status_copy_text(chunk: int) -> bytes:
    """The statuses rows of one chunk as COPY text, made in the worker, so the loading
    process only passes bytes on. The same rows as _status_rows, formatted directly."""
    net, renderer, columns = _WORKER_NET, _WORKER_RENDERER, _WORKER_COLUMNS
    assert net is not None and renderer is not None and columns is not None
    made = gen.chunk_texts(net, renderer, chunk)
    lo = chunk * gen.CHUNK
    hi = lo + len(made.text)
    if hi == lo:
        return b""
    app = str(columns.application_id)
    original = f"en\t{app}"
    boost = "\\N\t\\N"
    lines = [
        f"{status_id}\t{author}\t{reply_to}\t{reply_to_account}\t{reblog}\t"
        f"{_copy_text(text)}\t{_copy_text(html)}\t{_copy_text(spoiler)}\t{visibility}\t"
        f"{'t' if spoiler else 'f'}\t{boost if is_boost else original}\t\\N\n"
        for status_id, author, reply_to, reply_to_account, reblog, is_boost, text, html,
        spoiler, visibility in zip(
            columns.ids[lo:hi].tolist(),
            columns.author_ids[lo:hi].tolist(),
            _copy_ids(columns.reply_to[lo:hi]),
            _copy_ids(columns.reply_to_account[lo:hi]),
            _copy_ids(columns.reblog_of[lo:hi]),
            (columns.reblog_of[lo:hi] >= 0).tolist(),
            made.text,
            made.html,
            made.spoiler,
            columns.visibility[lo:hi].tolist(),
            strict=True,
        )
    ]
    return "".join(lines).encode()


def copy_moments(ms: Any) -> list[str]:
    """Epoch milliseconds as timestamptz input for COPY text (ISO 8601, UTC), at once."""
    stamps = np.datetime_as_string(np.asarray(ms, np.int64).astype("datetime64[ms]"), unit="ms")
    return [f"{stamp}+00" for stamp in stamps.tolist()]


def _copy_lines(lines: list[str]) -> Iterator[bytes]:
    for lo in range(0, len(lines), 100_000):
        yield "".join(lines[lo : lo + 100_000]).encode()


def status_chunks(net: gen.Network, workers: int, make: Callable[[int], T]) -> Iterator[T]:
    """make(chunk) for every chunk of statuses, in order; by `workers` forked processes."""
    global _WORKER_NET, _WORKER_RENDERER, _WORKER_COLUMNS
    _WORKER_NET, _WORKER_RENDERER = net, gen.Renderer(net)
    _WORKER_COLUMNS = StatusColumns.of(net)
    chunks = range(gen.chunk_count(net))
    if workers <= 1 or len(chunks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for chunk in chunks:
            yield make(chunk)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        yield from pool.imap(make, chunks)


def tables(
    net: gen.Network, password_hash: str, moment: Moment, *, workers: int | None = None
) -> list[TableRows]:
    n = net.users
    account_ids = net.account_id.tolist()
    status_ids = net.status_id
    counts = net.row_counts()
    app_scopes = gen.SCOPES
    text_workers = workers if workers is not None else (os.cpu_count() or 1)

    def accounts() -> Iterator[list[Row]]:
        created = net.account_ms.tolist()
        locked = net.locked.tolist()
        bot = net.bot.tolist()
        rows = (
            (
                account_ids[i],
                net.usernames[i],
                net.usernames[i].lower(),
                net.display_names[i],
                "",
                "[]",
                locked[i],
                bot[i],
                True,
                False,
                None,
                None,
                moment(created[i]),
            )
            for i in range(n)
        )
        return _batched(rows)

    def account_stats() -> Iterator[list[Row]]:
        last = net.last_status_ms.tolist()
        rows = zip(
            account_ids,
            net.statuses_count.tolist(),
            net.followers_count.tolist(),
            net.following_count.tolist(),
            (moment(ms) if ms >= 0 else None for ms in last),
            strict=True,
        )
        return _batched(rows)

    def users() -> Iterator[list[Row]]:
        created = net.account_ms.tolist()
        rows = (
            (
                account_ids[i],
                f"{net.usernames[i]}@seed.invalid",
                f"{net.usernames[i].lower()}@seed.invalid",
                password_hash,
                False,
                True,
                False,
                "en",
                "public",
                False,
                None,
                None,
                moment(created[i]),
            )
            for i in range(n)
        )
        return _batched(rows)

    def applications() -> Iterator[list[Row]]:
        created = int(gen.ms_of(np.array([net.application_id], np.int64))[0])
        yield [
            (
                net.application_id,
                "Roost seed",
                None,
                OOB_REDIRECT,
                app_scopes,
                net.client_id,
                digest(net.client_secret),
                moment(created),
            )
        ]

    def access_tokens() -> Iterator[list[Row]]:
        token_ms = gen.ms_of(net.token_id).tolist()
        token_ids = net.token_id.tolist()
        rows = (
            (
                token_ids[i],
                digest(net.tokens[i]),
                net.application_id,
                account_ids[i],
                app_scopes,
                moment(token_ms[i]),
                None,
            )
            for i in range(n)
        )
        return _batched(rows)

    def tags() -> Iterator[list[Row]]:
        used = np.flatnonzero(net.tag_id != 0)
        order = used[np.argsort(net.tag_id[used])]
        rows = (
            (int(net.tag_id[t]), net.tag_names[t], normalise_hashtag(net.tag_names[t]))
            for t in order.tolist()
        )
        return _batched(rows)

    # The same rows as COPY text, built in bulk (PostgreSQL).
    def accounts_copy() -> Iterator[bytes]:
        created = copy_moments(net.account_ms)
        locked = ["t" if v else "f" for v in net.locked.tolist()]
        bot = ["t" if v else "f" for v in net.bot.tolist()]
        return _copy_lines([
            f"{account_ids[i]}\t{_copy_text(name)}\t{_copy_text(name.lower())}\t"
            f"{_copy_text(net.display_names[i])}\t\t[]\t{locked[i]}\t{bot[i]}\tt\tf\t"
            f"\\N\t\\N\t{created[i]}\n"
            for i, name in enumerate(net.usernames)
        ])

    def users_copy() -> Iterator[bytes]:
        created = copy_moments(net.account_ms)
        hashed = _copy_text(password_hash)
        return _copy_lines([
            f"{account_ids[i]}\t{_copy_text(name)}@seed.invalid\t"
            f"{_copy_text(name.lower())}@seed.invalid\t{hashed}\tf\tt\tf\ten\tpublic\tf\t"
            f"\\N\t\\N\t{created[i]}\n"
            for i, name in enumerate(net.usernames)
        ])

    def access_tokens_copy() -> Iterator[bytes]:
        created = copy_moments(gen.ms_of(net.token_id))
        token_ids = net.token_id.tolist()
        app = net.application_id
        return _copy_lines([
            f"{token_ids[i]}\t{digest(token)}\t{app}\t{account_ids[i]}\t{app_scopes}\t"
            f"{created[i]}\t\\N\n"
            for i, token in enumerate(net.tokens)
        ])

    def statuses() -> Iterator[list[Row]]:
        return status_chunks(net, text_workers, _status_rows)

    def statuses_copy() -> Iterator[bytes]:
        return status_chunks(net, text_workers, _status_copy_text)

    def status_stats() -> Iterator[list[Row]]:
        rows = zip(
            status_ids.tolist(),
            net.replies_count.tolist(),
            net.reblogs_count.tolist(),
            net.favourites_count.tolist(),
            strict=True,
        )
        return _batched(rows)

    def mentions() -> Iterator[list[Row]]:
        statuses_of, accounts_of = net.mention_pairs()
        rows = zip(status_ids[statuses_of].tolist(), net.account_id[accounts_of].tolist(),
                   strict=True)
        return _batched(rows)

    def status_tags() -> Iterator[list[Row]]:
        status_of, column = np.nonzero(net.status_tags >= 0)
        tag_ids = net.tag_id[net.status_tags[status_of, column]]
        sids = status_ids[status_of]
        order = np.lexsort((sids, tag_ids))
        return _batched(zip(tag_ids[order].tolist(), sids[order].tolist(), strict=True))

    def edges(src: Any, dst: Any, ids: Any, *extra: Any) -> Callable[[], Iterator[list[Row]]]:
        def rows() -> Iterator[list[Row]]:
            order = np.argsort(ids)
            columns = [
                ids[order].tolist(),
                net.account_id[src[order]].tolist(),
                net.account_id[dst[order]].tolist(),
            ]
            columns += [
                e[order].tolist() if hasattr(e, "tolist") else [e] * len(order) for e in extra
            ]
            return _batched(zip(*columns, strict=True))

        return rows

    def by_status(
        accounts_of: Any, statuses_of: Any, ids: Any
    ) -> Callable[[], Iterator[list[Row]]]:
        def rows() -> Iterator[list[Row]]:
            order = np.argsort(ids)
            return _batched(
                zip(
                    ids[order].tolist(),
                    net.account_id[accounts_of[order]].tolist(),
                    status_ids[statuses_of[order]].tolist(),
                    strict=True,
                )
            )

        return rows

    def notifications() -> Iterator[list[Row]]:
        order = np.argsort(net.notification_id)
        status = net.notification_status[order]
        names = gen.NOTIFICATION_TYPES
        rows = zip(
            net.notification_id[order].tolist(),
            net.account_id[net.notification_account[order]].tolist(),
            net.account_id[net.notification_from[order]].tolist(),
            (names[t] for t in net.notification_type[order].tolist()),
            _ids(np.where(status >= 0, status_ids[np.maximum(status, 0)], -1)),
            net.notification_activity[order].tolist(),
            strict=True,
        )
        return _batched(rows)

    def status_stats_blocks() -> Iterator[Block]:
        yield [Column("q", status_ids), Column("i", net.replies_count),
               Column("i", net.reblogs_count), Column("i", net.favourites_count)]

    def account_stats_blocks() -> Iterator[Block]:
        posted = net.last_status_ms >= 0
        for part, last in ((posted, Column("ts", net.last_status_ms[posted])),
                           (~posted, Column("n", None))):
            yield [Column("q", net.account_id[part]), Column("i", net.statuses_count[part]),
                   Column("i", net.followers_count[part]),
                   Column("i", net.following_count[part]), last]

    def mentions_blocks() -> Iterator[Block]:
        statuses_of, accounts_of = net.mention_pairs()
        yield [Column("q", status_ids[statuses_of]), Column("q", net.account_id[accounts_of])]

    def status_tags_blocks() -> Iterator[Block]:
        status_of, column = np.nonzero(net.status_tags >= 0)
        tag_ids = net.tag_id[net.status_tags[status_of, column]]
        sids = status_ids[status_of]
        order = np.lexsort((sids, tag_ids))
        yield [Column("q", tag_ids[order]), Column("q", sids[order])]

    def edge_blocks(src: Any, dst: Any, ids: Any, *extra: Column
                    ) -> Callable[[], Iterator[Block]]:
        def blocks() -> Iterator[Block]:
            order = np.argsort(ids)
            yield [Column("q", ids[order]), Column("q", net.account_id[src[order]]),
                   Column("q", net.account_id[dst[order]]),
                   *(Column(e.kind, e.values[order]) if isinstance(e.values, np.ndarray)
                     else e for e in extra)]

        return blocks

    def by_status_blocks(accounts_of: Any, statuses_of: Any, ids: Any
                         ) -> Callable[[], Iterator[Block]]:
        def blocks() -> Iterator[Block]:
            order = np.argsort(ids)
            yield [Column("q", ids[order]), Column("q", net.account_id[accounts_of[order]]),
                   Column("q", status_ids[statuses_of[order]])]

        return blocks

    def notifications_blocks() -> Iterator[Block]:
        # One block per type (a constant text) and per status present or not.
        for kind, name in enumerate(gen.NOTIFICATION_TYPES):
            of_kind = np.flatnonzero(net.notification_type == kind)
            of_kind = of_kind[np.argsort(net.notification_id[of_kind])]
            status = net.notification_status[of_kind]
            for part, column in (
                (status >= 0, Column("q", status_ids[np.maximum(status, 0)])),
                (status < 0, Column("n", None)),
            ):
                rows_of = of_kind[part]
                if rows_of.size == 0:
                    continue
                yield [
                    Column("q", net.notification_id[rows_of]),
                    Column("q", net.account_id[net.notification_account[rows_of]]),
                    Column("q", net.account_id[net.notification_from[rows_of]]),
                    Column("t", name),
                    column if column.kind == "n" else Column("q", column.values[part]),
                    Column("q", net.notification_activity[rows_of]),
                ]

    follow_extra = (True, False)  # show_reblogs, notify: the defaults
    follow_columns = (Column("b", True), Column("b", False))
    return [
        TableRows("accounts", ("id", "username", "username_lower", "display_name", "note",
                               "fields", "locked", "bot", "discoverable", "is_group",
                               "avatar_path", "header_path", "updated_at"), n, accounts,
                  copy_text=accounts_copy),
        TableRows("account_stats", ("account_id", "statuses_count", "followers_count",
                                    "following_count", "last_status_at"), n, account_stats,
                  account_stats_blocks),
        TableRows("users", ("account_id", "email", "email_lower", "password_hash", "admin",
                            "approved", "disabled", "locale", "default_privacy",
                            "default_sensitive", "default_language", "signup_reason",
                            "created_at"), n, users, copy_text=users_copy),
        TableRows("applications", ("id", "name", "website", "redirect_uris", "scopes",
                                   "client_id", "client_secret_hash", "created_at"), 1,
                  applications),
        TableRows("access_tokens", ("id", "token_hash", "application_id", "account_id",
                                    "scopes", "created_at", "revoked_at"), n, access_tokens,
                  copy_text=access_tokens_copy),
        TableRows("tags", ("id", "name", "name_lower"), counts["tags"], tags),
        TableRows("follows", ("id", "account_id", "target_account_id", "show_reblogs", "notify"),
                  counts["follows"],
                  edges(net.follow_src, net.follow_dst, net.follow_id, *follow_extra),
                  edge_blocks(net.follow_src, net.follow_dst, net.follow_id, *follow_columns)),
        TableRows("follow_requests", ("id", "account_id", "target_account_id", "show_reblogs",
                                      "notify"), counts["follow_requests"],
                  edges(net.request_src, net.request_dst, net.request_id, *follow_extra),
                  edge_blocks(net.request_src, net.request_dst, net.request_id,
                              *follow_columns)),
        TableRows("blocks", ("id", "account_id", "target_account_id"), counts["blocks"],
                  edges(net.block_src, net.block_dst, net.block_id),
                  edge_blocks(net.block_src, net.block_dst, net.block_id)),
        TableRows("mutes", ("id", "account_id", "target_account_id", "hide_notifications",
                            "expires_at"), counts["mutes"],
                  edges(net.mute_src, net.mute_dst, net.mute_id, net.mute_hide, None),
                  edge_blocks(net.mute_src, net.mute_dst, net.mute_id,
                              Column("b", net.mute_hide), Column("n", None))),
        TableRows("statuses", ("id", "account_id", "in_reply_to_id", "in_reply_to_account_id",
                               "reblog_of_id", "text", "content_html", "spoiler_text",
                               "visibility", "sensitive", "language", "application_id",
                               "edited_at"), counts["statuses"], statuses,
                  copy_text=statuses_copy),
        TableRows("status_stats", ("status_id", "replies_count", "reblogs_count",
                                   "favourites_count"), counts["status_stats"], status_stats,
                  status_stats_blocks),
        TableRows("mentions", ("status_id", "account_id"), counts["mentions"], mentions,
                  mentions_blocks),
        TableRows("status_tags", ("tag_id", "status_id"), counts["status_tags"], status_tags,
                  status_tags_blocks),
        TableRows("favourites", ("id", "account_id", "status_id"), counts["favourites"],
                  by_status(net.favourite_account, net.favourite_status, net.favourite_id),
                  by_status_blocks(net.favourite_account, net.favourite_status,
                                   net.favourite_id)),
        TableRows("bookmarks", ("id", "account_id", "status_id"), counts["bookmarks"],
                  by_status(net.bookmark_account, net.bookmark_status, net.bookmark_id),
                  by_status_blocks(net.bookmark_account, net.bookmark_status,
                                   net.bookmark_id)),
        TableRows("notifications", ("id", "account_id", "from_account_id", "type", "status_id",
                                    "activity_id"), counts["notifications"], notifications,
                  notifications_blocks),
    ]
