"""Handoff's application factory: `create_app(settings) -> Starlette`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from limits.storage import RedisStorage
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from channels import media_links
from channels import webhooks as channel_webhooks
from channels.dispatch import run_dispatcher
from channels.email.imap_poller import run_imap_polling
from channels.email.smtp_listener import SmtpListener, start_smtp_listener
from channels.webchat import routes as webchat_routes
from channels.x_tokens import run_x_token_refresh
from inbox.bot import run_bot
from inbox.bus import MemoryBus
from inbox.db import Database, make_engine
from inbox.errors import HandoffError
from inbox.links import set_public_base
from inbox.redis_bus import RedisBus
from inbox.scheduler import run_sla_timers
from inbox.search_index import SearchIndexer
from inbox.settings import Settings
from inbox.timers import run_housekeeping, run_snooze_timer
from inbox.wal import WalCheckpointer
from shortcuts.webhooks import run_webhook_sender
from web import (
    admin,
    api,
    api_escalation,
    api_policy,
    api_saved_replies,
    auth,
    csat_pages,
    escalation_pages,
    letter_pages,
    message_pages,
    pages,
    policy_pages,
    realtime,
    reports_pages,
    saved_reply_pages,
    slack_routes,
)
from web.errors import handoff_error, http_error, server_error
from web.fragments import FragmentRenderer
from web.i18n import LocaleMiddleware
from web.presence import Presence, RedisPresence
from web.security import SESSION_COOKIE, HttpCSRF, SecurityHeaders
from web.state import AppState, Limits
from web.templating import make_templates

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("handoff")


async def _open_smtp_listener(db: Database, settings: Settings) -> SmtpListener | None:
    """The email channel's SMTP port; a port already taken (another worker holds it) is
    logged, and the web app serves on without it."""
    try:
        return await start_smtp_listener(db, settings)
    except OSError as exc:
        log.error("SMTP listener not started on %s:%s: %s", settings.host, settings.smtp_port, exc)
        return None


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    set_public_base(settings.public_url or f"http://{settings.host}:{settings.port}")
    media_links.set_link_secret(settings.secret_key)
    bus: MemoryBus
    if settings.redis_url:
        # Several worker processes: events travel through Redis to every one of them.
        bus = RedisBus(
            settings.redis_url,
            replay_buffer=settings.replay_buffer,
            backlog=settings.connection_backlog,
            namespace=settings.redis_namespace,
        )
    else:
        bus = MemoryBus(replay_buffer=settings.replay_buffer, backlog=settings.connection_backlog)
    db = Database(make_engine(settings.database_url, checkpoint_in_background=True), bus)
    templates = make_templates()
    handoff = AppState(
        settings=settings,
        db=db,
        templates=templates,
        # With several workers, rate limits count across all of them.
        limits=Limits(
            RedisStorage(settings.redis_url, key_prefix=f"{settings.redis_namespace}:limits")
            if settings.redis_url
            else None
        ),
        http=httpx.AsyncClient(),
        presence=(
            RedisPresence(settings.redis_url, settings.redis_namespace)
            if settings.redis_url
            else Presence()
        ),
    )
    bus.add_enricher(FragmentRenderer(db, templates, lambda: handoff.connected_locales.keys()))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bus.bind_loop(asyncio.get_running_loop())
        if isinstance(bus, RedisBus):
            await bus.start()
        smtp = await _open_smtp_listener(db, settings)
        # SQLite's upkeep, on threads: the search index catches up, the log is copied back.
        upkeep = [SearchIndexer(db.engine), WalCheckpointer(db.engine)] if db.is_sqlite else []
        for thread in upkeep:
            thread.start()
        tasks = [
            asyncio.create_task(run_dispatcher(db, handoff.http), name="dispatcher"),
            asyncio.create_task(run_imap_polling(db), name="imap-polling"),
            asyncio.create_task(run_x_token_refresh(db, handoff.http), name="x-token-refresh"),
            asyncio.create_task(run_snooze_timer(db), name="snooze-timer"),
            asyncio.create_task(
                run_sla_timers(
                    db,
                    handoff.http,
                    base_url=settings.public_url or f"http://{settings.host}:{settings.port}",
                ),
                name="sla-timers",
            ),
            asyncio.create_task(run_bot(db), name="bot"),
            asyncio.create_task(run_webhook_sender(db, handoff.http), name="webhooks"),
            asyncio.create_task(run_housekeeping(db), name="housekeeping"),
        ]
        # What start-up built lives as long as the process: out of the collector's sight, a
        # full collection walks the requests' objects only, not ~200,000 long-lived ones (a
        # 100 ms pause every few hundred requests, docs/performance.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if smtp is not None:
                smtp.close()
                await smtp.wait_closed()
            await handoff.http.aclose()
            if isinstance(bus, RedisBus):
                await bus.stop()
            for thread in upkeep:
                thread.stop()
            db.engine.dispose()

    routes: list[BaseRoute] = [
        # The busiest paths first: Starlette tries the routes in order.
        Mount(
            "/api/v1",
            # No two of these share a path and method, so only speed depends on the order:
            # the channel route (every customer message) is api.routes' first.
            routes=[
                *api.routes,
                *api_policy.routes,
                *api_escalation.routes,
                *reports_pages.api_routes,
                *api_saved_replies.routes,
            ],
        ),
        *channel_webhooks.routes,
        *media_links.routes,
        *auth.routes,
        *pages.routes,
        *escalation_pages.routes,
        *letter_pages.routes,
        *message_pages.routes,
        *realtime.routes,
        *admin.routes,
        *saved_reply_pages.routes,
        *policy_pages.routes,
        *slack_routes.routes,
        *reports_pages.routes,
        *webchat_routes.routes,
        *csat_pages.routes,
        Mount("/static", app=StaticFiles(directory=ROOT / "static"), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie=SESSION_COOKIE,
            same_site="lax",
            https_only=settings.secure_cookies,
            max_age=14 * 24 * 3600,
        ),
        Middleware(HttpCSRF, secret=settings.secret_key, secure=settings.secure_cookies),
        Middleware(LocaleMiddleware),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HandoffError: handoff_error,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
    app.state.handoff = handoff
    return app
