"""Streaming: server-sent events under /api/v1/streaming/* and the WebSocket at
/api/v1/streaming; docs/streaming.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
