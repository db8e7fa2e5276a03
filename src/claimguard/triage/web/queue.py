"""The case queue: filters, keyset pages, tab counts and the bulk actions."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from claimguard.triage.auth import lookup
from claimguard.triage.store import BulkResult, StoreUnavailable, describe_db_error
from claimguard.triage.web.params import QueueParams, safe_back
from claimguard.triage.web.ui import MAX_BULK, ui_of

log = logging.getLogger("claimguard.triage.app")
router = APIRouter()


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    params: Annotated[QueueParams, Query()],
    done: Annotated[int | None, Query(ge=0)] = None,
    skipped: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    ui = ui_of(request)
    after, before = params.cursors()
    page = ui.store.queue(
        params.filter(request.state.user.username),
        sort=params.sort,
        after=after,
        before=before,
        page_size=ui.page_size,
    )
    return ui.render(
        request,
        "queue.html",
        params=params,
        page=page,
        facets=ui.store.facets(),
        back=params.query(after=params.after, before=params.before),
        bulk=None if done is None else {"done": done, "skipped": skipped or 0},
    )


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
    """Back to the queue, saying how many cases changed and how many were skipped."""
    skipped = len(result.conflicts) + len(result.missing) + len(result.refused)
    if result.conflicts or result.refused:
        log.info(
            "Bulk action: %d done, %d changed by someone else, %d assigned to others",
            len(result.done), len(result.conflicts), len(result.refused),
        )  # fmt: skip
    target = "/queue?" + "&".join(
        x for x in (safe_back(back), urlencode({"done": len(result.done), "skipped": skipped})) if x
    )
    return RedirectResponse(target, status_code=303)


@router.post("/queue/bulk/assign", response_class=HTMLResponse)
def bulk_assign(
    request: Request,
    items: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    assignee: Annotated[str, Form(max_length=80)] = "",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Assign the ticked cases to one user (supervisors); each one audited and checked."""
    ui = ui_of(request)
    refused = ui.form_problem(request, csrf_token)
    if refused:
        return refused
    picked, problems = bulk_items(items)
    name = assignee.strip()
    if lookup(ui.store, name) is None:
        problems.append(f"There is no enabled user {name!r} to assign the cases to.")
    if problems:
        return ui.error(request, 422, "Nothing assigned", *problems)
    result = ui.store.bulk_assign(picked, request.state.user.username, name)
    return bulk_done(result, back)


@router.post("/queue/bulk/dismiss", response_class=HTMLResponse)
def bulk_dismiss(
    request: Request,
    items: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Dismiss the ticked cases with one reason (reviewers: unassigned or their own)."""
    ui = ui_of(request)
    refused = ui.form_problem(request, csrf_token)
    if refused:
        return refused
    picked, problems = bulk_items(items)
    if not reason.strip():
        problems.append("A dismissal needs its reason: write it in the reason field.")
    if problems:
        return ui.error(request, 422, "Nothing dismissed", *problems)
    user = request.state.user
    try:
        result = ui.store.bulk_decide(
            picked, "dismissed", user.username, reason.strip(),
            any_assignee=user.may("supervisor"),
        )  # fmt: skip
    except (SQLAlchemyError, StoreUnavailable) as exc:
        log.error("A bulk dismissal was NOT (fully) saved: %s", describe_db_error(exc))
        return ui.error(
            request, 503, "Dismissals NOT saved",
            "The alert store could not save the dismissals; some may be saved.",
            "Reload the queue to see which cases are still open, and try again.",
        )  # fmt: skip
    return bulk_done(result, back)
