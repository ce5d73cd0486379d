"""`roost worker --port`: the worker's own /healthz, /readyz and /metrics.

/readyz answers 503 when the worker cannot do its job: the database is unreachable, or
the event log is (Redis or NATS, when it runs on one; the outbox lives in the
database). /metrics is this process's registry: the consumers' counts, handler times,
retries, dead letters and lag.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from roost.observability.metrics import render_latest

if TYPE_CHECKING:
    from roost.context import Roost

CHECK_TIMEOUT_S = 2.0


async def check_database(roost: Roost) -> None:
    async with roost.db.read() as conn:
        await conn.execute(text("SELECT 1"))


async def check_event_log(roost: Roost) -> None:
    """Raises when the configured log cannot be reached."""
    settings = roost.settings
    if settings.event_log == "redis":
        from roost.events import redis_log

        client = redis_log.connect(settings, timeout_s=CHECK_TIMEOUT_S, single=True)
        try:
            await client.ping()
        finally:
            await client.aclose()
    elif settings.event_log.startswith("nats://"):
        from roost.events import nats_log

        connection = await nats_log.connect(settings, "roost-readyz", patient=False)
        await connection.close()


def build_app(roost: Roost) -> Starlette:
    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in (("database", check_database), ("event_log", check_event_log)):
            try:
                await asyncio.wait_for(check(roost), CHECK_TIMEOUT_S)
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", with the reason
                results[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
        ready = all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "event_log": roost.settings.event_log,
             "checks": results},
            status_code=200 if ready else 503,
        )

    async def metrics(_request: Request) -> Response:
        body, content_type = render_latest()
        return Response(body, media_type=content_type)

    return Starlette(routes=[
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics),
    ])


class HealthServer:
    """uvicorn serving build_app(roost) inside the worker's event loop."""

    def __init__(self, roost: Roost, host: str, port: int) -> None:
        config = uvicorn.Config(build_app(roost), host=host, port=port, log_level="warning",
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Server._serve, not serve(): serve() takes SIGTERM and SIGINT over, and they
        # belong to the worker (the consumers' graceful stop).
        self._task = asyncio.create_task(self.server._serve(), name="worker-health")
        while not self.server.started:
            if self._task.done():  # the port is taken, say: uvicorn gave up
                await self._task
                raise OSError("the health server did not start")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
