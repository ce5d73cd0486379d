"""Prefix matches that an ordinary B-tree index answers, on both databases.

`x LIKE 'ab%'` uses an index only under conditions that differ per database: on
PostgreSQL the column's collation must be "C" (or the index built with a *_pattern_ops
class), and the planner turns the pattern into a range only when it sees a constant,
not a parameter of a generic plan; on SQLite the index must be COLLATE NOCASE, or
case_sensitive_like on. A range needs none of that: a string starts with `p` exactly
when, compared byte by byte, it is at least `p` and less than `p` followed by the
highest code point (UTF-8 byte order is code point order). `in_byte_order` makes the
comparison (and the ORDER BY) byte-wise: COLLATE "C" on PostgreSQL, whose migration
0009 indexes are built with that collation; on SQLite, BINARY, its default, which the
plain indexes already use. So the same statement walks the index from `p` and stops
at the first string past the prefix, or after the LIMIT, whichever comes first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy.ext.asyncio import AsyncConnection

_HIGHEST = "\U0010ffff"


def in_byte_order(conn: AsyncConnection, expression: ColumnElement[Any]) -> ColumnElement[Any]:
    return expression.collate("C") if conn.dialect.name == "postgresql" else expression


def starts_with(key: ColumnElement[Any], prefix: str) -> ColumnElement[bool]:
    """`key` (made by in_byte_order) begins with `prefix`."""
    return and_(key >= prefix, key < prefix + _HIGHEST)


def fold_case(conn: AsyncConnection, text: str) -> str:
    """`text` lower-cased the way the database's lower() does it: PostgreSQL folds every
    script; SQLite's built-in lower() folds only ASCII letters, so on SQLite the query
    is folded alike and a display name matches case-insensitively in ASCII only."""
    if conn.dialect.name == "postgresql":
        return text.lower()
    return "".join(c.lower() if c.isascii() else c for c in text)
