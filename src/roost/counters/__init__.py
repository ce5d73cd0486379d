"""Counters (status_stats, account_stats), kept by a consumer of the event log."""
