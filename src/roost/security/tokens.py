"""Random secrets and their stored form.

Bearer tokens, client secrets and authorization codes are stored only as SHA-256
digests: they have 256 bits of entropy, so a fast hash is enough (unlike passwords),
and a copy of the database holds nothing that can be presented to the API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def sign(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
