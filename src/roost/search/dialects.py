"""Everything about the search index that differs between PostgreSQL and SQLite, in
one place: the table, how a document is stored, how it is written and matched.

- PostgreSQL: `status_search`, a tsvector per status under a GIN index, made with the
  'simple' configuration (no stemming, no stop words: posts come in every language,
  so a word is found as written, whatever the language); queries go through
  plainto_tsquery, which never fails on what a user types.
- SQLite: `status_search_fts`, an FTS5 table (unicode61 tokenizer, diacritics
  removed), rowid = status id; queries are MATCH expressions in which every term is a
  quoted string, so nothing a user types is read as FTS5 syntax.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    Select,
    Table,
    delete,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, DropIndex

from roost.db.tables import status_search, status_search_fts

_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
# The query's words (as plainto_tsquery makes them) that status_search's statistics do
# not list as common. With no statistics yet, every word counts as uncommon.
_UNCOMMON_TERMS = text(
    "SELECT count(*) FROM unnest(tsvector_to_array(to_tsvector('simple'::regconfig, :terms)))"
    " AS t(lexeme) WHERE lexeme <> ALL (coalesce((SELECT most_common_elems::text::text[]"
    " FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'status_search'"
    " AND attname = 'document'), '{}'))"
)
# SQLAlchemy keeps an INSERT's row count only when asked.
_COUNTED = {"preserve_rowcount": True}


class SearchDialect:
    """What each database does its own way; POSTGRES and SQLITE below."""

    table: Table
    key: Column[Any]  # the status id
    document: Column[Any]

    def join_names(self, names: ColumnElement[str]) -> ColumnElement[str]:
        """The aggregate that joins a status's hashtag names with spaces."""
        raise NotImplementedError

    def stored(self, content: ColumnElement[str]) -> ColumnElement[Any]:
        """A document's text as the index column keeps it."""
        raise NotImplementedError

    def matches(self, terms: list[str]) -> ColumnElement[bool]:
        """Documents holding every term (`terms` as queries.search_terms makes them)."""
        raise NotImplementedError

    async def write(self, conn: AsyncConnection, documents: Select[Any]) -> int:
        """Writes the (status id, text) rows of `documents`, replacing what is there;
        returns how many."""
        raise NotImplementedError

    async def has_uncommon_term(self, conn: AsyncConnection, terms: list[str]) -> bool:
        """Whether some term is rarer than the words the planner's statistics know as
        common, so that every match is better read from the index (queries.search_query's
        few_matches). One statement, or none where the planner needs no help."""
        return False

    # A bulk fill (index.build_in_bulk), for an index nobody else writes to meanwhile:
    async def empty_for_bulk(self, conn: AsyncConnection) -> None:
        await conn.execute(delete(self.table))

    async def skip_key_checks(self, conn: AsyncConnection) -> None:
        """Lets this transaction skip foreign key checks, where it may."""

    async def finish_bulk(self, conn: AsyncConnection) -> None:
        """Whatever the fill left for the end."""
        await self.analyze(conn)

    async def analyze(self, conn: AsyncConnection) -> None:
        """Refreshes the planner's statistics after many rows changed."""


class _Postgres(SearchDialect):
    table = status_search
    key = status_search.c.status_id
    document = status_search.c.document

    def join_names(self, names: ColumnElement[str]) -> ColumnElement[str]:
        return func.string_agg(names, " ")

    def stored(self, content: ColumnElement[str]) -> ColumnElement[Any]:
        return func.to_tsvector(_SIMPLE, content)

    def matches(self, terms: list[str]) -> ColumnElement[bool]:
        query = func.plainto_tsquery(_SIMPLE, " ".join(terms))
        return self.document.op("@@")(query)

    async def has_uncommon_term(self, conn: AsyncConnection, terms: list[str]) -> bool:
        # For a word missing from the statistics' most common elements, the planner
        # guesses a frequency of about half the rarest one's, and for a page of 20 walks
        # the primary key newest first, testing every document: 1.2 s for a word in 10
        # of 1.7 million documents. A word not in that list is in fewer documents than
        # the rarest that is (0.1% of them on the seeded 100,000-user network), so
        # reading all its matches from the GIN index and sorting is cheap.
        found = await conn.execute(_UNCOMMON_TERMS, {"terms": " ".join(terms)})
        return int(found.scalar_one()) > 0

    async def write(self, conn: AsyncConnection, documents: Select[Any]) -> int:
        # An upsert: a consumer indexing a status while a reindex batch covers it
        # waits for the other's row instead of failing on the primary key.
        insert = postgresql.insert(self.table).from_select(["status_id", "document"], documents)
        statement = insert.on_conflict_do_update(
            index_elements=["status_id"], set_={"document": insert.excluded.document}
        )
        return int((await conn.execute(statement, execution_options=_COUNTED)).rowcount)

    async def empty_for_bulk(self, conn: AsyncConnection) -> None:
        # The GIN index is built once from every row at the end (finish_bulk): 170,000
        # documents went in 1.5 times faster without it, and the build took 0.9 s.
        await conn.execute(text(f"TRUNCATE {self.table.name}"))
        await conn.execute(DropIndex(_gin_index(), if_exists=True))

    async def skip_key_checks(self, conn: AsyncConnection) -> None:
        # Every row is made from a status read in the same statement, so checking that
        # the status exists, row by row, is redundant: 30% of the fill's time (as
        # `roost seed` loads its tables). Only a superuser may; others check.
        try:
            async with conn.begin_nested():
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
        except DBAPIError:
            pass

    async def finish_bulk(self, conn: AsyncConnection) -> None:
        await conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        await conn.execute(CreateIndex(_gin_index(), if_not_exists=True))
        await self.analyze(conn)

    async def analyze(self, conn: AsyncConnection) -> None:
        # Without statistics the planner guesses how many documents hold a word, and
        # for a rare one walked the index newest-first, testing every document (130 ms
        # on 170,000 statuses) instead of asking the GIN index (0.1 ms).
        await conn.execute(text(f"ANALYZE {self.table.name}"))


class _Sqlite(SearchDialect):
    table = status_search_fts
    key = status_search_fts.c.rowid
    document = status_search_fts.c.document

    def join_names(self, names: ColumnElement[str]) -> ColumnElement[str]:
        return func.group_concat(names, " ")

    def stored(self, content: ColumnElement[str]) -> ColumnElement[Any]:
        return content

    def matches(self, terms: list[str]) -> ColumnElement[bool]:
        quoted = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
        return self.document.match(quoted)

    async def write(self, conn: AsyncConnection, documents: Select[Any]) -> int:
        # FTS5 has no ON CONFLICT; the caller deleted the rows first, and SQLite has
        # one writer at a time, so nothing can come in between.
        insert = sqlite.insert(self.table).from_select(["rowid", "document"], documents)
        return int((await conn.execute(insert, execution_options=_COUNTED)).rowcount)


def _gin_index() -> Index:
    [index] = status_search.indexes
    return index


POSTGRES: SearchDialect = _Postgres()
SQLITE: SearchDialect = _Sqlite()


def of(conn: AsyncConnection) -> SearchDialect:
    return POSTGRES if conn.dialect.name == "postgresql" else SQLITE
