"""The supervisors' export page and its CSV downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from claimguard.triage.export import audit_csv, cases_csv, labels_csv
from claimguard.triage.web.ui import ui_of

router = APIRouter()


def _csv(body: str, filename: str) -> PlainTextResponse:
    return PlainTextResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/export", response_class=HTMLResponse)
def export_page(request: Request) -> HTMLResponse:
    ui = ui_of(request)
    return ui.render(request, "export.html", counts=ui.store.decision_counts())


@router.get("/export/labels.csv")
def export_csv(request: Request, history: Annotated[bool, Query()] = False) -> PlainTextResponse:
    return _csv(labels_csv(ui_of(request).store, history=history), "labels.csv")


@router.get("/export/cases.csv")
def export_cases(request: Request) -> PlainTextResponse:
    """Supervisors: every worked case with its notes and full decision history."""
    return _csv(cases_csv(ui_of(request).store), "cases.csv")


@router.get("/export/audit.csv")
def export_audit(request: Request) -> PlainTextResponse:
    return _csv(audit_csv(ui_of(request).store), "audit_log.csv")
