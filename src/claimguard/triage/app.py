"""The reviewers' web app: queue, alert, decision and export pages.

Server-rendered (FastAPI + Jinja2 with autoescape), a few lines of plain JavaScript
for "lines on demand", no build step. Every write is a POST guarded by a signed
CSRF token and validated with pydantic; every decision is appended in a transaction
by :meth:`Store.record_decision`. A Content-Security-Policy forbids inline scripts,
so even a claim field that slipped past escaping could not run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimguard.schema import SIGNALS, TIERS
from claimguard.settings import TriageSettings
from claimguard.triage.auth import (
    ROUTE_ROLES,
    SESSION_COOKIE,
    Auth,
    SignInRequired,
    authorize,
    lookup,
    verify_password,
)
from claimguard.triage.codes import dx_codes, dx_label, dx_title
from claimguard.triage.csrf import COOKIE, FIELD, Csrf, cross_origin
from claimguard.triage.export import audit_csv, cases_csv, labels_csv
from claimguard.triage.store import (
    CASE_STATES,
    DECISIONS,
    SORTS,
    STATUSES,
    BulkResult,
    Conflict,
    Cursor,
    QueueFilter,
    Store,
    StoreUnavailable,
    describe_db_error,
)
from claimguard.triage.story import doctor_day_histogram, reason_views
from claimguard.triage.trends import make_router as make_trends_router

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
DECISION_LABELS = {
    "open": "Open",
    "confirmed_abuse": "Confirmed abuse",
    "dismissed": "Dismissed",
    "needs_information": "Needs information",
}
# Scenario tags a reviewer may put in a note (#name); the export uses them as `scenario`.
SCENARIO_TAGS = {
    "card": (
        "borrowed_card",
        "medicine_hoarding",
        "overlapping_care",
        "post_death",
        "ineligible",
        "split_billing",
    ),
    "facility": (
        "overbilling",
        "admission_inflation",
        "sick_leave_mill",
        "phantom_visits",
        "doctor_overload",
    ),
}
MAX_BULK = 200  # cases one bulk action may change (a few queue pages)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _blank_to_default(v: Any) -> Any:
    if isinstance(v, str) and not v.strip():
        raise PydanticUseDefault()
    return v.strip() if isinstance(v, str) else v


class QueueParams(BaseModel):
    """Queue filters, sort and keyset cursor as they arrive from the filter form (blank = none)."""

    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(None, max_length=200)  # a card or facility id
    entity_type: Literal["card", "facility"] | None = None
    signal: Literal[SIGNALS] | None = None  # type: ignore[valid-type]
    province: str | None = Field(None, max_length=200)
    tier: Literal[TIERS] | None = None  # type: ignore[valid-type]
    facility: str | None = Field(None, max_length=200)
    score_min: float | None = Field(None, ge=0.0, le=1.0)
    score_max: float | None = Field(None, ge=0.0, le=1.0)
    amount_min: float | None = Field(None, ge=0.0, le=1e15)
    amount_max: float | None = Field(None, ge=0.0, le=1e15)
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    state: Literal[CASE_STATES] | None = None  # type: ignore[valid-type]
    assignee: str | None = Field(None, max_length=80)
    mine: bool = False
    run: int | None = Field(None, ge=1)
    model: str | None = Field(None, max_length=200)
    sort: Literal[SORTS] = "score"  # type: ignore[valid-type]
    after: str | None = Field(None, max_length=400)
    before: str | None = Field(None, max_length=400)

    _blank = field_validator("*", mode="before")(_blank_to_default)

    @field_validator("after", "before")
    @classmethod
    def _cursor(cls, v: str | None) -> str | None:
        if v is not None:
            Cursor.decode(v)  # ValueError -> 422 with the field's name
        return v

    def filter(self, username: str | None = None) -> QueueFilter:
        """The store's filter; ``mine`` means the signed-in ``username``."""
        return QueueFilter(
            entity_type=self.entity_type,
            signal=self.signal,
            province=self.province,
            tier=self.tier,
            score_min=self.score_min,
            score_max=self.score_max,
            status=self.status,
            state=self.state,
            assignee=username if self.mine and username else self.assignee,
            search=self.q,
            facility=self.facility,
            run_id=self.run,
            model_version=self.model,
            amount_min=self.amount_min,
            amount_max=self.amount_max,
        )

    def cursors(self) -> tuple[Cursor | None, Cursor | None]:
        return (
            Cursor.decode(self.after) if self.after else None,
            Cursor.decode(self.before) if self.before else None,
        )

    def query(self, **override: Any) -> str:
        """Query string of these filters (blank and default ones left out), with overrides.

        A change of filter or sort starts from the first page unless a cursor is given.
        """
        values = {**self.model_dump(), **override}
        if any(k not in ("after", "before") for k in override) and not (
            {"after", "before"} & set(override)
        ):
            values["after"] = values["before"] = None
        if values.get("sort") == "score":
            values.pop("sort")
        if not values.get("mine"):
            values.pop("mine", None)
        return urlencode({k: v for k, v in values.items() if v is not None and v != ""})


