"""Statuses: posting, deleting, rendering, and who may see what."""
