"""Reading the labels an evaluation is judged on: a generated dataset's ``labels.csv`` (and
``traps.csv`` beside it) or a triage export of reviewer decisions (docs/contract.md
section 4)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from claimguard.errors import InputFileError
from claimguard.evaluation.scenarios import normalise
from claimguard.io.csvsafe import restore
from claimguard.schema import LABEL_COLUMNS, decision_labels


def read_labels(path: Path) -> tuple[pd.DataFrame, str]:
    """Labels as (frame with entity_type, entity_id, scenario, label 1/0), kind.

    kind = "planted" for labels.csv (listed = positive, the rest normal) or
    "reviewer" for decision files (confirmed = 1, dismissed = 0, other decisions -1: they
    count in the queue-by-decision table only).
    """
    if not path.exists():
        raise InputFileError(
            "The labels file does not exist",
            where=str(path),
            fix="pass --labels with labels.csv of a generated dataset or a triage export",
        )
    try:
        # a triage export's ids are neutralised against spreadsheet formulas: undone here
        raw = restore(pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""]))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(
            f"The labels file cannot be read as CSV ({exc})",
            where=str(path),
            fix="export labels as UTF-8 CSV with a header row",
        ) from exc
    missing = [c for c in ("entity_type", "entity_id") if c not in raw.columns]
    if missing:
        raise InputFileError(
            f"The labels file lacks column(s) {', '.join(missing)}",
            where=str(path),
            fix=f"labels need the columns {', '.join(LABEL_COLUMNS)} (docs/contract.md section 4)",
        )
    out = raw.copy()
    out["entity_type"] = out["entity_type"].str.strip().str.lower()
    out["entity_id"] = out["entity_id"].str.strip()
    if "scenario" not in out.columns:
        out["scenario"] = pd.Series(pd.NA, index=out.index, dtype="string")
    if "decision" in out.columns:
        decision = out["decision"].fillna("").map(normalise)
        out["label"] = decision_labels(decision)
        out["decision"] = decision
        if "decided_at" in out.columns:  # the latest decision per entity counts
            out = out.sort_values("decided_at", kind="stable")
        out = out.drop_duplicates(["entity_type", "entity_id"], keep="last")
        kind = "reviewer"
    else:
        out["label"] = 1
        out = out.drop_duplicates(["entity_type", "entity_id"])
        kind = "planted"
    return out.reset_index(drop=True), kind


def read_traps(labels_path: Path) -> pd.DataFrame | None:
    """``traps.csv`` next to the labels, when present."""
    path = labels_path.with_name("traps.csv")
    if not path.exists():
        return None
    traps = restore(pd.read_csv(path, dtype="string"))  # written with formulas neutralised
    if not {"entity_type", "entity_id"} <= set(traps.columns):
        return None
    return traps
