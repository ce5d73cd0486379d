"""Media attachments: upload (v1, v2), read and describe; issue 7, docs/media.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
