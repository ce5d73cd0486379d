"""Settings pages: `/settings/profile`, `/settings/password`, `/settings/apps`.

- Profile: the same operation as PATCH /api/v1/accounts/update_credentials: the form is
  validated by the API's own parameter model and turned into changes by its own
  function (api.mastodon.accounts.ProfileParams, profile_changes), images are stored by
  media.operations.store_profile_image, then accounts.operations.update_profile and
  media.operations.set_profile_images in one transaction (unlocking lets pending
  follow requests in, as the API does).
- Password: the current password must match (checked at most 5 times in 5 minutes per
  account, session.PASSWORD_CHECKS_PER_ACCOUNT); the new one passes sign-up's rules
  (accounts.validation.check_password) and a confirmation. Like Mastodon (its
  registrations controller clears the other sessions, and keeps OAuth apps'
  tokens), a change signs out every OTHER web session ("Roost Web" tokens but this
  one) and leaves tokens of other applications alone: those are revoked one
  application at a time under Authorized apps.
- Authorized apps: the applications holding a live token for the person, with a Revoke
  button that revokes all of that application's tokens for them
  (oauth.authorized.revoke_app_tokens). The web's own application is shown as this
  session and cannot be revoked here: signing out ends a web session.
- Blocked and muted accounts: the only way back to a blocked account whose name was
  forgotten (search hides it). Each section is GET /api/v1/blocks's or /api/v1/mutes's
  own read (social.blocks.blocks_page, social.mutes.mutes_page: the rows, then their
  accounts in one statement), paged separately by `?blocks_max_id=` / `?mutes_max_id=`
  (and `limit`, at most 40); Unblock / Unmute call social.blocks.unblock /
  social.mutes.unmute as the API and the profile's buttons do (unblocking someone not
  blocked changes nothing; an id that is no account is a 404 shown on the page).

Every POST reads its form through session.checked_form (CSRF), shows its errors on the
form (422, nothing written) and answers 303 on success.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import update
from starlette.datastructures import FormData, UploadFile

from roost.accounts import operations as account_ops
from roost.accounts import queries as account_queries
from roost.accounts import validation
from roost.api.auth import Viewer
from roost.api.context import base_url, roost_of
from roost.api.mastodon import accounts as accounts_api
from roost.api.mastodon import entities
from roost.api.mastodon.common import path_id
from roost.api.mastodon.media import too_large
from roost.api.pagination import page_from
from roost.api.params import validate
from roost.clock import iso
from roost.db.tables import users
from roost.errors import ApiError
from roost.media import operations as media_ops
from roost.oauth.authorized import authorized_apps, revoke_app_tokens
from roost.paging import Page
from roost.security.passwords import hash_password, verify_password
from roost.social import blocks, follow_requests, mutes
from roost.social.listing import AccountPage
from roost.web.pages.auth import too_many_attempts
from roost.web.pages.profiles import Action
from roost.web.render import error_page, page, redirect
from roost.web.session import (
    WEB_APP_NAME,
    checked_form,
    form_text,
    password_check_refused_until,
    require_viewer,
    web_application,
)

router = APIRouter()

FIELD_SLOTS = validation.FIELDS_MAX


@router.get("/settings", include_in_schema=False)
async def settings_index(viewer: Viewer = Depends(require_viewer)) -> RedirectResponse:
    return redirect("/settings/profile")


# --- profile -----------------------------------------------------------------------------


async def _profile_page(request: Request, viewer: Viewer, *, status_code: int = 200,
                        error: str | None = None, form: dict[str, Any] | None = None
                        ) -> HTMLResponse:
    async with roost_of(request).db.read() as conn:
        row = await account_queries.get_account(conn, viewer.account_id)
    assert row is not None
    if form is None:
        raw_fields = [f for f in (row.fields or []) if isinstance(f, dict)]
        form = {
            "display_name": row.display_name or "",
            "note": row.note or "",
            "locked": bool(row.locked),
            "discoverable": bool(row.discoverable),
            "fields": [{"name": f.get("name", ""), "value": f.get("value", "")}
                       for f in raw_fields],
        }
    fields = list(form["fields"])[:FIELD_SLOTS]
    fields += [{"name": "", "value": ""}] * (FIELD_SLOTS - len(fields))
    return page(request, "settings/profile.html", status_code=status_code, viewer=row,
                account=entities.account(row, base_url(request)), form={**form,
                                                                         "fields": fields},
                error=error, saved=request.query_params.get("saved") == "1",
                limits=validation)


@router.get("/settings/profile", response_class=HTMLResponse, include_in_schema=False)
async def profile_form(request: Request, viewer: Viewer = Depends(require_viewer)
                       ) -> HTMLResponse:
    return await _profile_page(request, viewer)


def _submitted(form: FormData) -> dict[str, Any]:
    return {
        "display_name": form_text(form, "display_name"),
        "note": form_text(form, "note"),
        "locked": form.get("locked") == "on",
        "discoverable": form.get("discoverable") == "on",
        "fields": [
            {"name": form_text(form, f"fields[{i}][name]"),
             "value": form_text(form, f"fields[{i}][value]")}
            for i in range(FIELD_SLOTS)
        ],
    }


async def _image(request: Request, form: FormData, name: str) -> bytes | None:
    """The uploaded file `name`, or None when the file input was left empty (browsers
    send an empty part without a filename)."""
    value = form.get(name)
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    max_bytes = roost_of(request).settings.media_max_image_bytes
    data = await value.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return data or None


@router.post("/settings/profile", response_model=None, include_in_schema=False)
async def save_profile(request: Request, viewer: Viewer = Depends(require_viewer)
                       ) -> RedirectResponse | HTMLResponse:
    form = await checked_form(request)
    submitted = _submitted(form)
    roost = roost_of(request)
    try:
        params = validate(accounts_api.ProfileParams, {
            "display_name": submitted["display_name"],
            "note": submitted["note"],
            "locked": submitted["locked"],
            "discoverable": submitted["discoverable"],
            "fields_attributes": submitted["fields"],
        })
        changes = accounts_api.profile_changes(params)
        avatar_data = await _image(request, form, "avatar")
        header_data = await _image(request, form, "header")
        # Stored before the transaction, as the API does: a file nobody uses is harmless.
        avatar = header = None
        if avatar_data is not None:
            avatar = await media_ops.store_profile_image(roost.settings, avatar_data,
                                                         media_ops.AVATAR_SIZE)
        if header_data is not None:
            header = await media_ops.store_profile_image(roost.settings, header_data,
                                                         media_ops.HEADER_SIZE)
    except ApiError as error:
        return await _profile_page(request, viewer, status_code=error.status,
                                   error=error.message, form=submitted)
    async with roost.db.write() as conn:
        await account_ops.update_profile(conn, roost.ids, viewer.account_id, changes)
        replaced = await media_ops.set_profile_images(
            conn, roost.ids, viewer.account_id, avatar=avatar, header=header)
        if changes.get("locked") is False:
            await follow_requests.authorize_all(conn, roost.ids, viewer.account_id)
    if replaced:
        async with roost.db.read() as conn:
            await media_ops.remove_if_unreferenced(conn, roost.settings, replaced)
    return redirect("/settings/profile?saved=1")


# --- password ----------------------------------------------------------------------------


async def _password_page(request: Request, viewer: Viewer, *, status_code: int = 200,
                         errors: list[str] | None = None) -> HTMLResponse:
    async with roost_of(request).db.read() as conn:
        row = await account_queries.get_account(conn, viewer.account_id)
    return page(request, "settings/password.html", status_code=status_code, viewer=row,
                errors=errors or [], saved=request.query_params.get("saved") == "1",
                minimum=validation.PASSWORD_MIN)


@router.get("/settings/password", response_class=HTMLResponse, include_in_schema=False)
async def password_form(request: Request, viewer: Viewer = Depends(require_viewer)
                        ) -> HTMLResponse:
    return await _password_page(request, viewer)


@router.post("/settings/password", response_model=None, include_in_schema=False)
async def change_password(request: Request, viewer: Viewer = Depends(require_viewer)
                          ) -> Response:
    form = await checked_form(request)
    current = form_text(form, "current_password")
    new = form_text(form, "new_password")
    until = await password_check_refused_until(request, viewer.account_id)
    if until is not None:
        return too_many_attempts(request, until)
    roost = roost_of(request)
    async with roost.db.read() as conn:
        user = await account_queries.get_user(conn, viewer.account_id)
    errors = []
    if user is None or not await verify_password(user.password_hash, current):
        errors.append("Current password is wrong")
    problems = validation.Problems()
    validation.check_password(problems, new)
    errors += [message.replace("Password", "New password", 1) for message in problems.messages]
    if new != form_text(form, "confirm_password"):
        errors.append("New password and its confirmation do not match")
    if errors:
        return await _password_page(request, viewer, status_code=422, errors=errors)
    password_hash = await hash_password(new)
    async with roost.db.write() as conn:
        await conn.execute(update(users).where(users.c.account_id == viewer.account_id)
                           .values(password_hash=password_hash))
        web_app = await web_application(conn, roost.ids)
        await revoke_app_tokens(conn, viewer.account_id, web_app.id,
                                keep_token_id=viewer.token.token_id)
    return redirect("/settings/password?saved=1")


# --- authorized apps ---------------------------------------------------------------------


@router.get("/settings/apps", response_class=HTMLResponse, include_in_schema=False)
async def apps(request: Request, viewer: Viewer = Depends(require_viewer)) -> HTMLResponse:
    async with roost_of(request).db.read() as conn:
        row = await account_queries.get_account(conn, viewer.account_id)
        found = await authorized_apps(conn, viewer.account_id)
    return page(request, "settings/apps.html", viewer=row, apps=found,
                current_app_id=viewer.token.application_id, web_app_name=WEB_APP_NAME,
                revoked=request.query_params.get("revoked") == "1")


@router.post("/settings/apps/{application_id}/revoke", response_model=None,
             include_in_schema=False)
async def revoke_app(request: Request, application_id: str,
                     viewer: Viewer = Depends(require_viewer)
                     ) -> RedirectResponse | HTMLResponse:
    await checked_form(request)
    try:
        target = path_id(application_id)
        if target == viewer.token.application_id:
            raise ApiError(422, "This is the application you are signed in with: sign out "
                                "to end this session")
    except ApiError as error:
        async with roost_of(request).db.read() as conn:
            row = await account_queries.get_account(conn, viewer.account_id)
        return page(request, "refused.html", status_code=error.status, viewer=row,
                    message=error.message, back="/settings/apps",
                    back_label="Back to authorized apps")
    async with roost_of(request).db.write() as conn:
        await revoke_app_tokens(conn, viewer.account_id, target)
    return redirect("/settings/apps?revoked=1")


# --- blocked and muted accounts ----------------------------------------------------------

# The API's default page; its maximum (80) is more than one page of forms should hold.
BLOCKS_PAGE = 40
BLOCK_SECTIONS = ("blocks", "mutes")


def _section_pages(request: Request) -> dict[str, Page]:
    """Each section's page from `?{section}_max_id=` and the shared `limit`, checked as the
    API checks `max_id` and `limit` (ApiError 422 otherwise)."""
    query = request.query_params
    return {
        section: page_from({"max_id": query.get(f"{section}_max_id"),
                            "limit": query.get("limit")},
                           default=BLOCKS_PAGE, maximum=BLOCKS_PAGE)
        for section in BLOCK_SECTIONS
    }


def _older(request: Request, section: str, paging: Page, listing: AccountPage) -> str | None:
    """The link to the section's next (older) page when this one is full; the other
    section's position and the limit are kept."""
    if len(listing.rows) < paging.limit or listing.last_key is None:
        return None
    kept = [(k, v) for k, v in request.query_params.multi_items()
            if k in ("limit", *(f"{other}_max_id" for other in BLOCK_SECTIONS if other != section))]
    return "/settings/blocks?" + urlencode([*kept, (f"{section}_max_id", str(listing.last_key))])


