"""An outage is logged once, reminded of now and then, and its end is logged."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from roost.observability.repeated import RepeatedFailures


def test_an_outage_is_one_line_not_one_per_retry() -> None:
    clock = [100.0]
    failures = RepeatedFailures(structlog.get_logger("t"), "round failed",
                                clock=lambda: clock[0], group="g")
    with capture_logs() as logs:
        for _ in range(50):  # a retry a second for 50 s
            try:
                raise ConnectionError("refused")
            except ConnectionError as error:
                failures.failed(error)
            clock[0] += 1.0
        failures.succeeded()
        failures.succeeded()
    events = [(entry["log_level"], entry["event"]) for entry in logs]
    assert events == [("error", "round failed"), ("warning", "round failed, still"),
                      ("info", "round failed: recovered")]
    assert logs[1]["failures"] == 31 and logs[2]["failures"] == 50
    assert logs[0]["exc_info"] is True and logs[0]["group"] == "g"
