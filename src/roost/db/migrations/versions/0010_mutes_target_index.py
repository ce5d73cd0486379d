"""mutes (target_account_id, account_id) index: who muted an author

Revision ID: 0010
Revises: 0009

The home fan-out asks, once per delivered status, which of the author's followers
muted the author (timelines.fanout._kept_out: `mutes.target_account_id = :author AND
mutes.account_id IN (the author's followers)`). With only the (account_id,
target_account_id) index, PostgreSQL either probes it once per follower or scans every
mute; for a popular author on a big server both grow with the server, not with the
handful of accounts that muted the author. This index reads those few rows directly,
as ix_blocks_target_account_id_account_id does for blocks (docs/schema.md).

On a large live PostgreSQL database, build it first with CREATE INDEX CONCURRENTLY
(same name and definition) so that mutes stay writable meanwhile; this migration then
finds it and does nothing (the pattern of 0004).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_mutes_target_account_id_account_id"


def _index_exists(table: str, name: str) -> bool:
    return name in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    if not _index_exists("mutes", INDEX):
        op.create_index(INDEX, "mutes", ["target_account_id", "account_id"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="mutes")
