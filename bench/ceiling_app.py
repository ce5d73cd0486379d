"""The framework's ceiling: Roost's own app, plus one route that does no work.

    PROMETHEUS_MULTIPROC_DIR=... ROOST_BENCH_CEILING_BODY=body.json ROOST_...=... \\
      taskset -c 0 .venv/bin/uvicorn bench.ceiling_app:app --factory \\
        --loop uvloop --http httptools --no-access-log --proxy-headers

`app()` builds the production application with `roost.app.create_app` (the same
routers, error handlers, and middleware: ObservabilityMiddleware, and the rate limiter
when ROOST_RATE_LIMITS is on) and adds `GET /bench/ceiling`, which answers a prepared
home-timeline JSON body, held in memory, read once at startup from the file named by
ROOST_BENCH_CEILING_BODY (bench/lessons.py captures it from a real home response of a
seeded user). No token check, no database, no serialisation: what is left is uvicorn,
httptools, Starlette/FastAPI routing and Roost's middleware, so the throughput of
`roost bench --scenario ceiling` against it is the most one core can serve, and every
real endpoint can be read as a fraction of it (docs/performance.md).

Nothing here is part of the production app: `roost serve` never imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

from roost.app import create_app
from roost.config import load_settings
from roost.observability.logging import configure_logging

BODY_ENV = "ROOST_BENCH_CEILING_BODY"
CEILING_PATH = "/bench/ceiling"
# Used when no body file is given: a one-status page, so the route still answers JSON.
FALLBACK_BODY = b'[{"id":"1","content":"<p>ceiling</p>","account":{"id":"1"}}]'


def load_body(environ: dict[str, str] | None = None) -> bytes:
    env = os.environ if environ is None else environ
    path = env.get(BODY_ENV)
    return Path(path).read_bytes() if path else FALLBACK_BODY


def add_ceiling_route(application: FastAPI, body: bytes) -> FastAPI:
    """Add GET /bench/ceiling answering `body` (application/json) to `application`."""

    async def ceiling() -> Response:
        return Response(content=body, media_type="application/json")

    application.add_api_route(CEILING_PATH, ceiling, methods=["GET"], include_in_schema=False)
    return application


def app() -> FastAPI:
    """Factory for uvicorn (--factory), mirroring roost.app.app_from_environment."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return add_ceiling_route(create_app(settings), load_body())
