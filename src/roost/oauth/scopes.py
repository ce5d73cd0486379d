"""Mastodon's OAuth scopes and how a granted set covers a required one.

`read` covers every `read:*`, `write` every `write:*`, and the legacy `follow` covers
the follow, block and mute scopes, as in Mastodon.
"""

from __future__ import annotations

from collections.abc import Iterable

READ_SCOPES = (
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
)
WRITE_SCOPES = (
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
)
FOLLOW_SCOPES = (
    "read:blocks",
    "read:follows",
    "read:mutes",
    "write:blocks",
    "write:follows",
    "write:mutes",
)
TOP_LEVEL = ("read", "write", "follow", "push", "profile")
ALL_SCOPES = frozenset((*TOP_LEVEL, *READ_SCOPES, *WRITE_SCOPES))
DEFAULT_SCOPES = ("read",)


class InvalidScope(ValueError):
    pass


def parse_scopes(
    raw: str | Iterable[str] | None, *, default: Iterable[str] = DEFAULT_SCOPES
) -> tuple[str, ...]:
    """Space- (or plus-) separated scopes, validated, de-duplicated, in their given order."""
    if raw is None:
        words: list[str] = []
    elif isinstance(raw, str):
        words = raw.replace("+", " ").split()
    else:
        words = [word for item in raw for word in str(item).replace("+", " ").split()]
    if not words:
        words = list(default)
    unknown = [word for word in words if word not in ALL_SCOPES]
    if unknown:
        raise InvalidScope(", ".join(unknown))
    return tuple(dict.fromkeys(words))


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope a granted set implies."""
    expanded = set(scopes)
    if "read" in expanded:
        expanded.update(READ_SCOPES)
    if "write" in expanded:
        expanded.update(WRITE_SCOPES)
    if "follow" in expanded:
        expanded.update(FOLLOW_SCOPES)
    return frozenset(expanded)


def covers(granted: frozenset[str], required: str) -> bool:
    """`granted` must already be expanded."""
    return required in granted


def subset_of(requested: Iterable[str], allowed: Iterable[str]) -> bool:
    """Can a token with `requested` be issued to an app registered for `allowed`?"""
    allowed_expanded = expand(allowed)
    return all(scope in allowed_expanded for scope in requested)
