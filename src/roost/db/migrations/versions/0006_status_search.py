"""the status search index: a tsvector table on PostgreSQL, an FTS5 table on SQLite

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 06:00:00.000000

Both are filled from the statuses already there, so an upgraded database is fully
indexed; from then on the search_index consumer keeps them up to date (docs/search.md).
The document SQL is written out here, not imported, so that this migration keeps doing
what it did when roost.search.documents changes; the two must index the same text (a
status's spoiler text, its text and its hashtag names; boosts are not indexed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 'simple' lower-cases and splits words and does nothing else: no stemming and no stop
# words, which would be right for one language and wrong for every other. Posts are in
# any language (statuses.language is optional and often wrong), so a word is found as
# it was written, in every language alike.
_POSTGRES_BACKFILL = """
INSERT INTO status_search (status_id, document)
SELECT s.id, to_tsvector('simple'::regconfig,
                         s.spoiler_text || ' ' || s.text || ' ' || coalesce(t.names, ''))
FROM statuses s
LEFT JOIN (SELECT st.status_id, string_agg(tg.name, ' ') AS names
           FROM status_tags st JOIN tags tg ON tg.id = st.tag_id
           GROUP BY st.status_id) t ON t.status_id = s.id
WHERE s.reblog_of_id IS NULL
"""

# unicode61 splits on anything that is not a letter or a digit, in every script, and
# folds case; remove_diacritics 2 also makes "cafe" find "café".
_SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE status_search_fts USING fts5("
    "document, tokenize = 'unicode61 remove_diacritics 2')"
)
_SQLITE_BACKFILL = """
INSERT INTO status_search_fts (rowid, document)
SELECT s.id, s.spoiler_text || ' ' || s.text || ' ' || coalesce(
    (SELECT group_concat(tg.name, ' ') FROM status_tags st JOIN tags tg ON tg.id = st.tag_id
     WHERE st.status_id = s.id), '')
FROM statuses s
WHERE s.reblog_of_id IS NULL
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_table(
            "status_search",
            sa.Column("status_id", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("document", postgresql.TSVECTOR(), nullable=False),
            sa.ForeignKeyConstraint(["status_id"], ["statuses.id"],
                                    name=op.f("fk_status_search_status_id_statuses"),
                                    ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("status_id", name=op.f("pk_status_search")),
        )
        # Filled before the GIN index is made: one build from every row is much faster
        # than growing the index row by row.
        op.execute(_POSTGRES_BACKFILL)
        op.create_index("ix_status_search_document", "status_search", ["document"],
                        postgresql_using="gin")
        # The planner needs to know how common each word is to use the GIN index for
        # rare ones (docs/search.md).
        op.execute("ANALYZE status_search")
    else:
        op.execute(_SQLITE_CREATE)
        op.execute(_SQLITE_BACKFILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_status_search_document", table_name="status_search")
        op.drop_table("status_search")
    else:
        op.execute("DROP TABLE status_search_fts")
