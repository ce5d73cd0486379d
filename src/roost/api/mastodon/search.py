"""Search: /api/v2/search and /api/v1/accounts/search; docs/search.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
