"""statuses (reblog_of_id, id) and notifications (account_id, type, id) indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 01:00:00.000000

Both were proved necessary by bench/explain_hot_queries.py at its default size
(20,000 accounts, 400,000 statuses; docs/schema.md shows the plans):

- ix_statuses_reblog_of_id_id (partial: boosts only) serves reblogged_by
  (statuses/interaction_queries.reblogged_by_query: reblog_of_id = :id ORDER BY id
  DESC LIMIT n, keyset on the boost's id). The unique (reblog_of_id, account_id)
  index could only find every boost of the status and sort them: for the most
  boosted status (328 boosts) the page of 40 read all 328 rows and sorted them
  (4.0 ms); this index walks the status's newest boosts backwards and stops after the
  page (40 rows, 0.1 ms). Popular statuses get thousands of boosts. The unique index stays: it is the one-boost-per-account rule, and
  unreblog's (reblog_of_id, account_id) lookup.
- ix_notifications_account_id_type_id serves the notifications page filtered to one
  type (types[]=mention, the mentions column of most clients: notifications_query
  with type = :type ORDER BY id DESC). Walking (account_id, id) and filtering on type
  read 3,367 rows for a page of 40 mentions of the most notified account (3,113
  mentions among 182,071 notifications; 1.7 ms), and the ratio grows with the share
  of likes and follows; this index reads the 40 (0.3 ms). It does not serve exclude_types[] or several
  types[] in id order (PostgreSQL cannot merge an IN list on a middle column in
  order): those still walk (account_id, id), reading about limit / (share of the kept
  types) rows.

On a large live database, build them first with CREATE INDEX CONCURRENTLY (same
names and definitions); this migration then finds them and does nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _index_exists(table: str, name: str) -> bool:
    return name in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    if not _index_exists("statuses", "ix_statuses_reblog_of_id_id"):
        with op.batch_alter_table("statuses", schema=None) as batch_op:
            batch_op.create_index(
                "ix_statuses_reblog_of_id_id",
                ["reblog_of_id", "id"],
                unique=False,
                postgresql_where=sa.text("reblog_of_id IS NOT NULL"),
                sqlite_where=sa.text("reblog_of_id IS NOT NULL"),
            )
    if not _index_exists("notifications", "ix_notifications_account_id_type_id"):
        with op.batch_alter_table("notifications", schema=None) as batch_op:
            batch_op.create_index(
                "ix_notifications_account_id_type_id",
                ["account_id", "type", "id"],
                unique=False,
            )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_account_id_type_id")
    with op.batch_alter_table("statuses", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_statuses_reblog_of_id_id",
            postgresql_where=sa.text("reblog_of_id IS NOT NULL"),
            sqlite_where=sa.text("reblog_of_id IS NOT NULL"),
        )
