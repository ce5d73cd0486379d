"""Accounts: sign-up, credentials, profiles, follows, relationships.

Fixed paths (verify_credentials, lookup, relationships...) are declared before
/accounts/{account_id} so that they are never read as an id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from roost.accounts import operations as account_ops
from roost.accounts import queries as account_queries
from roost.accounts import validation
from roost.api.auth import Viewer, optional, require, require_app, viewer_account_id
from roost.api.context import base_url, host_of, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.common import account_list, id_list, path_id, status_page
from roost.api.mastodon.media import read_file_param
from roost.api.mastodon.search import account_search
from roost.api.pagination import page_from
from roost.api.params import Params, parse, read_params
from roost.api.responses import JSONResponse
from roost.errors import ApiError, forbidden, not_found
from roost.media import operations as media_ops
from roost.oauth.operations import issue_token
from roost.security.passwords import hash_password
from roost.social import follow_requests
from roost.social import operations as social_ops
from roost.social import queries as social_queries
from roost.statuses import queries as status_queries
from roost.statuses.operations import LANGUAGE_PATTERN

router = APIRouter()


class SignUpParams(Params):
    username: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=400)
    password: str | None = Field(default=None, max_length=1024)
    agreement: bool = False
    locale: str = Field(default="en", max_length=16)
    reason: str | None = Field(default=None, max_length=1000)


@router.post("/api/v1/accounts")
async def sign_up(
    request: Request, viewer: Viewer = Depends(require_app("write:accounts"))
) -> dict[str, Any]:
    roost = roost_of(request)
    mode = roost.settings.registrations
    if mode == "closed":
        raise forbidden("Registrations are closed on this server")
    params = await parse(request, SignUpParams)
    problems = validation.Problems()
    validation.check_sign_up(problems, username=params.username, email=params.email,
                             password=params.password, agreement=params.agreement,
                             reason=params.reason, registrations=mode)
    problems.raise_if_any()
    assert params.username and params.email and params.password
    password_hash = await hash_password(params.password)
    async with roost.db.write() as conn:
        account_id = await account_ops.create_account(
            conn,
            roost.ids,
            account_ops.NewAccount(
                username=params.username,
                email=params.email,
                password_hash=password_hash,
                locale=params.locale,
                reason=params.reason,
                approved=mode == "open",
            ),
        )
        token, row = await issue_token(
            conn,
            roost.ids,
            application_id=viewer.token.application_id,
            account_id=account_id,
            scopes=viewer.token.scopes,
        )
    return entities.token(token, " ".join(viewer.token.scopes), int(row.created_at.timestamp()))


@router.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(
    request: Request, viewer: Viewer = Depends(require("profile", "read:accounts"))
) -> dict[str, Any]:
    async with roost_of(request).db.read() as conn:
        row = await account_queries.get_account(conn, viewer.account_id)
        user = await account_queries.get_user(conn, viewer.account_id)
        pending = await follow_requests.pending_count(conn, viewer.account_id)
    if row is None or user is None:
        raise not_found()
    return entities.credential_account(
        row, user, base_url(request), follow_requests_count=pending
    )


class FieldParams(Params):
    name: str = Field(default="", max_length=validation.FIELD_PART_MAX)
    value: str = Field(default="", max_length=validation.FIELD_PART_MAX)


class SourceParams(Params):
    privacy: str | None = Field(default=None, pattern="^(public|unlisted|private)$")
    sensitive: bool | None = None
    language: str | None = Field(default=None, max_length=8)


class ProfileParams(Params):
    display_name: str | None = Field(default=None, max_length=validation.DISPLAY_NAME_MAX)
    note: str | None = Field(default=None, max_length=validation.NOTE_MAX)
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    fields_attributes: dict[str, FieldParams] | list[FieldParams] | None = None
    source: SourceParams | None = None


def _field_position(key: str) -> int:
    # isascii() and a length cap: "²" passes isdigit() but not int(), and int() refuses
    # strings of more than 4300 digits.
    return int(key) if key.isascii() and key.isdigit() and len(key) <= 9 else 0


def profile_changes(params: ProfileParams) -> dict[str, Any]:
    changes: dict[str, Any] = params.model_dump(
        include={"display_name", "note", "locked", "bot", "discoverable"}, exclude_none=True
    )
    if params.fields_attributes is not None:
        raw = params.fields_attributes
        # Rails-style hashes ({"0": {...}, "1": {...}}) keep their numeric order.
        items = [raw[k] for k in sorted(raw, key=_field_position)] if isinstance(raw, dict) else raw
        fields = [{"name": f.name, "value": f.value} for f in items if f.name or f.value]
        if len(fields) > validation.FIELDS_MAX:
            raise ApiError(422, f"Validation failed: Fields are limited to {validation.FIELDS_MAX}")
        changes["fields"] = fields
    if params.source is not None:
        source = params.source
        if source.language and not LANGUAGE_PATTERN.fullmatch(source.language):
            raise ApiError(422, "Validation failed: Language is not a valid ISO 639 code")
        for key, value in (
            ("default_privacy", source.privacy),
            ("default_sensitive", source.sensitive),
            ("default_language", source.language),
        ):
            if value is not None:
                changes[key] = value
    return changes


@router.patch("/api/v1/accounts/update_credentials")
async def update_credentials(
    request: Request, viewer: Viewer = Depends(require("write:accounts"))
) -> dict[str, Any]:
    avatar_data = await read_file_param(request, "avatar", required=False, files_in_body=2)
    header_data = await read_file_param(request, "header", required=False, files_in_body=2)
    changes = profile_changes(await parse(request, ProfileParams))
    roost = roost_of(request)
    # Processed and stored before the transaction: a file nobody uses is harmless.
    avatar = header = None
    if avatar_data is not None:
        avatar = await media_ops.store_profile_image(
            roost.settings, avatar_data, media_ops.AVATAR_SIZE)
    if header_data is not None:
        header = await media_ops.store_profile_image(
            roost.settings, header_data, media_ops.HEADER_SIZE)
    async with roost.db.write() as conn:
        await account_ops.update_profile(conn, roost_of(request).ids, viewer.account_id, changes)
        replaced = await media_ops.set_profile_images(
            conn, roost.ids, viewer.account_id, avatar=avatar, header=header)
        if changes.get("locked") is False:
            # Unlocking lets everyone waiting in (a no-op when nobody is).
            await follow_requests.authorize_all(conn, roost.ids, viewer.account_id)
        row = await account_queries.get_account(conn, viewer.account_id)
        user = await account_queries.get_user(conn, viewer.account_id)
        pending = await follow_requests.pending_count(conn, viewer.account_id)
    if replaced:
        async with roost.db.read() as conn:
            await media_ops.remove_if_unreferenced(conn, roost.settings, replaced)
    assert row is not None and user is not None
    return entities.credential_account(
        row, user, base_url(request), follow_requests_count=pending
    )


@router.get("/api/v1/accounts/lookup")
async def lookup(
    request: Request, viewer: Viewer | None = Depends(optional("read:accounts"))
) -> dict[str, Any]:
    acct = str((await read_params(request)).get("acct") or "").lstrip("@")
    username, _, domain = acct.partition("@")
    if not username or (domain and domain.lower() != host_of(request).lower()):
        raise not_found()
    async with roost_of(request).db.read() as conn:
        row = await account_queries.find_by_username(conn, username)
    if row is None:
        raise not_found()
    return entities.account(row, base_url(request))


@router.get("/api/v1/accounts/relationships")
async def relationships(
    request: Request, viewer: Viewer = Depends(require("read:follows"))
) -> list[dict[str, Any]]:
    ids = await id_list(request, maximum=100)
    async with roost_of(request).db.read() as conn:
        found = await social_queries.relationships(conn, viewer.account_id, ids)
    return [entities.relationship(rel) for rel in found]


@router.get("/api/v1/accounts")
async def get_accounts(
    request: Request, viewer: Viewer | None = Depends(optional("read:accounts"))
) -> list[dict[str, Any]]:
    ids = await id_list(request, maximum=40)
    async with roost_of(request).db.read() as conn:
        found = await account_queries.get_accounts(conn, ids)
    base = base_url(request)
    return [entities.account(found[i], base) for i in ids if i in found]


@router.get("/api/v1/accounts/search")
async def search_accounts(
    request: Request, viewer: Viewer = Depends(require("read:accounts"))
) -> list[dict[str, Any]]:
    """Served by api/mastodon/search.py; declared here so that it comes before
    /accounts/{account_id}, which would read `search` as an id."""
    return await account_search(request, viewer)


@router.get("/api/v1/accounts/{account_id}")
async def get_account(
    request: Request, account_id: str, viewer: Viewer | None = Depends(optional("read:accounts"))
) -> dict[str, Any]:
    async with roost_of(request).db.read() as conn:
        row = await account_queries.get_account(conn, path_id(account_id))
    if row is None:
        raise not_found()
    return entities.account(row, base_url(request))


class AccountStatusesParams(Params):
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    only_media: bool = False
    pinned: bool = False


@router.get("/api/v1/accounts/{account_id}/statuses")
async def account_statuses(
    request: Request, account_id: str, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> JSONResponse:
    target = path_id(account_id)
    params = await parse(request, AccountStatusesParams)
    page = page_from(await read_params(request), default=20, maximum=40)
    viewer_id = viewer_account_id(viewer)
    async with roost_of(request).db.read() as conn:
        if await account_queries.get_account(conn, target) is None:
            raise not_found()
        if params.only_media or params.pinned:
            ids: list[int] = []  # media and pins arrive with later issues: none exist yet
        else:
            ids = await status_queries.account_status_ids(
                conn,
                target,
                viewer_id,
                page,
                exclude_replies=params.exclude_replies,
                exclude_reblogs=params.exclude_reblogs,
            )
        return await status_page(request, conn, ids, viewer_id)


async def _follow_list(request: Request, account_id: str, followers: bool) -> JSONResponse:
    target = path_id(account_id)
    page = page_from(await read_params(request), default=40, maximum=80)
    async with roost_of(request).db.read() as conn:
        if await account_queries.get_account(conn, target) is None:
            raise not_found()
        listing = social_queries.followers_page if followers else social_queries.following_page
        result = await listing(conn, target, page)
    return account_list(request, result)


@router.get("/api/v1/accounts/{account_id}/followers")
async def followers(
    request: Request, account_id: str, viewer: Viewer | None = Depends(optional("read:accounts"))
) -> JSONResponse:
    return await _follow_list(request, account_id, followers=True)


@router.get("/api/v1/accounts/{account_id}/following")
async def following(
    request: Request, account_id: str, viewer: Viewer | None = Depends(optional("read:accounts"))
) -> JSONResponse:
    return await _follow_list(request, account_id, followers=False)


class FollowParams(Params):
    reblogs: bool | None = None
    notify: bool | None = None


async def _relationship_with(request: Request, viewer: Viewer, target: int) -> dict[str, Any]:
    async with roost_of(request).db.read() as conn:
        (rel,) = await social_queries.relationships(conn, viewer.account_id, [target])
    return entities.relationship(rel)


@router.post("/api/v1/accounts/{account_id}/follow")
async def follow(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:follows"))
) -> dict[str, Any]:
    target = path_id(account_id)
    params = await parse(request, FollowParams)
    roost = roost_of(request)
    async with roost.db.write() as conn:
        await social_ops.follow(
            conn,
            roost.ids,
            viewer.account_id,
            target,
            show_reblogs=params.reblogs,
            notify=params.notify,
        )
    return await _relationship_with(request, viewer, target)


@router.post("/api/v1/accounts/{account_id}/unfollow")
async def unfollow(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:follows"))
) -> dict[str, Any]:
    target = path_id(account_id)
    async with roost_of(request).db.write() as conn:
        if await account_queries.get_account(conn, target) is None:
            raise not_found()
        await social_ops.unfollow(conn, roost_of(request).ids, viewer.account_id, target)
    return await _relationship_with(request, viewer, target)
