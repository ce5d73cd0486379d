"""A keyset page request (max_id / since_id / min_id / limit) applied to a query.

Mastodon's semantics: max_id pages backwards (older), since_id returns the newest
items above it, min_id the items immediately above it (walking forward), and every
page goes out newest first. roost.api.pagination reads it from a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select


@dataclass(frozen=True)
class Page:
    limit: int
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None

    @property
    def ascending(self) -> bool:
        """min_id walks forward: fetch the oldest items above it, then reverse."""
        return self.min_id is not None

    def apply(self, query: Select[Any], key: ColumnElement[Any]) -> Select[Any]:
        """Adds the keyset bounds, order and limit to a query on `key`."""
        if self.max_id is not None:
            query = query.where(key < self.max_id)
        if self.since_id is not None:
            query = query.where(key > self.since_id)
        if self.min_id is not None:
            query = query.where(key > self.min_id)
        order = key.asc() if self.ascending else key.desc()
        return query.order_by(order).limit(self.limit)

    def arrange(self, items: list[Any]) -> list[Any]:
        """Results always go out newest first."""
        return list(reversed(items)) if self.ascending else items