async def _blocks_page(request: Request, viewer: Viewer, *, status_code: int = 200,
                       error: str | None = None) -> HTMLResponse:
    try:
        pages = _section_pages(request)
    except ApiError as problem:
        return error_page(request, problem.status, "This address does not work",
                          problem.message)
    async with roost_of(request).db.read() as conn:
        row = await account_queries.get_account(conn, viewer.account_id)
        blocked = await blocks.blocks_page(conn, viewer.account_id, pages["blocks"])
        muted = await mutes.mutes_page(conn, viewer.account_id, pages["mutes"])
    base = base_url(request)
    mute_entries = []
    for account_row in muted.accounts:
        mute = muted.rows[account_row.id]
        mute_entries.append({"account": entities.account(account_row, base),
                             "hide_notifications": bool(mute.hide_notifications),
                             "expires_at": mute.expires_at,
                             "expires_iso": iso(mute.expires_at)})
    return page(request, "settings/blocks.html", status_code=status_code, viewer=row,
                error=error, blocked=[entities.account(a, base) for a in blocked.accounts],
                muted=mute_entries,
                older_blocks=_older(request, "blocks", pages["blocks"], blocked),
                older_mutes=_older(request, "mutes", pages["mutes"], muted))


@router.get("/settings/blocks", response_class=HTMLResponse, include_in_schema=False)
async def blocks_and_mutes(request: Request, viewer: Viewer = Depends(require_viewer)
                           ) -> HTMLResponse:
    return await _blocks_page(request, viewer)