class DecisionForm(BaseModel):
    """A reviewer's decision as posted by the alert page's form."""

    model_config = ConfigDict(str_strip_whitespace=True)

    decision: Literal[DECISIONS]  # type: ignore[valid-type]
    reviewer: str = Field(min_length=1, max_length=80)  # the signed-in user
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _dismissal_needs_a_reason(self) -> DecisionForm:
        if self.decision == "dismissed" and not self.note:
            raise ValueError("a dismissal needs its reason in the note")
        return self


def _fmt_num(v: Any, digits: int = 2) -> str:
    """1234567.891 -> '1,234,567.89'; whole numbers without decimals; '–' for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.{digits}f}".rstrip("0").rstrip(".")


def _fmt_dt(v: Any, with_time: bool = True) -> str:
    if v is None:
        return "–"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _ratio(value: Any, typical: Any) -> str:
    try:
        v, t = float(value), float(typical)
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(v) and math.isfinite(t)) or t == 0:
        return ""
    return f"{v / t:.1f}×"


def _doctor_loads(rows: list[dict[str, Any]], cap: int) -> list[dict[str, Any]]:
    """Per doctor: days, busiest day, mean, days over the cap, and a calendar sparkline.

    Bars sit at their calendar day (days off leave gaps), on one scale for all doctors of
    the facility, with the cap drawn as a line.
    """
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for r in rows:  # at most doctors x days of one facility
        by_doc.setdefault(str(r["doctor_id"]), []).append(r)
    days_all = [r["day"] for r in rows if r["day"] is not None]
    day0 = min(days_all) if days_all else dt.date.today()
    span = ((max(days_all) - day0).days + 1) if days_all else 1
    top = max((float(r["examinations"] or 0) for r in rows), default=0.0)
    scale_max = max(top, float(cap)) * 1.05 or 1.0
    step = 8  # px per calendar day (6 px bar + 2 px gap)
    out: list[dict[str, Any]] = []
    for doc, days in by_doc.items():
        exams = [float(d["examinations"] or 0) for d in days]
        bars = [
            {
                "x": (d["day"] - day0).days * step,
                "h": round(44 * e / scale_max, 1),
                "over": e > cap,
                "title": f"{_fmt_dt(d['day'], False)}: {e:.0f}",
            }
            for d, e in zip(days, exams, strict=True)
            if d["day"] is not None
        ]
        out.append(
            {
                "doctor_id": doc,
                "days": len(days),
                "max": max(exams),
                "mean": sum(exams) / len(exams),
                "over": sum(e > cap for e in exams),
                "bars": bars,
                "width": span * step,
                "cap_y": round(46 - 44 * cap / scale_max, 1),
            }
        )
    out.sort(key=lambda d: (-d["over"], -d["max"], d["doctor_id"]))
    return out


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
    # templates ship with the package: compiled once, never re-checked on disk per page
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
    )
    env.filters.update(
        num=_fmt_num, when=_fmt_dt, ratio=_ratio, dxtitle=dx_title, dxcodes=dx_codes, dx=dx_label
    )
    env.globals.update(
        DECISION_LABELS=DECISION_LABELS, DECISIONS=DECISIONS, SCENARIO_TAGS=SCENARIO_TAGS
    )
    templates = Jinja2Templates(env=env)
    key = secret or store.secret()
    csrf = Csrf(key)
    app.state.store = store
    app.state.route_roles = dict(ROUTE_ROLES)
    app.state.auth = auth = Auth(
        store,
        key,
        session_hours=t.session_hours,
        max_failures=t.login_max_failures,
        lockout_s=t.login_lockout_seconds,
        trust_proxy_header=trust_proxy_header,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(make_trends_router(trends_dir, store.dialect))  # `claimguard monitor` output

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
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

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("csrf_token", csrf.form_token(request.state.csrf_cookie))
        context.setdefault("csrf_field", FIELD)
        context.setdefault("store_kind", store.dialect)
        context.setdefault("user", getattr(request.state, "user", None))
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return render(request, "error.html", exc.status_code, title=str(exc.detail), problems=[])

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse("/login?" + urlencode({"next": exc.next_url}), status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in exc.errors()
        ]
        return render(request, "error.html", 422, title="Invalid request", problems=problems)

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: Exception) -> Response:
        # logged without the statement or its parameters (they hold claim data); the
        # route's template path, not the URL, so no entity id is written either
        route = getattr(request.scope.get("route"), "path", "?")
        log.error("Triage store error on %s %s: %s", request.method, route, describe_db_error(exc))
        return render(
            request,
            "error.html",
            503,
            title="The alert store is unavailable",
            problems=["The database did not answer. Please try again in a moment."],
        )

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/queue", status_code=307)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(
        request: Request, next: Annotated[str, Query(max_length=2000)] = "/queue"
    ) -> HTMLResponse:
        return render(request, "login.html", next=_safe_next(next), error=None, username="")

    @app.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=1000)] = "",
        csrf_token: Annotated[str, Form(max_length=500)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/queue",
    ) -> Response:
        problem = cross_origin(request.headers) or csrf.check(
            request.cookies.get(COOKIE), csrf_token
        )
        if problem:
            return render(request, "error.html", 403, title="Form rejected", problems=[problem])
        target = _safe_next(next)
        name = username.strip()
        keys = (f"u:{name.lower()}", f"ip:{request.client.host if request.client else '?'}")
        wait = auth.throttle.wait_s(*keys)
        if wait > 0:
            msg = f"Too many failed sign-ins. Try again in {math.ceil(wait / 60)} minute(s)."
            return render(request, "login.html", 429, next=target, error=msg, username=name)
        user = verify_password(store, name, password)
        if user is None:
            auth.throttle.failed(*keys)
            log.warning("Failed sign-in")  # no username: it may be a mistyped password
            msg = "Wrong username or password, or the user is disabled."
            return render(request, "login.html", 401, next=target, error=msg, username=name)
        auth.throttle.succeeded(keys[0])
        log.info("Signed in: %s (%s)", user.username, user.role)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            auth.cookie_value(user),
            max_age=auth.max_age_s,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/logout")
    def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problem, n_alerts = store.health()
        if problem:
            log.error("Health check failed: %s", problem)
            return JSONResponse(
                {"ok": False, "reason": problem, "store": store.dialect}, status_code=503
            )
        return JSONResponse({"ok": True, "alerts": n_alerts, "store": store.dialect})

    @app.get("/queue", response_class=HTMLResponse)
    def queue(
        request: Request,
        params: Annotated[QueueParams, Query()],
        done: Annotated[int | None, Query(ge=0)] = None,
        skipped: Annotated[int | None, Query(ge=0)] = None,
    ) -> HTMLResponse:
        after, before = params.cursors()
        page = store.queue(
            params.filter(request.state.user.username),
            sort=params.sort,
            after=after,
            before=before,
            page_size=page_size,
        )
        return render(
            request,
            "queue.html",
            params=params,
            page=page,
            facets=store.facets(),
            back=params.query(after=params.after, before=params.before),
            bulk=None if done is None else {"done": done, "skipped": skipped or 0},
        )

    def alert_page(
        request: Request,
        alert_id: str,
        back: str = "",
        errors: list[str] | None = None,
        form: dict[str, str] | None = None,
        saved: bool = False,
        status_code: int = 200,
        conflict: str | None = None,
    ) -> HTMLResponse:
        alert = store.alert(alert_id)
        if alert is None:
            raise StarletteHTTPException(404, f"No alert {alert_id}")
        ctx = alert["context"]
        claims = (
            store.claims(alert["evidence_claim_ids"])
            if ctx.get("evidence_claims") is not None
            else None
        )
        visited = doctors = None
        if alert["entity_type"] == "card" and ctx.get("card_facilities") is not None:
            visited = store.card_facilities(alert["entity_id"])
        if alert["entity_type"] == "facility" and ctx.get("doctor_days") is not None:
            doctors = _doctor_loads(store.doctor_days(alert["entity_id"]), doctor_daily_cap)
        form = form or {"note": ""}
        fac_ids = {c["facility_id"] for c in claims or []} | {
            v["facility_id"] for v in visited or []
        }
        alert = {**alert, "reasons": reason_views(alert["reasons"], alert["entity_type"])}
        return render(
            request,
            "alert.html",
            status_code,
            alert=alert,
            claims=claims,
            facilities=store.entities("facility", fac_ids),
            visited=visited,
            doctors=doctors,
            cap=doctor_daily_cap,
            history=store.history(alert_id),
            earlier=store.entity_history(alert["entity_type"], alert["entity_id"], alert_id),
            back=back,
            next_open=store.next_open(
                _queue_params(back).filter(request.state.user.username), alert["score"], alert_id
            ),
            errors=errors or [],
            form=form,
            saved=saved,
            conflict=conflict,
            notes=store.notes(alert_id),
            audit=store.audit(alert_id) if request.state.user.may("supervisor") else None,
        )

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse)
    def alert(
        request: Request,
        alert_id: str,
        back: Annotated[str, Query(max_length=2000)] = "",
        saved: Annotated[bool, Query()] = False,
    ) -> HTMLResponse:
        return alert_page(request, alert_id, back=_safe_back(back), saved=saved)

    def latest_with_charts(entity_type: str, alerts: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The entity's newest alert, its reasons with a chart against the peers each."""
        if not alerts:
            return None
        latest = alerts[0]
        peers = store.feature_peers(entity_type, [str(r.get("feature")) for r in latest["reasons"]])
        word = "this card" if entity_type == "card" else "this facility"
        views = reason_views(latest["reasons"], entity_type, peers, charts=True, entity_label=word)
        return {**latest, "reasons": views}

    @app.get("/cards/{card_id:path}", response_class=HTMLResponse)
    def card_page(request: Request, card_id: str) -> HTMLResponse:
        """A card's story: every visit of the period, flags on evidence, reasons with charts."""
        alerts = store.entity_alerts("card", card_id)
        latest = latest_with_charts("card", alerts)
        if latest is None:
            raise StarletteHTTPException(404, f"No alert on card {card_id}")
        visits = store.card_visits(card_id, latest["period_start"], latest["period_end"])
        evidence = {c for a in alerts for c in a["evidence_claim_ids"]}
        facilities = store.entities("facility", {v["facility_id"] for v in visits})
        info = store.entities("card", [card_id]).get(card_id, {})
        return render(
            request,
            "card.html",
            card_id=card_id,
            info=info,
            alerts=alerts,
            latest=latest,
            visits=visits,
            evidence=evidence,
            facilities=facilities,
            total_cost=sum(float(v["total_cost"] or 0) for v in visits),
        )

    @app.get("/facilities/{facility_id:path}", response_class=HTMLResponse)
    def facility_page(request: Request, facility_id: str) -> HTMLResponse:
        """A facility's story: indicators against peers, doctors' loads, diagnoses, cards."""
        alerts = store.entity_alerts("facility", facility_id)
        info = store.entities("facility", [facility_id]).get(facility_id)
        if not alerts and info is None:
            raise StarletteHTTPException(404, f"No facility {facility_id} in the alert store")
        days = store.doctor_days(facility_id)
        exams = [float(d["examinations"] or 0) for d in days]
        return render(
            request,
            "facility.html",
            facility_id=facility_id,
            info=info or {},
            alerts=alerts,
            latest=latest_with_charts("facility", alerts),
            cap=doctor_daily_cap,
            doctor_days=len(exams),
            over_cap=sum(e > doctor_daily_cap for e in exams),
            histogram=doctor_day_histogram(exams, doctor_daily_cap) if exams else None,
            diagnoses=store.facility_diagnoses(facility_id),
            cards=store.facility_card_alerts(facility_id),
        )

    @app.get("/alerts/{alert_id}/claims/{claim_id:path}/lines", response_class=HTMLResponse)
    def claim_lines(request: Request, alert_id: str, claim_id: str) -> HTMLResponse:
        alert = store.alert(alert_id)
        if alert is None or claim_id not in alert["evidence_claim_ids"]:
            raise StarletteHTTPException(404, f"No evidence claim {claim_id} in alert {alert_id}")
        claim = store.claim(claim_id)
        # the page's script fetches the fragment; a browser without it opens a whole page
        navigated = request.headers.get("sec-fetch-mode") == "navigate"
        return render(
            request,
            "lines_page.html" if navigated else "lines.html",
            alert_id=alert_id,
            lines=store.lines(claim_id),
            claim=claim,
            has_lines_file=alert["context"].get("evidence_lines") is not None,
        )

    @app.post("/alerts/{alert_id}/decisions", response_class=HTMLResponse)
    def decide(
        request: Request,
        alert_id: str,
        decision: Annotated[str, Form(max_length=40)] = "",
        note: Annotated[str, Form(max_length=20_000)] = "",
        csrf_token: Annotated[str, Form(max_length=500)] = "",
        back: Annotated[str, Form(max_length=2000)] = "",
        version: Annotated[int | None, Form()] = None,
    ) -> Response:
        user = request.state.user
        reviewer = user.username
        problem = cross_origin(request.headers) or csrf.check(
            request.cookies.get(COOKIE), csrf_token
        )
        if problem:
            return render(request, "error.html", 403, title="Form rejected", problems=[problem])
        back = _safe_back(back)
        raw = {"decision": decision, "reviewer": reviewer, "note": note}
        try:
            form = DecisionForm.model_validate(raw)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            return alert_page(
                request, alert_id, back=back, errors=errors, form=raw, status_code=422
            )
        case = store.alert(alert_id)
        if case is None:
            raise StarletteHTTPException(404, f"No alert {alert_id}")
        if case["assignee"] not in (None, reviewer) and not user.may("supervisor"):
            raise StarletteHTTPException(403, f"This case is assigned to {case['assignee']}")
        try:
            saved = store.record_decision(
                alert_id, form.decision, form.reviewer, form.note, expected_version=version
            )
        except Conflict as exc:
            return alert_page(
                request, alert_id, back=back, form=raw, status_code=409, conflict=str(exc)
            )
        except (SQLAlchemyError, StoreUnavailable) as exc:
            # no alert id, reviewer, note or SQL parameters in the log: only the error kind
            log.error("A reviewer's decision was NOT saved: %s", describe_db_error(exc))
            return render(
                request,
                "error.html",
                503,
                title="Your decision was NOT saved",
                problems=[
                    "The alert store could not save it (the database is busy or unavailable).",
                    "Go back with your browser's Back button (what you typed is kept there) "
                    "and try again in a moment.",
                ],
            )
        if saved is None:
            raise StarletteHTTPException(404, f"No alert {alert_id}")
        target = f"/alerts/{alert_id}?" + urlencode({"back": back, "saved": 1}) + "#decision"
        return RedirectResponse(target, status_code=303)

    def form_problem(request: Request, token: str) -> Response | None:
        problem = cross_origin(request.headers) or csrf.check(request.cookies.get(COOKIE), token)
        if problem:
            return render(request, "error.html", 403, title="Form rejected", problems=[problem])
        return None

    def bulk_items(items: list[str]) -> tuple[list[tuple[str, int]], list[str]]:
        """``alert_id:version`` values of the queue's checkboxes, and what is wrong with them."""
        if not items:
            return [], ["Tick at least one case (the boxes in the queue's first column)."]
        if len(items) > MAX_BULK:
            return [], [f"At most {MAX_BULK} cases at once; narrow the queue with its filters."]
        out = []
        for item in items:
            alert_id, sep, version = item.rpartition(":")
            if not sep or not alert_id or not version.isdigit():
                return [], [f"Not a case of the queue: {item[:80]!r}; reload the queue."]
            out.append((alert_id, int(version)))
        return out, []

    def bulk_done(result: BulkResult, back: str) -> Response:
        skipped = len(result.conflicts) + len(result.missing) + len(result.refused)
        if result.conflicts or result.refused:
            log.info(
                "Bulk action: %d done, %d changed by someone else, %d assigned to others",
                len(result.done), len(result.conflicts), len(result.refused),
            )  # fmt: skip
        target = "/queue?" + "&".join(
            x
            for x in (_safe_back(back), urlencode({"done": len(result.done), "skipped": skipped}))
            if x
        )
        return RedirectResponse(target, status_code=303)

    @app.post("/queue/bulk/assign", response_class=HTMLResponse)
    def bulk_assign(
        request: Request,
        items: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
        assignee: Annotated[str, Form(max_length=80)] = "",
        csrf_token: Annotated[str, Form(max_length=500)] = "",
        back: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        """Assign the ticked cases to one user (supervisors); each one audited and checked."""
        refused = form_problem(request, csrf_token)
        if refused:
            return refused
        picked, problems = bulk_items(items)
        name = assignee.strip()
        if lookup(store, name) is None:
            problems.append(f"There is no enabled user {name!r} to assign the cases to.")
        if problems:
            return render(request, "error.html", 422, title="Nothing assigned", problems=problems)
        result = store.bulk_assign(picked, request.state.user.username, name)
        return bulk_done(result, back)

    @app.post("/queue/bulk/dismiss", response_class=HTMLResponse)
    def bulk_dismiss(
        request: Request,
        items: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
        reason: Annotated[str, Form(max_length=2000)] = "",
        csrf_token: Annotated[str, Form(max_length=500)] = "",
        back: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        """Dismiss the ticked cases with one reason (reviewers: unassigned or their own)."""
        refused = form_problem(request, csrf_token)
        if refused:
            return refused
        picked, problems = bulk_items(items)
        if not reason.strip():
            problems.append("A dismissal needs its reason: write it in the reason field.")
        if problems:
            return render(request, "error.html", 422, title="Nothing dismissed", problems=problems)
        user = request.state.user
        try:
            result = store.bulk_decide(
                picked, "dismissed", user.username, reason.strip(),
                any_assignee=user.may("supervisor"),
            )  # fmt: skip
        except (SQLAlchemyError, StoreUnavailable) as exc:
            log.error("A bulk dismissal was NOT (fully) saved: %s", describe_db_error(exc))
            problems = [
                "The alert store could not save the dismissals; some may be saved.",
                "Reload the queue to see which cases are still open, and try again.",
            ]
            return render(
                request, "error.html", 503, title="Dismissals NOT saved", problems=problems
            )
        return bulk_done(result, back)

    @app.post("/alerts/{alert_id}/case", response_class=HTMLResponse)
    def change_case(
        request: Request,
        alert_id: str,
        action: Annotated[Literal["claim", "assign", "reopen"], Form()],
        version: Annotated[int, Form()],
        assignee: Annotated[str, Form(max_length=80)] = "",
        csrf_token: Annotated[str, Form(max_length=500)] = "",
        back: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        """Claim (any reviewer, unassigned cases), assign and reopen (supervisors)."""
        refused = form_problem(request, csrf_token)
        if refused:
            return refused
        user = request.state.user
        if action != "claim" and not user.may("supervisor"):
            raise StarletteHTTPException(403, f"Only a supervisor may {action} a case")
        if action == "claim":
            values: dict[str, Any] = {"assignee": user.username, "state": "assigned"}
        elif action == "assign":
            name = assignee.strip()
            if lookup(store, name) is None:
                problems = [f"There is no enabled user {name!r}."]
                return render(request, "error.html", 422, title="Not assigned", problems=problems)
            values = {"assignee": name, "state": "assigned"}
        else:
            values = {"state": "reopened", "status": "open"}
        try:
            changed = store.change_case(alert_id, user.username, action, version, **values)
        except Conflict as exc:
            return alert_page(
                request, alert_id, back=_safe_back(back), status_code=409, conflict=str(exc)
            )
        if changed is None:
            raise StarletteHTTPException(404, f"No alert {alert_id}")
        target = f"/alerts/{alert_id}?" + urlencode({"back": _safe_back(back)}) + "#case"
        return RedirectResponse(target, status_code=303)

    @app.post("/alerts/{alert_id}/notes", response_class=HTMLResponse)
    def add_note(
        request: Request,
        alert_id: str,
        body: Annotated[str, Form(max_length=2000)] = "",
        csrf_token: Annotated[str, Form(max_length=500)] = "",
        back: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        """Append a note (notes are never edited); the assignee's note starts the review."""
        refused = form_problem(request, csrf_token)
        if refused:
            return refused
        user = request.state.user
        text = body.strip()
        if not text:
            return render(request, "error.html", 422, title="Empty note", problems=[])
        if not store.add_note(alert_id, user.username, text):
            raise StarletteHTTPException(404, f"No alert {alert_id}")
        case = store.alert(alert_id)
        if case and case["assignee"] == user.username and case["state"] == "assigned":
            try:
                store.change_case(
                    alert_id, user.username, "start_review", case["version"], state="in_review"
                )
            except Conflict:
                pass  # someone changed the case meanwhile; the note is saved regardless
        target = f"/alerts/{alert_id}?" + urlencode({"back": _safe_back(back)}) + "#case"
        return RedirectResponse(target, status_code=303)

    @app.get("/export", response_class=HTMLResponse)
    def export_page(request: Request) -> HTMLResponse:
        return render(request, "export.html", counts=store.decision_counts())

    @app.get("/export/labels.csv")
    def export_csv(history: Annotated[bool, Query()] = False) -> PlainTextResponse:
        return PlainTextResponse(
            labels_csv(store, history=history),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="labels.csv"'},
        )

    @app.get("/export/cases.csv")
    def export_cases() -> PlainTextResponse:
        """Supervisors: every worked case with its notes and full decision history."""
        return PlainTextResponse(
            cases_csv(store),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
        )

    @app.get("/export/audit.csv")
    def export_audit() -> PlainTextResponse:
        return PlainTextResponse(
            audit_csv(store),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit_log.csv"'},
        )

    return app


SERVE_ENV = "CLAIMGUARD_SERVE_APP"  # what `claimguard serve --workers N` hands each worker


def app_from_environment() -> FastAPI:
    """The app of one worker process of `claimguard serve --workers N`.

    Why an environment variable: uvicorn starts each worker as a fresh process that imports
    the app factory by name, so the parent passes the store URL and the serve options
    (JSON in :data:`SERVE_ENV`). Each worker opens its own engine (its own pool); the
    signing secret, sign-in failures and count versions live in the store, so any worker
    accepts any session and all of them agree.
    """
    from claimguard.settings import load_settings

    spec = json.loads(os.environ[SERVE_ENV])
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


def _queue_params(back: str) -> QueueParams:
    try:
        return QueueParams.model_validate(dict(parse_qsl(back)))
    except ValidationError:
        return QueueParams()


def _safe_next(target: str) -> str:
    """Only a path of this app (never another host) may follow a sign-in."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def _safe_back(back: str) -> str:
    """Keep only a valid queue query string (so the back link can never leave the app)."""
    params = _queue_params(back)
    return params.query(after=params.after, before=params.before)
