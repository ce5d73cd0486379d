"""Applications, authorization codes and access tokens: the writes and reads of OAuth."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.cache.keys import TOKEN, invalidate_after_commit, token_key
from roost.cache.objects import Want, object_cache_of
from roost.clock import utcnow
from roost.db.tables import access_tokens, applications, authorization_codes, users
from roost.ids import IdGenerator, random_shard
from roost.security.tokens import digest, matches, new_secret

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class TokenInfo:
    """What a request's bearer token grants."""

    token_id: int
    application_id: int
    account_id: int | None
    scopes: tuple[str, ...]
    user_approved: bool
    user_disabled: bool


async def register_app(
    conn: AsyncConnection,
    ids: IdGenerator,
    *,
    name: str,
    redirect_uris: list[str],
    scopes: tuple[str, ...],
    website: str | None,
) -> tuple[Row[Any], str]:
    """Returns the new app and its client secret (shown this once, stored hashed)."""
    client_secret = new_secret()
    row = (
        await conn.execute(
            insert(applications)
            .values(
                id=ids.next_id(random_shard()),
                name=name,
                website=website,
                redirect_uris="\n".join(redirect_uris),
                scopes=" ".join(scopes),
                client_id=new_secret(),
                client_secret_hash=digest(client_secret),
                created_at=utcnow(),
            )
            .returning(*applications.c)
        )
    ).one()
    return row, client_secret


async def find_app(conn: AsyncConnection, client_id: str) -> Row[Any] | None:
    return (
        await conn.execute(select(applications).where(applications.c.client_id == client_id))
    ).first()


async def get_app(conn: AsyncConnection, application_id: int) -> Row[Any]:
    return (
        await conn.execute(select(applications).where(applications.c.id == application_id))
    ).one()


async def authenticate_client(
    conn: AsyncConnection, client_id: str, client_secret: str
) -> Row[Any] | None:
    app = await find_app(conn, client_id)
    if app is None or not matches(app.client_secret_hash, digest(client_secret)):
        return None
    return app


async def issue_token(
    conn: AsyncConnection,
    ids: IdGenerator,
    *,
    application_id: int,
    account_id: int | None,
    scopes: tuple[str, ...],
) -> tuple[str, Row[Any]]:
    token = new_secret()
    row = (
        await conn.execute(
            insert(access_tokens)
            .values(
                id=ids.next_id(random_shard()),
                token_hash=digest(token),
                application_id=application_id,
                account_id=account_id,
                scopes=" ".join(scopes),
                created_at=utcnow(),
            )
            .returning(*access_tokens.c)
        )
    ).one()
    return token, row


def token_query(token: str) -> Select[Any]:
    """The unrevoked token with this value and, for a user token, the user's standing;
    found by the unique index on the token's hash."""
    return (
        select(
            access_tokens.c.id,
            access_tokens.c.application_id,
            access_tokens.c.account_id,
            access_tokens.c.scopes,
            users.c.approved,
            users.c.disabled,
        )
        .select_from(
            access_tokens.outerjoin(users, users.c.account_id == access_tokens.c.account_id)
        )
        .where(access_tokens.c.token_hash == digest(token), access_tokens.c.revoked_at.is_(None))
    )


async def lookup_token(conn: AsyncConnection, token: str) -> TokenInfo | None:
    """Every authenticated request asks: from the object cache, else one statement
    (the token and, for a user token, the user's standing)."""
    cache = object_cache_of(conn)
    if cache is None:
        found = await _load_token(conn, token)
    else:
        token_hash = digest(token)
        read = cache.read()
        (loaded,) = await read.fetch(Want(
            TOKEN, {token_hash: token_key(token_hash)},
            lambda _hashes: _loaded_token(conn, token, token_hash),
            # Unknown tokens are not remembered: anyone can make up endless ones.
            cacheable=lambda value: value is not None,
        ))
        await read.store()
        found = loaded.get(token_hash)
    if found is None:
        return None
    return TokenInfo(**{**found, "scopes": tuple(found["scopes"])})


async def _loaded_token(
    conn: AsyncConnection, token: str, token_hash: str
) -> dict[str, dict[str, Any]]:
    found = await _load_token(conn, token)
    return {token_hash: found} if found is not None else {}


async def _load_token(conn: AsyncConnection, token: str) -> dict[str, Any] | None:
    row = (await conn.execute(token_query(token))).first()
    if row is None:
        return None
    return {
        "token_id": row.id,
        "application_id": row.application_id,
        "account_id": row.account_id,
        "scopes": row.scopes.split(),
        "user_approved": bool(row.approved) if row.account_id is not None else True,
        "user_disabled": bool(row.disabled) if row.account_id is not None else False,
    }


async def revoke_token(conn: AsyncConnection, application_id: int, token: str) -> None:
    """Revoking an unknown or foreign token is not an error (RFC 7009)."""
    await conn.execute(
        update(access_tokens)
        .where(
            access_tokens.c.token_hash == digest(token),
            access_tokens.c.application_id == application_id,
            access_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    invalidate_after_commit(conn, [token_key(digest(token))])


async def create_code(
    conn: AsyncConnection,
    *,
    application_id: int,
    account_id: int,
    redirect_uri: str,
    scopes: tuple[str, ...],
    code_challenge: str | None,
) -> str:
    code = new_secret()
    await conn.execute(
        insert(authorization_codes).values(
            code_hash=digest(code),
            application_id=application_id,
            account_id=account_id,
            redirect_uri=redirect_uri,
            scopes=" ".join(scopes),
            code_challenge=code_challenge,
            expires_at=utcnow() + CODE_LIFETIME,
        )
    )
    return code


def pkce_s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


class CodeRejected(Exception):
    pass


async def redeem_code(
    conn: AsyncConnection,
    *,
    application_id: int,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
) -> tuple[int, tuple[str, ...]]:
    """Consumes a code exactly once; returns the account and the scopes it grants."""
    # DELETE ... RETURNING makes redemption atomic: a replayed code finds nothing.
    row = (
        await conn.execute(
            delete(authorization_codes)
            .where(
                and_(
                    authorization_codes.c.code_hash == digest(code),
                    authorization_codes.c.application_id == application_id,
                )
            )
            .returning(*authorization_codes.c)
        )
    ).first()
    if row is None or row.expires_at < utcnow():
        raise CodeRejected("The authorization code is invalid, expired or already used")
    if redirect_uri is not None and redirect_uri != row.redirect_uri:
        raise CodeRejected("The redirect URI does not match the one authorized")
    verified = code_verifier is not None and matches(
        row.code_challenge or "", pkce_s256(code_verifier)
    )
    if row.code_challenge is not None and not verified:
        raise CodeRejected("The code verifier does not match the code challenge")
    return row.account_id, tuple(row.scopes.split())
