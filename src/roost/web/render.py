"""Rendering a web page: the shared templates, the signed-in person, the security headers.

Every HTML answer of Roost (the web pages and the OAuth pages) goes through `page` (or
`security_headers` for a response built elsewhere), so every one carries the same
Content-Security-Policy: scripts only from Roost's own files (no inline script, no inline
event handler, no `eval`), styles only from roost.css, images from Roost and its media
origin, forms posting only to Roost, and no framing (clickjacking). An injected `<script>`
that escaped the template's escaping would still not run.

`redirect` answers 303 to a same-site path only: a `next=` or `Referer` value that names
another site (`//evil.example`, `https://…`, `/\\evil`) falls back to the default, so pages
can never be used as an open redirect.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from roost.api.context import base_url, roost_of
from roost.media import storage as media_storage
from roost.web.session import (
    CsrfRejected,
    SignInRequired,
    current_viewer,
    set_csrf_cookie_if_new,
    signed_in_of,
)
from roost.web.templates_env import templates


@cache
def _policy(media_origin: str) -> str:
    images = " ".join(dict.fromkeys(["'self'", "data:", "blob:", media_origin]))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; media-src {images}; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(request: Request) -> str:
    media_base = media_storage.media_base(roost_of(request).settings.media_url, base_url(request))
    return _policy(_origin(media_base))


def security_headers(request: Request, response: Response, *, private: bool) -> Response:
    """The headers every HTML page carries; `private` pages (signed in) are never cached."""
    response.headers["Content-Security-Policy"] = content_security_policy(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if private:
        response.headers["Cache-Control"] = "no-store"
    else:
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


def allow_form_redirect(request: Request, response: Response, target: str) -> None:
    """Widens form-action to `target`'s origin (or its custom scheme): browsers apply
    form-action to a form's redirects too, and the OAuth form redirects to the app."""
    parts = urlsplit(target)
    if not parts.scheme or not all(c.isalnum() or c in "+-." for c in parts.scheme):
        return
    if parts.scheme in ("http", "https"):
        if not parts.netloc or any(c in parts.netloc for c in " ;,'\""):
            return
        source = f"{parts.scheme}://{parts.netloc}"
    else:
        source = f"{parts.scheme}:"
    policy = response.headers["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = policy.replace(
        "form-action 'self'", f"form-action 'self' {source}"
    )


def page(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Renders `template` with `context` (plus `request` and `signed_in`, the person the
    layout's navigation is for) and the security headers."""
    signed_in = signed_in_of(request)
    context.setdefault("viewer", None)
    context["signed_in"] = signed_in
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    # Signed-out pages carry forms too (sign-in): never cache a page with a CSRF token.
    security_headers(request, response, private=True)
    set_csrf_cookie_if_new(request, response)
    return response


def safe_path(target: str | None) -> str | None:
    """`target` when it is a path on this site ("/x", "/x?y"), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def same_site_referer(request: Request, default: str) -> str:
    """The path of the Referer when it is one of our pages, else `default`; POST handlers
    send the browser back where the form was."""
    referer = request.headers.get("referer", "")
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.url.netloc and parts.netloc != urlsplit(
        base_url(request)
    ).netloc:
        return default
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_path(path) or default


def redirect(url: str) -> RedirectResponse:
    """303 See Other to a same-site path; anything else goes to "/"."""
    return RedirectResponse(safe_path(url) or "/", status_code=303)


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """A page that explains what went wrong, in the layout (403, 404, 429 …)."""
    return page(request, "error.html", status_code, title=title, message=message)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = safe_path(exc.next_path) or "/home"
    return redirect("/auth/sign_in?" + urlencode({"next": target}))


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    await current_viewer(request)  # the header still shows who is signed in
    return error_page(
        request,
        403,
        "This form has expired",
        "The form was missing its security token or it no longer matches your session. "
        "Go back, reload the page and try again.",
    )


def install_page_handlers(app: FastAPI) -> None:
    """SignInRequired → 303 to the sign-in page; CsrfRejected → a 403 page."""
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
