"""Channel names, as Mastodon's streaming server names them (docs/streaming.md).

Roost has no federation, so every status is local: `timeline:public:local` carries
exactly what `timeline:public` does, and the hashtag channels likewise.
"""

from __future__ import annotations

PUBLIC = "timeline:public"
PUBLIC_LOCAL = "timeline:public:local"
PUBLIC_CHANNELS = (PUBLIC, PUBLIC_LOCAL)


def user(account_id: int) -> str:
    """The user stream's status channel: the account's home timeline as it grows."""
    return f"timeline:{account_id}"


def notifications(account_id: int) -> str:
    """The account's notifications (the user stream listens here too)."""
    return f"timeline:{account_id}:notifications"


def direct(account_id: int) -> str:
    """Direct statuses the account wrote or is mentioned in."""
    return f"timeline:direct:{account_id}"


def hashtag(name: str) -> tuple[str, str]:
    """The tag's channel and its `:local` twin; names match lower-cased (as Mastodon)."""
    lowered = name.lower()
    return f"timeline:hashtag:{lowered}", f"timeline:hashtag:{lowered}:local"


def user_stream(account_id: int, *, with_notifications: bool = True) -> list[str]:
    """What /api/v1/streaming/user listens to. A token without a notifications scope
    listens to the status channel only, which is why notifications have their own."""
    if with_notifications:
        return [user(account_id), notifications(account_id)]
    return [user(account_id)]


def marker(channel: str) -> str:
    """The key saying someone listens to `channel` (docs/streaming.md, markers)."""
    return f"subscribed:{channel}"
