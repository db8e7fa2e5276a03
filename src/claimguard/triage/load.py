"""Load a scored folder (``claimguard score`` output) into the alert store.

Why idempotent: a nightly job re-scores and the reviewers keep working. Alerts are
keyed by ``alert_id`` (stable for entity, period and model), so loading the same
folder twice updates rows instead of duplicating them, and a newer run never touches
the decisions already recorded (they live in their own append-only table; the
alert's status columns are left out of the update).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, select, text, update

from claimguard.errors import InputFileError
from claimguard.progress import step
from claimguard.schema import ALERT_COLUMNS, ENTITY_TYPES
from claimguard.settings import TriageSettings
from claimguard.triage.load_context import dates, load_context, records
from claimguard.triage.store import (
    Alert,
    AlertSignal,
    CaseRun,
    Store,
)

log = logging.getLogger(__name__)

CONTEXT_FILES = (
    "evidence_claims",
    "evidence_lines",
    "entity_info",
    "card_facilities",
    "doctor_days",
    "feature_peers",
)
_STATUS_COLS = {"status", "status_at", "status_reviewer", "state", "assignee", "due_at", "version"}
_REQUIRED = {
    "evidence_claims": ("claim_id", "card_id", "facility_id"),
    "evidence_lines": ("claim_id",),
    "entity_info": ("entity_type", "entity_id"),
    "card_facilities": ("entity_id", "facility_id"),
    "doctor_days": ("entity_id", "doctor_id", "day", "examinations"),
    "feature_peers": ("entity_type", "feature", "bin_edges", "bin_shares"),
}


@dataclass
class LoadSummary:
    """What a load did, for the log line and the tests."""

    run_id: int
    alerts: int
    new_alerts: int
    updated_alerts: int
    context: dict[str, int | None] = field(default_factory=dict)
    carried_forward: int = 0
    joined: int = 0  # alerts that joined a case another run (model) opened for that period


def carried_pairs(folder: Path, alert_ids: set[str]) -> list[tuple[str, str]]:
    """``(previous_alert_id, alert_id)`` pairs an incremental run recorded in its run.json.

    ``claimguard score --since`` lists the entities it alerted again; pairs whose alert is
    not in this folder's alerts are ignored.
    """
    path = folder / "run.json"
    if not path.is_file():
        return []
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputFileError(
            f"run.json is not valid JSON ({exc})",
            where=str(path),
            fix="re-run `claimguard score` to write the folder again",
        ) from exc
    since = run.get("since") if isinstance(run, dict) else None
    rows = since.get("carried_forward", []) if isinstance(since, dict) else []
    return [
        (str(r["previous_alert_id"]), str(r["alert_id"]))
        for r in rows
        if isinstance(r, dict) and str(r.get("alert_id")) in alert_ids
        and r.get("previous_alert_id") is not None
    ]  # fmt: skip


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype={"alert_id": "string", "entity_id": "string"})
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault
        raise InputFileError(
            f"Cannot read {path.name} ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="re-run `claimguard score` to write the folder again",
        ) from exc


def _need(df: pd.DataFrame, cols: tuple[str, ...] | list[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputFileError(
            f"{path.name} lacks column(s) {', '.join(missing)}",
            where=str(path),
            fix="pass a folder written by `claimguard score` (docs/contract.md section 3)",
        )


def _json_list(value: Any, what: str, alert: str, path: Path) -> list[Any]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, list):
        return value
    if hasattr(value, "tolist"):
        return list(value.tolist())
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{what} of alert {alert} is not JSON ({exc.msg})",
            where=str(path),
            fix="re-run `claimguard score`; reasons and evidence_claim_ids are JSON lists",
        ) from exc
    if not isinstance(parsed, list):
        raise InputFileError(
            f"{what} of alert {alert} is not a JSON list",
            where=str(path),
            fix="re-run `claimguard score`",
        )
    return parsed


def read_alerts(folder: Path) -> tuple[pd.DataFrame, Path]:
    """alerts.parquet (or alerts.csv) of a scored folder, checked."""
    if not folder.is_dir():
        raise InputFileError(
            f"Scored folder {folder} does not exist or is not a folder",
            where=str(folder),
            fix="pass the --out folder of `claimguard score`",
        )
    path = folder / "alerts.parquet"
    if not path.exists():
        path = folder / "alerts.csv"
    if not path.exists():
        raise InputFileError(
            "No alerts.parquet or alerts.csv in the folder",
            where=str(folder),
            fix="pass the --out folder of `claimguard score`",
        )
    df = _read(path)
    _need(df, list(ALERT_COLUMNS), path)
    bad = sorted(set(df["entity_type"].dropna().astype(str)) - set(ENTITY_TYPES))
    if bad or df["alert_id"].isna().any():
        raise InputFileError(
            f"alerts have unknown entity_type {bad} or empty alert_id",
            where=str(path),
            fix="entity_type must be card or facility; re-run `claimguard score`",
        )
    if df["alert_id"].duplicated().any():
        dup = df.loc[df["alert_id"].duplicated(), "alert_id"].iloc[0]
        raise InputFileError(
            f"alert_id {dup} appears more than once",
            where=str(path),
            fix="alert ids must be unique; re-run `claimguard score`",
        )
    return df, path


def read_context(folder: Path) -> dict[str, pd.DataFrame | None]:
    """Each triage context file, or None when the scored folder has none."""
    out: dict[str, pd.DataFrame | None] = {}
    for name in CONTEXT_FILES:
        path = folder / f"{name}.parquet"
        if path.exists():
            df = _read(path)
            _need(df, _REQUIRED[name], path)
            out[name] = df
        else:
            out[name] = None
    absent = [n for n, df in out.items() if df is None]
    if absent:
        log.info("Scored folder has no %s; the alert pages will say so", ", ".join(absent))
    return out


def _alert_rows(df: pd.DataFrame, info: pd.DataFrame | None, path: Path) -> list[dict[str, Any]]:
    df = df[list(ALERT_COLUMNS)].copy()
    if info is not None:
        cols = [c for c in ("province", "tier", "label") if c in info.columns]
        info = info.drop_duplicates(["entity_type", "entity_id"])[
            ["entity_type", "entity_id", *cols]
        ]
        for c in ("entity_type", "entity_id"):
            info[c] = info[c].astype("string")
            df[c] = df[c].astype("string")
        df = df.merge(info, on=["entity_type", "entity_id"], how="left")
    for c in ("province", "tier", "label"):
        if c not in df.columns:
            df[c] = None
    rows = records(df)
    dates(rows, ("period_start", "period_end"))
    for r in rows:  # per alert: parse its two JSON cells and check them
        aid = str(r["alert_id"])
        reasons = _json_list(r["reasons"], "reasons", aid, path)
        evidence = _json_list(r["evidence_claim_ids"], "evidence_claim_ids", aid, path)
        r["alert_id"] = aid
        r["entity_id"] = str(r["entity_id"])
        r["reasons"] = json.dumps(reasons)
        r["evidence_claim_ids"] = json.dumps([str(e) for e in evidence])
        r["n_evidence"] = len(evidence)
        r["rank"] = int(r["rank"]) if r["rank"] is not None else 0
        r["score"] = float(r["score"]) if r["score"] is not None else 0.0
        r["_signals"] = sorted(
            {str(x.get("signal")) for x in reasons if isinstance(x, dict) and x.get("signal")}
            | ({str(r["top_signal"])} if r.get("top_signal") else set())
        )
        for c in ("province", "tier", "label", "top_signal", "model_version"):
            if r.get(c) is not None:
                r[c] = str(r[c])
    return rows


def amounts_at_stake(rows: list[dict[str, Any]], claims: pd.DataFrame | None) -> list[float]:
    """Per alert row: insurance paid on its evidence claims (0 where the folder has none).

    Why from the evidence: that is the money the reviewer can claw back if the alert is
    confirmed, which decides what a team looks at first as much as the score does.
    """
    if claims is None or "insurance_paid" not in claims.columns or not len(claims):
        return [0.0] * len(rows)
    paid = pd.to_numeric(claims["insurance_paid"], errors="coerce").fillna(0.0)
    by_claim = (
        pd.Series(paid.to_numpy(), index=claims["claim_id"].astype("string").to_numpy())
        .groupby(level=0)
        .last()
        .to_dict()
    )
    return [
        float(sum(by_claim.get(c, 0.0) for c in json.loads(r["evidence_claim_ids"]))) for r in rows
    ]


def _case_key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["entity_type"], str(r["entity_id"]), r["period_start"], r["period_end"])


def case_ids(conn: Any, rows: list[dict[str, Any]]) -> dict[str, str]:
    """For each alert id of ``rows``: the case (alerts row) it belongs to.

    One case per (entity_type, entity_id, period): an alert whose own id is already a case
    keeps it; else it joins the case an earlier run opened for the same entity and period;
    else it opens its own. Two rows of one folder for one key share the first one's case.
    """
    a = Alert.__table__.c
    ids = [r["alert_id"] for r in rows]
    own: set[str] = set()
    for i in range(0, len(ids), 500):
        own.update(conn.scalars(select(a.alert_id).where(a.alert_id.in_(ids[i : i + 500]))))
    by_key: dict[tuple[Any, ...], str] = {}
    entity_ids = sorted({str(r["entity_id"]) for r in rows})
    for i in range(0, len(entity_ids), 500):
        q = select(a.alert_id, a.entity_type, a.entity_id, a.period_start, a.period_end).where(
            a.entity_id.in_(entity_ids[i : i + 500])
        )
        for row in conn.execute(q.order_by(a.alert_id)):
            by_key.setdefault(_case_key(row._mapping), row.alert_id)
    out: dict[str, str] = {}
    for r in rows:
        key = _case_key(r)
        if r["alert_id"] in own:
            out[r["alert_id"]] = r["alert_id"]
            by_key.setdefault(key, r["alert_id"])
        else:
            out[r["alert_id"]] = by_key.setdefault(key, r["alert_id"])
    return out


def _write_cases(
    store: Store,
    conn: Any,
    rows: list[dict[str, Any]],
    case_of: dict[str, str],
    run_id: int,
    sla_days: int,
) -> None:
    """Upsert the cases, link every alert to its case and run, replace the cases' signals."""
    cases = sorted(set(case_of.values()))
    # the reviewers' status columns are never part of the update; a second row of one
    # folder for one case (same entity and period) is linked, not written twice
    stmt = store.upsert(Alert.__table__, ["alert_id"], exclude=_STATUS_COLS)
    seen: set[str] = set()
    alert_rows = []
    for r in rows:
        case = case_of[r["alert_id"]]
        if case not in seen:
            seen.add(case)
            values = {k: v for k, v in r.items() if k != "_signals"}
            alert_rows.append({**values, "alert_id": case, "run_id": run_id})
    if alert_rows:
        conn.execute(stmt, alert_rows)
    link_rows = [
        {
            "alert_id": case_of[r["alert_id"]],
            "run_id": run_id,
            "source_alert_id": r["alert_id"],
            "model_version": r.get("model_version"),
            "score": r["score"],
            "top_signal": r.get("top_signal"),
        }
        for r in rows
    ]
    if link_rows:
        conn.execute(store.upsert(CaseRun.__table__, ["alert_id", "run_id"], True), link_rows)
    due = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=sla_days)
    conn.execute(update(Alert).where(Alert.due_at.is_(None)).values(due_at=due))
    store.delete_in(conn, AlertSignal.__table__.c.alert_id, cases)
    sig = {(case_of[r["alert_id"]], s) for r in rows for s in r["_signals"]}
    if sig:
        conn.execute(insert(AlertSignal), [{"alert_id": c, "signal": s} for c, s in sorted(sig)])


