"""An index on account_stats.followers_count: the accounts too big to fan out to.

A home page read from Redis adds the statuses of the followed accounts that have more
followers than the fan-out serves (timelines.fanout.merged_at_read). Those are a few
accounts in the whole network: the index finds them directly, and the viewer's follow
of each is one probe of the follows pair index, instead of joining every account the
viewer follows to its counters.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_account_stats_followers_count", "account_stats", ["followers_count"])


def downgrade() -> None:
    op.drop_index("ix_account_stats_followers_count", table_name="account_stats")
