"""Trends: the inputs a consumer of the event log records; scoring comes later
(docs/events.md)."""
