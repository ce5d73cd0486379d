"""Mastodon's error format, {"error": "..."} (validation may add "details"), and the
handlers that make sure every failure leaves in it: a 500 is a bug, never an answer
to bad input.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg.errors import DeadlockDetected, LockNotAvailable, SerializationFailure
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from roost.api.responses import JSONResponse
from roost.errors import ApiError, forbidden, not_found, unprocessable

__all__ = ["ApiError", "forbidden", "install_error_handlers", "not_found", "unprocessable"]

log = structlog.get_logger(__name__)


_REASONS = {
    400: "Bad request",
    401: "The access token is invalid",
    403: "This action is not allowed",
    404: "Record not found",
    405: "Method not allowed",
    413: "Request entity too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
}


def database_was_busy(exc: OperationalError) -> bool:
    """SQLite's lock wait ran out, or PostgreSQL picked this transaction as a deadlock
    or serialization victim: load, not a bug, and safe to retry."""
    original = exc.orig
    if "database is locked" in str(original):
        return True
    return isinstance(original, DeadlockDetected | SerializationFailure | LockNotAvailable)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
        return JSONResponse(
            {"error": message or _REASONS.get(exc.status_code, "Error")},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Path parameters FastAPI could not convert, e.g. a non-numeric id.
        return JSONResponse({"error": "Record not found"}, status_code=404)

    @app.exception_handler(OperationalError)
    async def on_database_busy(request: Request, exc: OperationalError) -> JSONResponse:
        if not database_was_busy(exc):
            return await on_unexpected(request, exc)
        # The transaction was rolled back, so nothing was written: the client may retry.
        log.warning("database busy", path=request.url.path, error=str(exc.orig))
        return JSONResponse(
            {"error": "The server is busy, try again in a moment"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", path=request.url.path, request_id=request_id)
        # This answer is sent outside ObservabilityMiddleware (by Starlette's outermost
        # ServerErrorMiddleware), so the request id that middleware adds is set here.
        return JSONResponse(
            {"error": "Internal server error"},
            status_code=500,
            headers={"X-Request-Id": request_id} if request_id else None,
        )
