"""Sign-up and profile validation that reports problems the way Mastodon does:

{"error": "Validation failed: Username has already been taken",
 "details": {"username": [{"error": "ERR_TAKEN", "description": "has already been taken"}]}}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from roost.errors import ApiError

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
USERNAME_MAX = 30
PASSWORD_MIN = 8
PASSWORD_MAX = 72
DISPLAY_NAME_MAX = 30
NOTE_MAX = 500
FIELDS_MAX = 4
FIELD_PART_MAX = 255
# Names that would impersonate the server or its staff.
RESERVED_USERNAMES = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "support",
        "help",
        "moderator",
        "mod",
        "staff",
        "webmaster",
        "postmaster",
        "hostmaster",
        "abuse",
        "security",
        "noreply",
        "system",
        "roost",
        "mastodon",
        "instance",
        "api",
        "oauth",
        "settings",
        "about",
    }
)


@dataclass
class Problems:
    """Collects field errors; `raise_if_any` turns them into Mastodon's 422."""

    details: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def add(self, attribute: str, code: str, description: str) -> None:
        self.details.setdefault(attribute, []).append({"error": code, "description": description})
        self.messages.append(f"{attribute.replace('_', ' ').capitalize()} {description}")

    def raise_if_any(self) -> None:
        if self.details:
            raise ApiError(
                422, "Validation failed: " + ", ".join(self.messages), details=self.details
            )


def check_username(problems: Problems, username: str | None) -> None:
    if not username:
        problems.add("username", "ERR_BLANK", "can't be blank")
    elif len(username) > USERNAME_MAX:
        problems.add(
            "username", "ERR_TOO_LONG", f"is too long (maximum is {USERNAME_MAX} characters)"
        )
    elif not USERNAME_PATTERN.match(username):
        problems.add(
            "username", "ERR_INVALID", "must contain only letters, numbers and underscores"
        )
    elif username.lower() in RESERVED_USERNAMES:
        problems.add("username", "ERR_RESERVED", "is reserved")


def check_email(problems: Problems, email: str | None) -> None:
    if not email:
        problems.add("email", "ERR_BLANK", "can't be blank")
    elif len(email) > 320 or not EMAIL_PATTERN.match(email):
        problems.add("email", "ERR_INVALID", "is invalid")


def check_password(problems: Problems, password: str | None) -> None:
    if not password:
        problems.add("password", "ERR_BLANK", "can't be blank")
    elif len(password) < PASSWORD_MIN:
        problems.add(
            "password", "ERR_TOO_SHORT", f"is too short (minimum is {PASSWORD_MIN} characters)"
        )
    elif len(password) > PASSWORD_MAX:
        problems.add(
            "password", "ERR_TOO_LONG", f"is too long (maximum is {PASSWORD_MAX} characters)"
        )


def check_agreement(problems: Problems, agreement: bool | None) -> None:
    if not agreement:
        problems.add("agreement", "ERR_ACCEPTED", "must be accepted")


def check_sign_up(problems: Problems, *, username: str | None, email: str | None,
                  password: str | None, agreement: bool | None, reason: str | None,
                  registrations: str) -> None:
    """Everything a sign-up must satisfy, for the API and the web page alike. With
    ROOST_REGISTRATIONS=approval a person must say why they want to join (a moderator
    reads it before approving), as Mastodon asks."""
    check_username(problems, username)
    check_email(problems, email)
    check_password(problems, password)
    check_agreement(problems, agreement)
    if registrations == "approval" and not (reason or "").strip():
        problems.add("reason", "ERR_BLANK", "can't be blank")
