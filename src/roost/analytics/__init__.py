"""Analytics: daily active accounts, posts, sign-ups (a consumer of the event log)."""
