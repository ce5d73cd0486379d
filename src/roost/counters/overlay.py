"""Reads inside a writing transaction see the counter changes its events will make.

The counters consumer applies an event only after its transaction commits, so a read
in that same transaction (the status a like answers with, say) would show the counter
as it was before. These helpers add the transaction's own pending changes to the rows
read, so a write's answer reflects the write, as it would with counters updated in
place. Other transactions' unapplied events are not added: they show when applied.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.counters.deltas import ACCOUNT, STATUS, deltas
from roost.events.outbox import pending


def _pending_changes(conn: AsyncConnection, kind: str) -> dict[int, dict[str, int]]:
    changes: dict[int, dict[str, int]] = defaultdict(dict)
    for event in pending(conn):
        for delta in deltas(event):
            if delta.kind == kind:
                column = changes[delta.id]
                column[delta.column] = column.get(delta.column, 0) + delta.amount
    return changes


def _adjusted(row: Row[Any], change: dict[str, int]) -> Any:
    values = dict(row._mapping)
    for column, amount in change.items():
        if column in values:
            values[column] = values[column] + amount
    return SimpleNamespace(**values)


def adjust(conn: AsyncConnection, kind: str, rows: dict[int, Any], key: str) -> dict[int, Any]:
    """`rows` (by id) with this transaction's pending counter changes added."""
    if not pending(conn):
        return rows
    changes = _pending_changes(conn, kind)
    return {
        row_id: _adjusted(row, changes[getattr(row, key)])
        if getattr(row, key) in changes
        else row
        for row_id, row in rows.items()
    }


def adjust_statuses(conn: AsyncConnection, rows: dict[int, Any]) -> dict[int, Any]:
    return adjust(conn, STATUS, rows, "id")


def adjust_accounts(conn: AsyncConnection, rows: dict[int, Any]) -> dict[int, Any]:
    return adjust(conn, ACCOUNT, rows, "id")
