"""Reaching the process's Roost object and its public base URL from a request."""

from __future__ import annotations

from fastapi import Request

from roost.context import Roost


def roost_of(request: Request) -> Roost:
    roost: Roost = request.app.state.roost
    return roost


def base_url(request: Request) -> str:
    """https://DOMAIN when ROOST_DOMAIN is set (a scheme in it is kept as given),
    otherwise the address the request came in on."""
    domain = roost_of(request).settings.domain
    if domain:
        return domain.rstrip("/") if "://" in domain else f"https://{domain}"
    return str(request.base_url).rstrip("/")


def host_of(request: Request) -> str:
    return base_url(request).split("://", 1)[1]
