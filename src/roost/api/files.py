"""Serving stored media files and the static assets: immutable, ETag, 304, ranges; docs/media.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
