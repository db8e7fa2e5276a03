"""The entity's story: a card's visits and a facility's doctors, each against its peers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimguard.triage.store import Store
from claimguard.triage.story import doctor_day_histogram, reason_views
from claimguard.triage.web.ui import fmt_dt, ui_of

router = APIRouter()


def doctor_loads(rows: list[dict[str, Any]], cap: int) -> list[dict[str, Any]]:
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
                "title": f"{fmt_dt(d['day'], False)}: {e:.0f}",
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


def latest_with_charts(
    store: Store, entity_type: str, alerts: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The entity's newest alert, its reasons with a chart against the peers each."""
    if not alerts:
        return None
    latest = alerts[0]
    peers = store.feature_peers(entity_type, [str(r.get("feature")) for r in latest["reasons"]])
    word = "this card" if entity_type == "card" else "this facility"
    views = reason_views(latest["reasons"], entity_type, peers, charts=True, entity_label=word)
    return {**latest, "reasons": views}


@router.get("/cards/{card_id:path}", response_class=HTMLResponse)
def card_page(request: Request, card_id: str) -> HTMLResponse:
    """A card's story: every visit of the period, flags on evidence, reasons with charts."""
    ui = ui_of(request)
    store = ui.store
    alerts = store.entity_alerts("card", card_id)
    latest = latest_with_charts(store, "card", alerts)
    if latest is None:
        raise StarletteHTTPException(404, f"No alert on card {card_id}")
    visits = store.card_visits(card_id, latest["period_start"], latest["period_end"])
    evidence = {c for a in alerts for c in a["evidence_claim_ids"]}
    facilities = store.entities("facility", {v["facility_id"] for v in visits})
    info = store.entities("card", [card_id]).get(card_id, {})
    return ui.render(
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


@router.get("/facilities/{facility_id:path}", response_class=HTMLResponse)
def facility_page(request: Request, facility_id: str) -> HTMLResponse:
    """A facility's story: indicators against peers, doctors' loads, diagnoses, cards."""
    ui = ui_of(request)
    store, cap = ui.store, ui.doctor_daily_cap
    alerts = store.entity_alerts("facility", facility_id)
    info = store.entities("facility", [facility_id]).get(facility_id)
    if not alerts and info is None:
        raise StarletteHTTPException(404, f"No facility {facility_id} in the alert store")
    exams = [float(d["examinations"] or 0) for d in store.doctor_days(facility_id)]
    return ui.render(
        request,
        "facility.html",
        facility_id=facility_id,
        info=info or {},
        alerts=alerts,
        latest=latest_with_charts(store, "facility", alerts),
        cap=cap,
        doctor_days=len(exams),
        over_cap=sum(e > cap for e in exams),
        histogram=doctor_day_histogram(exams, cap) if exams else None,
        diagnoses=store.facility_diagnoses(facility_id),
        cards=store.facility_card_alerts(facility_id),
    )
