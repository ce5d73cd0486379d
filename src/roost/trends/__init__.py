"""Trends: the inputs a consumer of the event log records (inputs.py), Mastodon's
scores computed from them (scores.py), and the cached, per-viewer filtered reads
(read.py); docs/trends.md."""
