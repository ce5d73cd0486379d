"""Account search by username and display-name prefix (issue 7, docs/search.md).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
