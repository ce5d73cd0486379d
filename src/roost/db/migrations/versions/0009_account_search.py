"""Account search by username and display-name prefix, hashtag search by name prefix
(issue 7, docs/search.md).

Search matches a prefix as a range in byte order (roost.search.prefix): `key >= 'ab'
AND key < 'ab' || U+10FFFF`, walked in index order and stopped at a LIMIT. An index
serves that only when it is in the same order:

- PostgreSQL: the existing unique indexes on accounts.username_lower and
  tags.name_lower are in the database's collation (en_US and the like, where "a_b"
  and "ab" interleave), so the search reads those columns COLLATE "C", and these
  indexes are built in that collation; display names are matched lower-cased, so that
  one is an expression index on lower(display_name) COLLATE "C".
- SQLite: comparisons are byte-wise (BINARY) by default, so the unique indexes on
  username_lower and name_lower already serve the ranges; display names need an
  expression index on lower(display_name). (LIKE 'ab%' would need a COLLATE NOCASE
  index or case_sensitive_like, and escaping of `_`, which usernames contain: the
  range needs neither.)

EXPLAIN plans are in docs/search.md.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None

_POSTGRES = {
    "ix_accounts_username_lower_bytes": 'accounts (username_lower COLLATE "C")',
    "ix_accounts_display_name_lower_bytes": 'accounts ((lower(display_name)) COLLATE "C")',
    "ix_tags_name_lower_bytes": 'tags (name_lower COLLATE "C")',
}
_SQLITE = {
    "ix_accounts_display_name_lower": "accounts (lower(display_name))",
}


def _indexes() -> dict[str, str]:
    return _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE


def upgrade() -> None:
    for name, target in _indexes().items():
        op.execute(f"CREATE INDEX {name} ON {target}")


def downgrade() -> None:
    for name in _indexes():
        op.execute(f"DROP INDEX {name}")
