"""Where the event log's own work runs, for code that must tell it from a request's."""

from __future__ import annotations

from contextvars import ContextVar

# True in the tasks of the outbox readers and the consumers, and in other background
# work (the id node lease's renewal): their statements are not a request's (the
# statement-counting tests leave them out; a renewal once landed inside a counted read).
IN_DISPATCHER: ContextVar[bool] = ContextVar("in_event_dispatcher", default=False)