async def _undo(request: Request, viewer: Viewer, account_id: str, undo: Action
                ) -> RedirectResponse | HTMLResponse:
    """Unblock or unmute `account_id` (`undo` is blocks.unblock or mutes.unmute)."""
    await checked_form(request)
    roost = roost_of(request)
    try:
        target = path_id(account_id)
        async with roost.db.write() as conn:
            await undo(conn, roost.ids, viewer.account_id, target)
    except ApiError as error:
        # Only "no such account" (404) can happen: nothing was written.
        message = "That account does not exist." if error.status == 404 else error.message
        return await _blocks_page(request, viewer, status_code=error.status, error=message)
    return redirect("/settings/blocks")


@router.post("/settings/blocks/{account_id}/unblock", response_model=None,
             include_in_schema=False)
async def unblock_account(request: Request, account_id: str,
                          viewer: Viewer = Depends(require_viewer)
                          ) -> RedirectResponse | HTMLResponse:
    return await _undo(request, viewer, account_id, blocks.unblock)


@router.post("/settings/mutes/{account_id}/unmute", response_model=None,
             include_in_schema=False)
async def unmute_account(request: Request, account_id: str,
                         viewer: Viewer = Depends(require_viewer)
                         ) -> RedirectResponse | HTMLResponse:
    return await _undo(request, viewer, account_id, mutes.unmute)
