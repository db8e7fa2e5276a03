"""Reviewer decisions as ``labels.csv`` (docs/contract.md section 4 plus decision, reviewer, decided_at).

Why this layout: data scientists feed it straight back to ``claimguard evaluate`` and
training as labels. One row per decided alert (its latest decision) by default;
``history=True`` gives every decision ever recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from claimguard.io.csvsafe import csv_text, neutralise, write_csv
from claimguard.schema import DECISION_COLUMNS
from claimguard.triage.store import Store

__all__ = ["audit_csv", "labels_csv", "labels_frame", "neutralise", "write_labels"]


def audit_csv(store: Store) -> str:
    """The audit log (newest first) as CSV for supervisors, formulas neutralised."""
    cols = ["id", "at", "actor", "action", "alert_id", "before", "after"]
    df = pd.DataFrame(store.audit(limit=1_000_000), columns=cols)
    return csv_text(df)


CASE_COLUMNS = (
    "alert_id", "entity_type", "entity_id", "period_start", "period_end", "model_version",
    "score", "rank", "state", "status", "assignee", "due_at", "n_decisions", "decision_history",
    "n_notes", "notes",
)  # fmt: skip


def _when(v: Any) -> str:
    return (
        v.strftime("%Y-%m-%dT%H:%M:%SZ")
        if hasattr(v, "strftime")
        else ("" if v is None else str(v))
    )


def cases_frame(store: Store) -> pd.DataFrame:
    """One row per worked case: alert, model version, state, assignee, notes, every decision.

    The history and the notes are one line per entry, oldest first
    ("2024-02-01T09:00:00Z sam confirmed_abuse [#borrowed_card]: note"), so the file reads
    in a spreadsheet and still holds the whole record (raw values: :func:`cases_csv`
    neutralises formulas, once).
    """
    rows = []
    for c in store.cases():
        hist = [
            f"{_when(d['decided_at'])} {d['reviewer']} {d['decision']} [{d['scenario']}]"
            + (f": {d['note']}" if d["note"] else "")
            for d in c["decisions"]
        ]
        notes = [f"{_when(n['created_at'])} {n['author']}: {n['body']}" for n in c["notes"]]
        rows.append(
            {
                **{k: c[k] for k in CASE_COLUMNS if k in c},
                "period_start": _when(c["period_start"])[:10],
                "period_end": _when(c["period_end"])[:10],
                "due_at": _when(c["due_at"]),
                "n_decisions": len(hist),
                "decision_history": "\n".join(hist),
                "n_notes": len(notes),
                "notes": "\n".join(notes),
            }
        )
    df = pd.DataFrame(rows, columns=list(CASE_COLUMNS))
    text = [c for c in CASE_COLUMNS if c not in ("score", "rank", "n_decisions", "n_notes")]
    return df.astype({c: "string" for c in text})


def cases_csv(store: Store) -> str:
    """The cases export (UTF-8 CSV with a header row) supervisors download, formulas
    neutralised."""
    return csv_text(cases_frame(store))


def labels_frame(store: Store, history: bool = False) -> pd.DataFrame:
    """Decisions with exactly DECISION_COLUMNS; decided_at as ISO 8601 UTC text.

    The raw values: the CSV writers below neutralise formulas (once)."""
    rows = store.labels(history=history)
    df = pd.DataFrame(rows, columns=list(DECISION_COLUMNS))
    df["decided_at"] = pd.to_datetime(df["decided_at"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return df.astype({c: "string" for c in DECISION_COLUMNS})


def labels_csv(store: Store, history: bool = False) -> str:
    """The CSV text (UTF-8, header row) the download serves."""
    return csv_text(labels_frame(store, history))


def write_labels(store: Store, out: str | Path, history: bool = False) -> int:
    """Write labels.csv to ``out``; returns the number of rows."""
    df = labels_frame(store, history)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(df, out)
    return len(df)
