"""The ASGI application factory: settings -> database -> id node -> routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from roost import __version__
from roost.api import files, health, oauth
from roost.api.errors import install_error_handlers
from roost.api.mastodon import accounts, apps, instance, statuses, timelines
from roost.api.mastodon import interactions as interactions_api
from roost.api.mastodon import markers as markers_api
from roost.api.mastodon import media as media_api
from roost.api.mastodon import niceties as niceties_api
from roost.api.mastodon import notifications as notifications_api
from roost.api.mastodon import relationships as relationships_api
from roost.api.mastodon import search as search_api
from roost.api.mastodon import streaming as streaming_api
from roost.api.mastodon import tags as tags_api
from roost.api.mastodon import trends as trends_api
from roost.api.responses import JSONResponse
from roost.cache.objects import object_cache_for
from roost.config import Settings, load_settings
from roost.context import Roost
from roost.db.engine import Database
from roost.db.nodes import NodeLease
from roost.events import backends, consumer
from roost.ids import IdGenerator
from roost.media import storage as media_storage
from roost.observability.logging import configure_logging
from roost.observability.middleware import ObservabilityMiddleware
from roost.redis_client import shared_client
from roost.resilience.ratelimit import RateLimitMiddleware, RateLimitRules, build_limiter
from roost.security import passwords
from roost.web import assets
from roost.web.pages import auth as auth_pages
from roost.web.pages import home as home_pages
from roost.web.pages import notifications as notification_pages
from roost.web.pages import profiles as profile_pages
from roost.web.pages import search as search_pages
from roost.web.pages import settings as settings_pages
from roost.web.pages import statuses as status_pages
from roost.web.pages import trends as trend_pages
from roost.web.render import install_page_handlers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    passwords.configure(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    # Entities render media URLs without the settings at hand (like password hashing,
    # one value per process).
    media_storage.configure(settings)
    limiter = (
        build_limiter(settings.redis_url, settings.rate_limit_key_prefix)
        if settings.rate_limits
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        lease = NodeLease(db)
        node = await lease.acquire()
        lease.start_renewing()
        ids = IdGenerator(node)
        roost = Roost(settings=settings, db=db, ids=ids, redis=shared_client(settings))
        db.object_cache = object_cache_for(roost, serves_reads=True)
        app.state.roost = roost
        services = (
            backends.build(roost, consumer.all_consumers()) if settings.serve_consumers else []
        )
        for service in services:
            service.start()
        try:
            yield
        finally:
            for service in services:
                await service.stop()
            if roost.home_rebuilds is not None:
                await roost.home_rebuilds.wait()
            await lease.release(free_after_ms=ids.last_issued_ms)
            await db.dispose()
            if roost.redis is not None:
                await roost.redis.aclose()
            if limiter is not None:
                await limiter.close()

    app = FastAPI(
        title="Roost",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JSONResponse,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # Mastodon.py asks for /api/v1/instance/ with a slash; both are routed
        # explicitly, and nothing else should answer a redirect instead of a 404.
        redirect_slashes=False,
    )
    install_error_handlers(app)
    install_page_handlers(app)
    # The web sign-in and sign-up pages count attempts in the API's limiter (None: off).
    app.state.rate_limiter = limiter
    for module in (health, oauth, apps, accounts, statuses, timelines, instance):
        app.include_router(module.router)
    app.include_router(interactions_api.router)
    app.include_router(relationships_api.router)
    app.include_router(notifications_api.router)
    app.include_router(markers_api.router)
    app.include_router(tags_api.router)
    app.include_router(trends_api.router)
    app.include_router(media_api.router)
    app.include_router(search_api.router)
    app.include_router(streaming_api.router)
    app.include_router(niceties_api.router)
    app.include_router(files.router)
    app.include_router(assets.router)
    # The browser pages (roost.web, docs/web.md); profiles last: /@{username} paths.
    for pages in (
        auth_pages,
        home_pages,
        status_pages,
        notification_pages,
        search_pages,
        settings_pages,
        trend_pages,
        profile_pages,
    ):
        app.include_router(pages.router)
    if limiter is not None:
        # Inside ObservabilityMiddleware (added after, so outermost): a 429 is logged too.
        app.add_middleware(
            RateLimitMiddleware,
            limiter=limiter,
            rules=RateLimitRules(
                requests=settings.rate_limit_requests,
                period=settings.rate_limit_period,
                signups=settings.rate_limit_signups,
                signup_period=settings.rate_limit_signup_period,
            ),
        )
    app.add_middleware(ObservabilityMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """Entry point for uvicorn worker processes (`roost serve --workers N`)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
