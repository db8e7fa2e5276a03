"""The case page: evidence, history and notes, and the writes a reviewer makes on it."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimguard.triage.auth import lookup
from claimguard.triage.store import Conflict, StoreUnavailable, describe_db_error
from claimguard.triage.story import reason_views
from claimguard.triage.web.entity import doctor_loads
from claimguard.triage.web.params import DecisionForm, queue_params, safe_back
from claimguard.triage.web.ui import Ui, ui_of

log = logging.getLogger("claimguard.triage.app")
router = APIRouter()


def _evidence(ui: Ui, alert: dict[str, Any]) -> dict[str, Any]:
    """The evidence claims, visited facilities and doctors' loads the alert's run had."""
    store, ctx = ui.store, alert["context"]
    claims = (
        store.claims(alert["evidence_claim_ids"])
        if ctx.get("evidence_claims") is not None
        else None
    )
    visited = doctors = None
    if alert["entity_type"] == "card" and ctx.get("card_facilities") is not None:
        visited = store.card_facilities(alert["entity_id"])
    if alert["entity_type"] == "facility" and ctx.get("doctor_days") is not None:
        doctors = doctor_loads(store.doctor_days(alert["entity_id"]), ui.doctor_daily_cap)
    fac_ids = {c["facility_id"] for c in claims or []} | {v["facility_id"] for v in visited or []}
    return {
        "claims": claims,
        "facilities": store.entities("facility", fac_ids),
        "visited": visited,
        "doctors": doctors,
        "cap": ui.doctor_daily_cap,
    }


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
    """The case page, also re-shown with a form's errors or a conflict."""
    ui = ui_of(request)
    store, user = ui.store, request.state.user
    alert = store.alert(alert_id)
    if alert is None:
        raise StarletteHTTPException(404, f"No alert {alert_id}")
    evidence = _evidence(ui, alert)
    alert = {**alert, "reasons": reason_views(alert["reasons"], alert["entity_type"])}
    next_open = store.next_open(queue_params(back).filter(user.username), alert["score"], alert_id)
    return ui.render(
        request,
        "alert.html",
        status_code,
        alert=alert,
        **evidence,
        history=store.history(alert_id),
        earlier=store.entity_history(alert["entity_type"], alert["entity_id"], alert_id),
        back=back,
        next_open=next_open,
        errors=errors or [],
        form=form or {"note": ""},
        saved=saved,
        conflict=conflict,
        notes=store.notes(alert_id),
        audit=store.audit(alert_id) if user.may("supervisor") else None,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert(
    request: Request,
    alert_id: str,
    back: Annotated[str, Query(max_length=2000)] = "",
    saved: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    return alert_page(request, alert_id, back=safe_back(back), saved=saved)


@router.get("/alerts/{alert_id}/claims/{claim_id:path}/lines", response_class=HTMLResponse)
def claim_lines(request: Request, alert_id: str, claim_id: str) -> HTMLResponse:
    ui = ui_of(request)
    alert = ui.store.alert(alert_id)
    if alert is None or claim_id not in alert["evidence_claim_ids"]:
        raise StarletteHTTPException(404, f"No evidence claim {claim_id} in alert {alert_id}")
    # the page's script fetches the fragment; a browser without it opens a whole page
    navigated = request.headers.get("sec-fetch-mode") == "navigate"
    return ui.render(
        request,
        "lines_page.html" if navigated else "lines.html",
        alert_id=alert_id,
        lines=ui.store.lines(claim_id),
        claim=ui.store.claim(claim_id),
        has_lines_file=alert["context"].get("evidence_lines") is not None,
    )


@router.post("/alerts/{alert_id}/decisions", response_class=HTMLResponse)
def decide(
    request: Request,
    alert_id: str,
    decision: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
    version: Annotated[int | None, Form()] = None,
) -> Response:
    """Record a decision if the case is still at the page's version (else a 409 page)."""
    ui = ui_of(request)
    user = request.state.user
    refused = ui.form_problem(request, csrf_token)
    if refused:
        return refused
    back = safe_back(back)
    raw = {"decision": decision, "reviewer": user.username, "note": note}
    try:
        form = DecisionForm.model_validate(raw)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return alert_page(request, alert_id, back=back, errors=errors, form=raw, status_code=422)
    case = ui.store.alert(alert_id)
    if case is None:
        raise StarletteHTTPException(404, f"No alert {alert_id}")
    if case["assignee"] not in (None, user.username) and not user.may("supervisor"):
        raise StarletteHTTPException(403, f"This case is assigned to {case['assignee']}")
    try:
        saved = ui.store.record_decision(
            alert_id, form.decision, form.reviewer, form.note, expected_version=version
        )
    except Conflict as exc:
        return alert_page(
            request, alert_id, back=back, form=raw, status_code=409, conflict=str(exc)
        )
    except (SQLAlchemyError, StoreUnavailable) as exc:
        # no alert id, reviewer, note or SQL parameters in the log: only the error kind
        log.error("A reviewer's decision was NOT saved: %s", describe_db_error(exc))
        return ui.error(
            request, 503, "Your decision was NOT saved",
            "The alert store could not save it (the database is busy or unavailable).",
            "Go back with your browser's Back button (what you typed is kept there) "
            "and try again in a moment.",
        )  # fmt: skip
    if saved is None:
        raise StarletteHTTPException(404, f"No alert {alert_id}")
    target = f"/alerts/{alert_id}?" + urlencode({"back": back, "saved": 1}) + "#decision"
    return RedirectResponse(target, status_code=303)


@router.post("/alerts/{alert_id}/case", response_class=HTMLResponse)
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
    ui = ui_of(request)
    refused = ui.form_problem(request, csrf_token)
    if refused:
        return refused
    user = request.state.user
    if action != "claim" and not user.may("supervisor"):
        raise StarletteHTTPException(403, f"Only a supervisor may {action} a case")
    if action == "claim":
        values: dict[str, Any] = {"assignee": user.username, "state": "assigned"}
    elif action == "assign":
        name = assignee.strip()
        if lookup(ui.store, name) is None:
            return ui.error(request, 422, "Not assigned", f"There is no enabled user {name!r}.")
        values = {"assignee": name, "state": "assigned"}
    else:
        values = {"state": "reopened", "status": "open"}
    try:
        changed = ui.store.change_case(alert_id, user.username, action, version, **values)
    except Conflict as exc:
        return alert_page(
            request, alert_id, back=safe_back(back), status_code=409, conflict=str(exc)
        )
    if changed is None:
        raise StarletteHTTPException(404, f"No alert {alert_id}")
    target = f"/alerts/{alert_id}?" + urlencode({"back": safe_back(back)}) + "#case"
    return RedirectResponse(target, status_code=303)


@router.post("/alerts/{alert_id}/notes", response_class=HTMLResponse)
def add_note(
    request: Request,
    alert_id: str,
    body: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Append a note (notes are never edited); the assignee's note starts the review."""
    ui = ui_of(request)
    refused = ui.form_problem(request, csrf_token)
    if refused:
        return refused
    user = request.state.user
    text = body.strip()
    if not text:
        return ui.error(request, 422, "Empty note")
    if not ui.store.add_note(alert_id, user.username, text):
        raise StarletteHTTPException(404, f"No alert {alert_id}")
    case = ui.store.alert(alert_id)
    if case and case["assignee"] == user.username and case["state"] == "assigned":
        try:
            ui.store.change_case(
                alert_id, user.username, "start_review", case["version"], state="in_review"
            )
        except Conflict:
            pass  # someone changed the case meanwhile; the note is saved regardless
    target = f"/alerts/{alert_id}?" + urlencode({"back": safe_back(back)}) + "#case"
    return RedirectResponse(target, status_code=303)
