"""the event log: outbox, reader cursors, processed events, retries, dead letters, leases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:00:00.000000

On PostgreSQL, outbox_events.txid defaults to the id of the writing transaction, which
is what lets a reader know that no transaction still running can add an event before
the ones it has read (roost.events.outbox).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import roost.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moment() -> roost.db.types.UTCDateTime:
    return roost.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "outbox_events",
        sa.Column("position", ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", _moment(), nullable=False),
        sa.Column(
            "txid",
            ID,
            nullable=True,
            server_default=sa.text("(pg_current_xact_id()::text::bigint)") if postgres else None,
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_events_event_id")),
        # Positions never go back, even when pruning empties the table.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_events_txid_position", "outbox_events", ["txid", "position"])
    op.create_index("ix_outbox_events_created_at", "outbox_events", ["created_at"])
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("txid", ID, nullable=False, server_default="0"),
        sa.Column("position", ID, nullable=False, server_default="0"),
        sa.Column("updated_at", _moment(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_cursors")),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(length=40), nullable=False),
        sa.Column("event_id", ID, autoincrement=False, nullable=False),
        sa.Column("processed_at", _moment(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])
    op.create_table(
        "event_retries",
        sa.Column("consumer", sa.String(length=40), nullable=False),
        sa.Column("event_id", ID, autoincrement=False, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _moment(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_event_retries")),
    )
    op.create_index("ix_event_retries_next_attempt_at", "event_retries", ["next_attempt_at"])
    op.create_table(
        "event_dead_letters",
        sa.Column("consumer", sa.String(length=40), nullable=False),
        sa.Column("event_id", ID, autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("failed_at", _moment(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_event_dead_letters")),
    )
    op.create_table(
        "event_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", _moment(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_leases")),
    )


    op.create_table(
        "activity_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("day", "account_id", name=op.f("pk_activity_days")),
    )
    op.create_table(
        "daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", name=op.f("pk_daily_counts")),
    )
    op.create_table(
        "tag_uses",
        sa.Column("tag_id", ID, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_tag_uses_tag_id_tags"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tag_id", "day", "account_id", name=op.f("pk_tag_uses")),
    )
    op.create_table(
        "trend_status_candidates",
        sa.Column("status_id", ID, autoincrement=False, nullable=False),
        sa.Column("last_interaction_at", _moment(), nullable=False),
        sa.ForeignKeyConstraint(["status_id"], ["statuses.id"],
                                name=op.f("fk_trend_status_candidates_status_id_statuses"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("status_id", name=op.f("pk_trend_status_candidates")),
    )
    op.create_index("ix_trend_status_candidates_last_interaction_at",
                    "trend_status_candidates", ["last_interaction_at"])


def downgrade() -> None:
    op.drop_index("ix_trend_status_candidates_last_interaction_at",
                  table_name="trend_status_candidates")
    op.drop_table("trend_status_candidates")
    op.drop_table("tag_uses")
    op.drop_table("daily_counts")
    op.drop_table("activity_days")
    op.drop_table("event_leases")
    op.drop_table("event_dead_letters")
    op.drop_index("ix_event_retries_next_attempt_at", table_name="event_retries")
    op.drop_table("event_retries")
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_table("event_cursors")
    op.drop_index("ix_outbox_events_created_at", table_name="outbox_events")
    op.drop_index("ix_outbox_events_txid_position", table_name="outbox_events")
    op.drop_table("outbox_events")
