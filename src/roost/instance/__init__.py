"""Facts about this server: statistics and limits."""
