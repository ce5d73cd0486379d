"""Blocks, mutes and follow requests: the social graph's other edges.

Each write answers the Relationship with the account, read in the same transaction.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.api.auth import Viewer, require
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.common import account_list, paged, path_id
from roost.api.pagination import page_from
from roost.api.params import Params, parse, read_params
from roost.api.responses import JSONResponse
from roost.clock import iso
from roost.social import blocks, follow_requests, mutes
from roost.social import queries as social_queries

router = APIRouter()


async def _relationship(conn: AsyncConnection, viewer: Viewer, target: int) -> dict[str, Any]:
    (rel,) = await social_queries.relationships(conn, viewer.account_id, [target])
    return entities.relationship(rel)


@router.post("/api/v1/accounts/{account_id}/block")
async def block(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:blocks"))
) -> dict[str, Any]:
    target = path_id(account_id)
    roost = roost_of(request)
    async with roost.db.write() as conn:
        await blocks.block(conn, roost.ids, viewer.account_id, target)
        return await _relationship(conn, viewer, target)


@router.post("/api/v1/accounts/{account_id}/unblock")
async def unblock(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:blocks"))
) -> dict[str, Any]:
    target = path_id(account_id)
    async with roost_of(request).db.write() as conn:
        await blocks.unblock(conn, roost_of(request).ids, viewer.account_id, target)
        return await _relationship(conn, viewer, target)


class MuteParams(Params):
    notifications: bool = True
    # Seconds; 0 is indefinite, as in Mastodon.
    duration: int = Field(default=0, ge=0, le=mutes.MAX_DURATION_SECONDS)


@router.post("/api/v1/accounts/{account_id}/mute")
async def mute(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:mutes"))
) -> dict[str, Any]:
    target = path_id(account_id)
    params = await parse(request, MuteParams)
    roost = roost_of(request)
    async with roost.db.write() as conn:
        await mutes.mute(
            conn,
            roost.ids,
            viewer.account_id,
            target,
            hide_notifications=params.notifications,
            duration_seconds=params.duration,
        )
        return await _relationship(conn, viewer, target)


@router.post("/api/v1/accounts/{account_id}/unmute")
async def unmute(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:mutes"))
) -> dict[str, Any]:
    target = path_id(account_id)
    async with roost_of(request).db.write() as conn:
        await mutes.unmute(conn, roost_of(request).ids, viewer.account_id, target)
        return await _relationship(conn, viewer, target)


@router.get("/api/v1/blocks")
async def blocks_list(
    request: Request, viewer: Viewer = Depends(require("read:blocks"))
) -> JSONResponse:
    page = page_from(await read_params(request), default=40, maximum=80)
    async with roost_of(request).db.read() as conn:
        listing = await blocks.blocks_page(conn, viewer.account_id, page)
    return account_list(request, listing)


@router.get("/api/v1/mutes")
async def mutes_list(
    request: Request, viewer: Viewer = Depends(require("read:mutes"))
) -> JSONResponse:
    page = page_from(await read_params(request), default=40, maximum=80)
    async with roost_of(request).db.read() as conn:
        listing = await mutes.mutes_page(conn, viewer.account_id, page)
    base = base_url(request)
    body = []
    for row in listing.accounts:
        entity = entities.account(row, base)
        entity["mute_expires_at"] = iso(listing.rows[row.id].expires_at)
        body.append(entity)
    return paged(request, body, listing.first_key, listing.last_key)


@router.get("/api/v1/follow_requests")
async def follow_requests_list(
    request: Request, viewer: Viewer = Depends(require("read:follows"))
) -> JSONResponse:
    page = page_from(await read_params(request), default=40, maximum=80)
    async with roost_of(request).db.read() as conn:
        listing = await follow_requests.requests_page(conn, viewer.account_id, page)
    return account_list(request, listing)


@router.post("/api/v1/follow_requests/{account_id}/authorize")
async def authorize(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:follows"))
) -> dict[str, Any]:
    requester = path_id(account_id)
    roost = roost_of(request)
    async with roost.db.write() as conn:
        await follow_requests.authorize(conn, roost.ids, viewer.account_id, requester)
        return await _relationship(conn, viewer, requester)


@router.post("/api/v1/follow_requests/{account_id}/reject")
async def reject(
    request: Request, account_id: str, viewer: Viewer = Depends(require("write:follows"))
) -> dict[str, Any]:
    requester = path_id(account_id)
    async with roost_of(request).db.write() as conn:
        await follow_requests.reject(conn, roost_of(request).ids, viewer.account_id, requester)
        return await _relationship(conn, viewer, requester)
