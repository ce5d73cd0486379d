"""/healthz (the process is alive), /readyz (it can serve: its database; "degraded"
when a configured Redis cannot be reached), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from redis.asyncio import Redis
from sqlalchemy import text

from roost.api.context import roost_of
from roost.api.responses import JSONResponse
from roost.observability.metrics import render_latest

router = APIRouter()
CHECK_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check_database(request: Request) -> None:
    async with roost_of(request).db.read() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(url: str) -> None:
    client = Redis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks = {"database": _check_database(request)}
    redis_url = roost_of(request).settings.redis_url
    if redis_url:
        checks["redis"] = _check_redis(redis_url)
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, CHECK_TIMEOUT_S)
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready", with the reason
            results[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
    # Without its database Roost cannot serve. Without Redis it can, more slowly (home
    # from the database, caches bypassed, rate limits per process): it stays in the
    # load balancer's pool and says it is degraded.
    ready = results["database"] == "ok"
    degraded = ready and any(value != "ok" for value in results.values())
    body: dict[str, object] = {
        "status": "degraded" if degraded else "ready" if ready else "not ready",
        "checks": results,
    }
    breaker = roost_of(request).redis_breaker
    if breaker is not None:
        body["redis_breaker"] = breaker.state.name.lower()
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics() -> Response:
    body, content_type = render_latest()
    return Response(body, media_type=content_type)
