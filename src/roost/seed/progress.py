"""A small progress bar on stderr: rows, percent and rows per second, per table."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _thousands(value: float) -> str:
    return f"{int(value):,}"


class Progress:
    """Redraws one line while a table loads (on a terminal; elsewhere it stays quiet
    until the end) and leaves a summary line when it is done."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.started = time.perf_counter()
        self._drawn = 0.0

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.perf_counter()
        if self.live and now - self._drawn >= 0.2:
            self._drawn = now
            self._draw(now, final=False)

    def _draw(self, now: float, *, final: bool) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        width = 24
        filled = int(width * min(share, 1.0))
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"  {self.label:<22} [{bar}] {_thousands(self.done):>12} rows"
            f" {share:6.1%} {_thousands(rate):>10} rows/s {elapsed:7.1f} s"
        )
        end = "\n" if final else ""
        prefix = "\r" if self.live else ""
        self.stream.write(prefix + line + end)
        self.stream.flush()

    def finish(self) -> float:
        now = time.perf_counter()
        self._draw(now, final=True)
        return now - self.started


class Step:
    """Times a step that has no rows to count (index builds, ANALYZE)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.perf_counter()

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        self.stream.write(f"  {self.label:<22} {elapsed:7.1f} s\n")
        self.stream.flush()
        return elapsed