def load_folder(store: Store, folder: str | Path, sla_days: int | None = None) -> LoadSummary:
    """Upsert a scored folder's alerts and context into the store, in one transaction.

    A new case is due ``sla_days`` (``triage.sla_days``) after the load that created it.
    """
    sla = sla_days if sla_days is not None else TriageSettings().sla_days
    folder = Path(folder)
    alerts, path = read_alerts(folder)
    ctx = read_context(folder)
    rows = _alert_rows(alerts, ctx["entity_info"], path)
    ids = [r["alert_id"] for r in rows]
    model_version = str(alerts["model_version"].dropna().iloc[0]) if len(alerts) else None
    context = {k: (None if v is None else len(v)) for k, v in ctx.items()}

    for r, amount in zip(rows, amounts_at_stake(rows, ctx["evidence_claims"]), strict=True):
        r["amount_at_stake"] = amount

    with step(f"Loading {len(rows)} alerts into the triage store"), store.engine.begin() as conn:
        if store.dialect == "postgresql":  # two loads at once must not both open one case
            conn.execute(text("SELECT pg_advisory_xact_lock(727275)"))
        case_of = case_ids(conn, rows)
        cases = sorted(set(case_of.values()))
        known: set[str] = set()  # cases already in the store
        for i in range(0, len(cases), 500):
            chunk = cases[i : i + 500]
            known.update(conn.scalars(select(Alert.alert_id).where(Alert.alert_id.in_(chunk))))
        # the folder as named (a symlink to its live version), not the version folder itself,
        # which the next run into the same folder replaces
        run_id = store.add_run(conn, os.path.abspath(folder), model_version, len(rows), context)
        _write_cases(store, conn, rows, case_of, run_id, sla)
        load_context(store, conn, ctx)
        pairs = [
            (store.case_of(conn, prev), case_of[aid])
            for prev, aid in carried_pairs(folder, set(ids))
        ]
        carried = store.carry_forward(conn, [(p, c) for p, c in pairs if p and p != c])

    store.forget_counts()
    summary = LoadSummary(
        run_id=run_id,
        alerts=len(rows),
        new_alerts=len(set(cases) - known),
        updated_alerts=len(rows) - len(set(cases) - known),
        context=context,
        carried_forward=carried,
        joined=sum(case != aid for aid, case in case_of.items()),
    )
    log.info(
        "Loaded %d alerts (%d new cases, %d updated, %d joined another model's case, "
        "%d earlier decisions carried forward) from %s",
        summary.alerts,
        summary.new_alerts,
        summary.updated_alerts,
        summary.joined,
        summary.carried_forward,
        folder,
    )
    return summary
