"""Roost: a self-hostable social network server that speaks the Mastodon client API."""

__version__ = "0.1.0"

# The Mastodon API version Roost implements; clients gate features on it.
MASTODON_COMPAT_VERSION = "4.5.0"
# The v2 instance entity's api_versions.mastodon: the API revision clients may rely on.
MASTODON_API_VERSION = 6
