"""Media attachments (issue 7, docs/media.md).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
