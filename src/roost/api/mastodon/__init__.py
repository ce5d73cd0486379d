"""The Mastodon client API: one router module per resource."""
