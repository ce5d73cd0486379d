"""OAuth scopes: parsing, what a granted set implies, and what an app may be issued."""

from __future__ import annotations

import pytest

from roost.oauth.scopes import (
    ALL_SCOPES,
    FOLLOW_SCOPES,
    READ_SCOPES,
    WRITE_SCOPES,
    InvalidScope,
    covers,
    expand,
    parse_scopes,
    subset_of,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("read", ("read",)),
        ("read write follow push", ("read", "write", "follow", "push")),
        ("read+write", ("read", "write")),
        ("  read   write\tfollow\n", ("read", "write", "follow")),
        ("write read write read", ("write", "read")),
        ("read:statuses write:media", ("read:statuses", "write:media")),
        (["read", "write follow"], ("read", "write", "follow")),
        (("read+push",), ("read", "push")),
        ("profile", ("profile",)),
    ],
)
def test_parse_scopes(raw: str | list[str], expected: tuple[str, ...]) -> None:
    assert parse_scopes(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "+", [], [""]])
def test_missing_scopes_mean_the_default(raw: str | list[str] | None) -> None:
    assert parse_scopes(raw) == ("read",)
    assert parse_scopes(raw, default=("read", "write")) == ("read", "write")


@pytest.mark.parametrize(
    ("raw", "unknown"),
    [
        ("read admin", "admin"),
        ("read:everything", "read:everything"),
        ("READ", "READ"),
        ("read,write", "read,write"),
        ("bogus read nope", "bogus, nope"),
    ],
)
def test_unknown_scopes_are_rejected_by_name(raw: str, unknown: str) -> None:
    with pytest.raises(InvalidScope) as caught:
        parse_scopes(raw)
    assert str(caught.value) == unknown


def test_invalid_default_is_rejected_too() -> None:
    with pytest.raises(InvalidScope):
        parse_scopes(None, default=("everything",))


def test_every_scope_is_known() -> None:
    assert set(READ_SCOPES) | set(WRITE_SCOPES) | set(FOLLOW_SCOPES) <= ALL_SCOPES
    assert {"read", "write", "follow", "push", "profile"} <= ALL_SCOPES
    assert all(scope.startswith("read:") for scope in READ_SCOPES)
    assert all(scope.startswith("write:") for scope in WRITE_SCOPES)


def test_expand_top_level_scopes() -> None:
    assert expand(["read"]) == {"read", *READ_SCOPES}
    assert expand(["write"]) == {"write", *WRITE_SCOPES}
    assert expand(["follow"]) == {"follow", *FOLLOW_SCOPES}
    assert expand(["read", "write", "follow", "push"]) == {
        "read", "write", "follow", "push", *READ_SCOPES, *WRITE_SCOPES
    }


def test_expand_leaves_narrow_scopes_alone() -> None:
    assert expand(["read:statuses", "push"]) == {"read:statuses", "push"}
    assert expand([]) == frozenset()


def test_covers() -> None:
    granted = expand(["read", "write:statuses"])
    assert covers(granted, "read:accounts")
    assert covers(granted, "read")
    assert covers(granted, "write:statuses")
    assert not covers(granted, "write:media")
    assert not covers(granted, "write")
    assert not covers(granted, "push")
    follow = expand(["follow"])
    for scope in ("read:follows", "write:follows", "read:blocks", "write:mutes"):
        assert covers(follow, scope)
    assert not covers(follow, "read:statuses")
    # A narrow grant does not cover the broad scope it is part of.
    assert not covers(expand(["read:statuses"]), "read")


@pytest.mark.parametrize(
    ("requested", "allowed", "ok"),
    [
        (["read"], ["read"], True),
        (["read:statuses"], ["read"], True),
        (["read:statuses", "write:media"], ["read", "write"], True),
        (["write:follows", "read:blocks"], ["follow"], True),
        ([], ["read"], True),
        (["read"], ["read:statuses"], False),
        (["write"], ["read"], False),
        (["push"], ["read", "write", "follow"], False),
        (["follow"], ["read", "write"], False),
        (["read:statuses"], ["follow"], False),
    ],
)
def test_subset_of(requested: list[str], allowed: list[str], ok: bool) -> None:
    assert subset_of(requested, allowed) is ok
