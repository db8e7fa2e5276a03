"""Reviewer decisions as ``labels.csv`` (docs/contract.md section 4 plus decision, reviewer, decided_at).

Why this layout: data scientists feed it straight back to ``claimguard evaluate`` and
training as labels. One row per decided alert (its latest decision) by default;
``history=True`` gives every decision ever recorded.
"""

from __future__ import annotations

from pathlib import Path

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
