"""statuses (account_id, id, visibility) index; JIT off on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:00:00.000000

- ix_statuses_account_id_id becomes ix_statuses_account_id_id_visibility: the same
  order (so it serves everything the old one did) plus the visibility column, so the
  home timeline and account-statuses queries decide visibility from the index alone
  (index-only scans) and read the table only for the rows of the page.
- PostgreSQL: JIT compilation off for this database. The home timeline's LATERAL
  query is cheap but its estimated cost grows with the follow count, so above a few
  hundred follows it crossed jit_above_cost and spent ~400 ms compiling a query that
  runs in a few ms (docs/schema.md). Roost's queries are all short OLTP reads; JIT only
  pays for long analytical ones. Needs the database's owner (or a superuser); without
  it the migration warns and goes on, and `ALTER DATABASE ... SET jit = off` can be run
  by whoever owns the database.

On a large live database, build the new index first with
`CREATE INDEX CONCURRENTLY ix_statuses_account_id_id_visibility ON statuses
(account_id, id, visibility)`: this migration then only drops the old one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ALTER DATABASE needs the database's name, and only its owner may run it.
ALTER_DATABASE = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I {clause}', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'roost: could not run ALTER DATABASE % {clause} (%); its owner can',
        current_database(), SQLERRM;
END
$$
"""


def _index_exists(name: str) -> bool:
    return name in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("statuses")}


def upgrade() -> None:
    with op.batch_alter_table("statuses", schema=None) as batch_op:
        if not _index_exists("ix_statuses_account_id_id_visibility"):
            batch_op.create_index(
                "ix_statuses_account_id_id_visibility",
                ["account_id", "id", "visibility"],
                unique=False,
            )
        batch_op.drop_index("ix_statuses_account_id_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ALTER_DATABASE.format(clause="SET jit = off"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ALTER_DATABASE.format(clause="RESET jit"))
    with op.batch_alter_table("statuses", schema=None) as batch_op:
        batch_op.create_index("ix_statuses_account_id_id", ["account_id", "id"], unique=False)
        batch_op.drop_index("ix_statuses_account_id_id_visibility")
