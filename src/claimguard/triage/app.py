"""The reviewers' web app: queue, alert, decision and export pages.

Server-rendered (FastAPI + Jinja2 with autoescape), a few lines of plain JavaScript
for "lines on demand", no build step. Every write is a POST guarded by a signed
CSRF token and validated with pydantic; every decision is appended in a transaction
by :meth:`Store.record_decision`. A Content-Security-Policy forbids inline scripts,
so even a claim field that slipped past escaping could not run.

This module builds the app (headers, error pages, sessions); the pages are routers in
``triage/web/`` (one module per page group).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimguard.settings import TriageSettings
from claimguard.triage.auth import ROUTE_ROLES, Auth, SignInRequired, authorize
from claimguard.triage.csrf import COOKIE, Csrf
from claimguard.triage.store import Store, StoreUnavailable, describe_db_error
from claimguard.triage.trends import make_router as make_trends_router
from claimguard.triage.web import case, entity, export, queue, signin
from claimguard.triage.web.entity import doctor_loads as _doctor_loads
from claimguard.triage.web.ui import CSP, HERE, Ui, templates, ui_of

log = logging.getLogger(__name__)
SERVE_ENV = "CLAIMGUARD_SERVE_APP"  # what `claimguard serve --workers N` hands each worker
# Seconds an idle kept-alive connection stays open: longer than a reviewer reads a page
# (uvicorn's default of 5 s closes it under a reader, and a client that does not retry
# then sees a dropped request). 75 s is nginx's default keepalive_timeout.
KEEP_ALIVE_S = 75

__all__ = ["KEEP_ALIVE_S", "SERVE_ENV", "_doctor_loads", "app_from_environment", "create_app"]


async def _headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Security headers, no caching, the CSRF cookie, and the server time of the page."""
    t0 = time.perf_counter()
    csrf = ui_of(request).csrf
    cookie = request.cookies.get(COOKIE)
    if csrf.session(cookie) is None:  # absent, or not issued by us: never sign it
        cookie = None
    request.state.csrf_cookie = cookie or csrf.new_cookie()
    response = await call_next(request)
    ms = (time.perf_counter() - t0) * 1000
    response.headers["Server-Timing"] = f"app;dur={ms:.1f}"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    # pages and exports show personal health data: no browser or proxy may keep a copy
    response.headers["Cache-Control"] = "no-store"
    if not cookie:
        response.set_cookie(COOKIE, request.state.csrf_cookie, httponly=True, samesite="strict")
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return ui_of(request).error(request, exc.status_code, str(exc.detail))


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse("/login?" + urlencode({"next": exc.next_url}), status_code=303)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in exc.errors()
    ]
    return ui_of(request).error(request, 422, "Invalid request", *problems)


async def _store_down(request: Request, exc: Exception) -> Response:
    # logged without the statement or its parameters (they hold claim data); the
    # route's template path, not the URL, so no entity id is written either
    route = getattr(request.scope.get("route"), "path", "?")
    log.error("Triage store error on %s %s: %s", request.method, route, describe_db_error(exc))
    return ui_of(request).error(
        request,
        503,
        "The alert store is unavailable",
        "The database did not answer. Please try again in a moment.",
    )


def create_app(
    store: Store,
    *,
    page_size: int = 50,
    doctor_daily_cap: int = 65,
    secret: str | None = None,
    settings: TriageSettings | None = None,
    trust_proxy_header: str | None = None,
    trends_dir: Path | None = None,
) -> FastAPI:
    """The triage app on ``store`` (loading happens before, in ``load_folder``).

    Every route passes :func:`claimguard.triage.auth.authorize`, which looks its path up
    in ``app.state.route_roles`` (a router included later adds its paths there).
    ``trust_proxy_header`` names a header set by a signing-in reverse proxy (the
    username in it must exist and be enabled); without it only session cookies count.
    """
    t = settings or TriageSettings()
    app = FastAPI(
        title="claimguard triage",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authorize)],
    )
    key = secret or store.secret()
    auth = Auth(
        store,
        key,
        session_hours=t.session_hours,
        max_failures=t.login_max_failures,
        lockout_s=t.login_lockout_seconds,
        trust_proxy_header=trust_proxy_header,
    )
    app.state.store = store
    app.state.route_roles = dict(ROUTE_ROLES)
    app.state.auth = auth
    app.state.ui = Ui(store, templates(), Csrf(key), auth, page_size, doctor_daily_cap)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(make_trends_router(trends_dir, store.dialect))  # `claimguard monitor` output
    app.middleware("http")(_headers)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(SQLAlchemyError, _store_down)
    app.add_exception_handler(StoreUnavailable, _store_down)
    _add_pages(app)
    return app


def _add_pages(app: FastAPI) -> None:
    """The page modules' routes, each registered on the app itself.

    Why not ``include_router``: routes added this way are the app's own (``app.routes``
    lists every page, as the route tables of the tests expect) and pass the app's
    :func:`authorize` dependency like any route declared on it.
    """
    for page in (signin, queue, case, entity, export):
        for route in page.router.routes:
            assert isinstance(route, APIRoute)
            app.router.add_api_route(
                route.path,
                route.endpoint,
                methods=sorted(route.methods or ()),
                response_class=route.response_class,
                include_in_schema=route.include_in_schema,
                name=route.name,
            )


def app_from_environment() -> FastAPI:
    """The app of one worker process of `claimguard serve --workers N`.

    Why an environment variable: uvicorn starts each worker as a fresh process that imports
    the app factory by name, so the parent passes the store URL and the serve options
    (JSON in :data:`SERVE_ENV`). Each worker opens its own engine (its own pool); the
    signing secret, sign-in failures and count versions live in the store, so any worker
    accepts any session and all of them agree.
    """
    from claimguard.settings import load_settings

    spec: dict[str, Any] = json.loads(os.environ[SERVE_ENV])
    settings = load_settings(spec.get("config"))
    t = settings.triage
    store = Store.open(spec["url"], lock_timeout_s=t.db_lock_timeout_seconds)
    return create_app(
        store,
        page_size=int(spec.get("page_size") or t.page_size),
        doctor_daily_cap=settings.features.doctor_daily_cap,
        settings=t,
        trust_proxy_header=spec.get("trust_proxy_header"),
        trends_dir=Path(spec["trends"]) if spec.get("trends") else None,
    )
