"""What every page of one app shares: the store, the templates, CSRF and sessions.

Why one object on ``app.state``: the page modules are plain routers, so the app they are
included in hands them its store and keys through the request (:func:`ui_of`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from claimguard.triage.auth import Auth
from claimguard.triage.codes import dx_codes, dx_label, dx_title
from claimguard.triage.csrf import COOKIE, FIELD, Csrf, cross_origin
from claimguard.triage.store import DECISIONS, Store

HERE = Path(__file__).resolve().parent.parent
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


def fmt_num(v: Any, digits: int = 2) -> str:
    """1234567.891 -> '1,234,567.89'; whole numbers without decimals; '–' for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.{digits}f}".rstrip("0").rstrip(".")


def fmt_dt(v: Any, with_time: bool = True) -> str:
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


def templates() -> Jinja2Templates:
    """The package's templates, compiled once (never re-checked on disk per page)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
    )
    env.filters.update(
        num=fmt_num, when=fmt_dt, ratio=_ratio, dxtitle=dx_title, dxcodes=dx_codes, dx=dx_label
    )
    env.globals.update(
        DECISION_LABELS=DECISION_LABELS, DECISIONS=DECISIONS, SCENARIO_TAGS=SCENARIO_TAGS
    )
    return Jinja2Templates(env=env)


@dataclass
class Ui:
    """One app's store, templates, CSRF signer, sessions and page settings."""

    store: Store
    templates: Jinja2Templates
    csrf: Csrf
    auth: Auth
    page_size: int = 50
    doctor_daily_cap: int = 65

    def render(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page with the CSRF token, the store's kind and the signed-in user."""
        context.setdefault("csrf_token", self.csrf.form_token(request.state.csrf_cookie))
        context.setdefault("csrf_field", FIELD)
        context.setdefault("store_kind", self.store.dialect)
        context.setdefault("user", getattr(request.state, "user", None))
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    def error(self, request: Request, status_code: int, title: str, *problems: str) -> HTMLResponse:
        return self.render(request, "error.html", status_code, title=title, problems=list(problems))

    def form_problem(self, request: Request, token: str) -> Response | None:
        """A 403 page when a posted form is cross-origin or its CSRF token is wrong."""
        problem = cross_origin(request.headers) or self.csrf.check(
            request.cookies.get(COOKIE), token
        )
        return self.error(request, 403, "Form rejected", problem) if problem else None


def ui_of(request: Request) -> Ui:
    """The :class:`Ui` of the app serving ``request``."""
    ui: Ui = request.app.state.ui
    return ui
