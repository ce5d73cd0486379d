"""Streaming pushes: what the event log publishes for live clients (docs/streaming.md).

`bus` carries messages (Redis pub/sub, or an in-process hub in embedded mode),
`channels` names them as Mastodon does, `messages` encodes them, `consumer` is the
event-log consumer that publishes, and `subscribe` is what a streaming endpoint
calls to listen.
"""
