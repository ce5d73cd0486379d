"""One log line per outage, not one per retry.

A loop that retries every second while Redis, NATS or the database is away would log
a traceback each time (94 in a 10 s Redis outage, bench/redis_outage.py). This logs
the first failure in full, then a one-line reminder every REMINDER_SECONDS with the
count, and one line when the loop succeeds again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

REMINDER_SECONDS = 30.0


class RepeatedFailures:
    def __init__(self, logger: Any, what: str, *,
                 clock: Callable[[], float] = time.monotonic, **fields: Any) -> None:
        self.logger = logger
        self.clock = clock
        self.what = what
        self.fields = fields
        self.count = 0
        self._reminded_at = 0.0

    def failed(self, error: BaseException) -> None:
        """Call from an `except` block (the first failure's traceback is logged)."""
        self.count += 1
        now = self.clock()
        if self.count == 1:
            self.logger.exception(self.what, **self.fields)
            self._reminded_at = now
        elif now - self._reminded_at >= REMINDER_SECONDS:
            self.logger.warning(f"{self.what}, still", failures=self.count,
                                error=f"{type(error).__name__}: {error}", **self.fields)
            self._reminded_at = now

    def succeeded(self) -> None:
        if self.count:
            self.logger.info(f"{self.what}: recovered", failures=self.count, **self.fields)
            self.count = 0


def repeated_failures(name: str, what: str, **fields: Any) -> RepeatedFailures:
    return RepeatedFailures(structlog.get_logger(name), what, **fields)
