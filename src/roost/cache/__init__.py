"""Caches: objects read through with invalidation after commit (objects.py), and
computed values with stampede protection (computed.py); docs/caching.md."""
