"""Media attachments (issue 7, docs/media.md): the media_attachments table, and indexes
that tell whether a stored file is still someone's avatar or header.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import roost.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _partial(condition: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.create_table(
        "media_attachments",
        sa.Column("id", _ID, autoincrement=False, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("status_id", _ID, nullable=True),
        sa.Column("position", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("type", sa.String(length=10), server_default="image", nullable=False),
        sa.Column("file_name", sa.String(length=100), nullable=False),
        sa.Column("preview_file_name", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("focus_x", sa.Float(), server_default="0", nullable=False),
        sa.Column("focus_y", sa.Float(), server_default="0", nullable=False),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("blurhash", sa.String(length=100), nullable=True),
        sa.Column("state", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", roost.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_media_attachments_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_attachments")),
    )
    op.create_index("ix_media_attachments_status_id", "media_attachments", ["status_id"],
                    **_partial("status_id IS NOT NULL"))
    op.create_index("ix_media_attachments_created_at", "media_attachments", ["created_at"],
                    **_partial("status_id IS NULL"))
    op.create_index("ix_media_attachments_file_name", "media_attachments", ["file_name"])
    op.create_index("ix_media_attachments_preview_file_name", "media_attachments",
                    ["preview_file_name"])
    op.create_index("ix_accounts_avatar_path", "accounts", ["avatar_path"],
                    **_partial("avatar_path IS NOT NULL"))
    op.create_index("ix_accounts_header_path", "accounts", ["header_path"],
                    **_partial("header_path IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_accounts_header_path", table_name="accounts")
    op.drop_index("ix_accounts_avatar_path", table_name="accounts")
    op.drop_table("media_attachments")
