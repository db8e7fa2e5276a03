"""Sign-in, sign-out and the health check (the app's public routes)."""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from claimguard.triage.auth import SESSION_COOKIE, verify_password
from claimguard.triage.web.params import safe_next
from claimguard.triage.web.ui import ui_of

log = logging.getLogger("claimguard.triage.app")
router = APIRouter()


@router.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("/queue", status_code=307)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next: Annotated[str, Query(max_length=2000)] = "/queue"
) -> HTMLResponse:
    return ui_of(request).render(
        request, "login.html", next=safe_next(next), error=None, username=""
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/queue",
) -> Response:
    """Check the password (argon2) once; the session cookie carries the name from then on."""
    ui = ui_of(request)
    refused = ui.form_problem(request, csrf_token)
    if refused:
        return refused
    target = safe_next(next)
    name = username.strip()
    keys = (f"u:{name.lower()}", f"ip:{request.client.host if request.client else '?'}")
    wait = ui.auth.throttle.wait_s(*keys)
    if wait > 0:
        msg = f"Too many failed sign-ins. Try again in {math.ceil(wait / 60)} minute(s)."
        return ui.render(request, "login.html", 429, next=target, error=msg, username=name)
    user = verify_password(ui.store, name, password)
    if user is None:
        ui.auth.throttle.failed(*keys)
        log.warning("Failed sign-in")  # no username: it may be a mistyped password
        msg = "Wrong username or password, or the user is disabled."
        return ui.render(request, "login.html", 401, next=target, error=msg, username=name)
    ui.auth.throttle.succeeded(keys[0])
    log.info("Signed in: %s (%s)", user.username, user.role)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        ui.auth.cookie_value(user),
        max_age=ui.auth.max_age_s,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    store = ui_of(request).store
    problem, n_alerts = store.health()
    if problem:
        log.error("Health check failed: %s", problem)
        return JSONResponse(
            {"ok": False, "reason": problem, "store": store.dialect}, status_code=503
        )
    return JSONResponse({"ok": True, "alerts": n_alerts, "store": store.dialect})
