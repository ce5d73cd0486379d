"""The one exception type that carries an HTTP answer up from any layer.

Domain operations raise it for a rule the caller broke (a taken username, a status
that may not be seen); the API layer renders it in Mastodon's error format.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Becomes {"error": message} (plus "details" when given) with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.details is not None:
            body["details"] = self.details
        if self.extra:
            body.update(self.extra)
        return body


def not_found() -> ApiError:
    # The same answer for "does not exist" and "exists but you may not see it".
    return ApiError(404, "Record not found")


def unprocessable(message: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(422, message, details=details)


def forbidden(message: str = "This action is not allowed") -> ApiError:
    return ApiError(403, message)
