"""INSERT ... ON CONFLICT, written once for both engines (SQLite and PostgreSQL share
the syntax; SQLAlchemy has one construct per dialect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """The INSERT of the connection's dialect (the one with ON CONFLICT)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


async def insert_ignore(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Inserts the rows that are not there yet (by primary key); the rest stay as they are."""
    if rows:
        await conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), rows)


async def add_to(
    conn: AsyncConnection, table: Table, key: dict[str, Any], column: str, amount: int
) -> None:
    """`column += amount` on the row with primary key `key`, made (at `amount`) if missing."""
    statement = dialect_insert(conn, table).values(**key, **{column: amount})
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(key), set_={column: table.c[column] + amount}
        )
    )


async def keep_latest(
    conn: AsyncConnection, table: Table, key: dict[str, Any], column: str, value: Any
) -> None:
    """Sets `column` to `value` on the row with primary key `key` (made if missing),
    unless it already holds a later value."""
    statement = dialect_insert(conn, table).values(**key, **{column: value})
    current = table.c[column]
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(key),
            set_={column: statement.excluded[column]},
            where=current < statement.excluded[column],
        )
    )
