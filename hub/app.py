"""Application factory: ``create_app(settings)`` builds one hub process."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.sandbox import apps as sandbox_apps
from hub import body_limit, errors, ratelimit, stats
from hub.api import application_files as application_files_api
from hub.api import applications as applications_api
from hub.api import audit as audit_api
from hub.api import auth, consents, documents, health, issuance, lookups
from hub.api import cases as cases_api
from hub.api import credentials as credentials_api
from hub.api import dashboard as dashboard_api
from hub.api import disputes as disputes_api
from hub.api import handoff as handoff_api
from hub.api import notifications as notifications_api
from hub.api import staff_notifications as staff_notifications_api
from hub.api import stats as stats_api
from hub.api import tiles as tiles_api
from hub.api import webhooks as webhooks_api
from hub.api.hot_paths import HotPaths
from hub.applications import deadline_sweep
from hub.logging import RequestContextMiddleware, configure
from hub.notify import dispatch as notify_dispatch
from hub.schemas import BundleLookupRequest, LookupRequest
from hub.security_headers import SecurityHeadersMiddleware
from hub.settings import Settings
from hub.state import HubState, build_state
from hub.web import applications as my_applications
from hub.web import (
    auditor,
    counter,
    dev_mail,
    notice_preferences,
    pages,
    portal,
    proxy_filing,
    signin,
    verify_page,
)
from hub.web import cases as case_pages
from hub.web import credentials_page as credential_pages
from hub.web import dashboard as dashboard_pages
from hub.web import disputes as dispute_pages
from hub.web import documents as my_documents
from hub.web import handoff_page as handoff_pages
from hub.web import handoff_phone as handoff_phone_pages
from hub.web import home as home_page
from hub.web import staff_notices as staff_notice_pages
from hub.web import stats_page as stats_pages


def create_app(settings: Settings | None = None, state: HubState | None = None) -> FastAPI:
    settings = settings or Settings()
    configure(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub_state = state or build_state(settings)
        ratelimit.attach(app, hub_state)  # sign-in throttle, request limits, signed-out tokens
        app.state.hub = hub_state
        stop = asyncio.Event()
        integrating = None
        if settings.integrator_interval_seconds > 0:
            integrating = asyncio.create_task(
                hub_state.integrator.run(settings.integrator_interval_seconds, stop), name="audit-integrator"
            )
        # The open statistics count closed days beside the in-process integrator (hub/stats.py).
        counting = None
        if settings.stats_refresh_seconds > 0 and settings.integrator_interval_seconds > 0:
            every = settings.stats_refresh_seconds
            counting = asyncio.create_task(
                stats.refresh_loop(hub_state.stats, every, stop), name="stats-refresh"
            )
        # Witness submissions run in their own task, woken after each checkpoint (hub/witnessing.py).
        witnessing = None
        if hub_state.witnessing.enabled and settings.integrator_interval_seconds > 0:
            witnessing = asyncio.create_task(hub_state.witnessing.run(stop), name="audit-witnessing")
        # The demo's notifications worker, in this process (0 turns it off where `gongyu worker` runs).
        delivering = None
        if settings.notify_interval_seconds > 0:
            dispatcher = notify_dispatch.from_settings(settings, hub_state.sessions, hub_state.keys.data_key)
            # The officials' deadline alerts, swept beside the consents (hub/applications/deadline_sweep.py).
            dispatcher.sweeper = deadline_sweep.alongside(
                dispatcher.sweeper, hub_state.sessions, hub_state.trail
            )
            delivering = asyncio.create_task(
                dispatcher.run(settings.notify_interval_seconds, stop), name="notify-worker"
            )
        # Everything built so far (routes, models, catalogs, SQLAlchemy's metadata: some 220,000 objects)
        # lives as long as the process. Out of the collector's sight, a full collection costs microseconds
        # instead of the ~100 ms pause that, every few thousand requests, was the lookups' p99 (issue 17).
        # Not under the test suite, which builds an app per test in one process (and would pay the collect).
        frozen = settings.environment != "test"
        if frozen:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            stop.set()
            if integrating is not None:
                await integrating
            if counting is not None:
                counting.cancel()  # a day half counted rolls back; the next start counts it again
                await asyncio.gather(counting, return_exceptions=True)
            if witnessing is not None:
                await witnessing
            if delivering is not None:
                await delivering
            if state is None:
                await hub_state.close()
            if frozen:
                gc.unfreeze()  # back in the collector's sight: nothing of this app outlives it unseen

    app = FastAPI(
        title="Gongyu",
        version="0.1.0",
        summary="Consent-gated lookups of residents' official documents, with a tamper-evident audit log",
        lifespan=lifespan,
    )
    # The broker parses these bodies itself so that malformed attempts (NUL characters included) are audited;
    # the verify page caps its body and reads a picture (binary, so NUL bytes) itself.
    self_validating = frozenset({"/v1/lookups", "/v1/lookups/bundle", "/v1/issuances", "/verify"})
    self_validating |= {handoff_pages.PATH}  # pictures of hand-off QR codes, read by the page itself
    self_validating |= {proxy_filing.PATH}  # a proxy's seal picture, read by the page itself
    # The hot paths are answered inside every other middleware (added first, so innermost).
    hot = {
        ("POST", lookups.PATH): lookups.serve,
        ("GET", audit_api.INCLUSION_PROOF_PATH): audit_api.serve_inclusion_proof,
        ("GET", audit_api.ACCESS_LOG_PATH): audit_api.serve_my_access_log,
    }
    app.add_middleware(HotPaths, handlers=hot)
    errors.install(app, self_validating=self_validating)
    # 413 before the NUL check reads a body; a case's file upload takes the file as its body (10 MB).
    caps = {**body_limit.CAPS, application_files_api.UPLOAD_PATH: application_files_api.UPLOAD_CAP}
    caps[handoff_pages.PATH] = handoff_pages.MAX_BODY_BYTES
    caps[proxy_filing.PATH] = proxy_filing.MAX_BODY_BYTES
    app.add_middleware(body_limit.BodyLimitMiddleware, caps=caps)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, production=settings.is_production)
    for module in (auth, lookups, documents, health, audit_api, issuance, consents):
        app.include_router(module.router)
    app.include_router(tiles_api.router)  # the audit log as C2SP tlog-tiles, at the log's prefix
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(portal.router)
    app.include_router(my_documents.router)
    app.include_router(counter.router)
    app.include_router(proxy_filing.router)  # before my_applications: /me/applications/proxy is its path
    app.include_router(my_applications.router)
    app.include_router(case_pages.router)
    app.include_router(dispute_pages.router)  # before the auditor console: /audit/disputes is its page
    app.include_router(dashboard_pages.router)
    app.include_router(auditor.router)
    app.include_router(dev_mail.router)
    app.include_router(verify_page.router)
    app.include_router(notifications_api.router)
    app.include_router(staff_notifications_api.router)
    app.include_router(stats_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(handoff_api.router)
    app.include_router(application_files_api.router)
    app.include_router(handoff_pages.router)
    app.include_router(handoff_phone_pages.router)
    app.include_router(home_page.router)
    app.include_router(stats_pages.router)  # /stats: the open statistics and their downloads
    app.include_router(notice_preferences.router)
    app.include_router(staff_notice_pages.router)
    app.include_router(applications_api.router)
    app.include_router(cases_api.router)
    app.include_router(disputes_api.router)
    app.include_router(dashboard_api.router)
    app.include_router(credentials_api.router)
    app.include_router(credential_pages.router)
    app.mount("/static", pages.static, name="static")
    if not settings.is_production:
        # The sandbox agencies (court SOAP, NTS and NHIS REST) served from this process for the demo. They
        # answer anyone with no token and no audit row, so production never serves them (/sandbox is a 404).
        app.mount("/sandbox", sandbox_apps.create_app(settings.agency_database_url))

    original_openapi = app.openapi

    def openapi() -> dict[str, object]:
        schema = original_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        # The lookup bodies are parsed by the broker (so malformed ones are audited); publish their schemas.
        for model in (LookupRequest, BundleLookupRequest):
            full = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(full.pop("$defs", {}))
            components[model.__name__] = full
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
