"""Reviewer decisions read as training labels for the feedback adjustment.

Why apart from the adjustment (claimguard.model.feedback): reading a decisions file is
input handling (required columns, decision vocabulary, a clear error naming the file);
fitting weights on the labels is modelling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from claimguard.errors import InputFileError
from claimguard.schema import decision_labels

REQUIRED_COLUMNS = ("entity_type", "entity_id", "decision")


def feedback_labels(decisions: pd.DataFrame, where: str = "feedback") -> pd.DataFrame:
    """Reviewer decisions → (entity_type, entity_id, y) with y 1 = confirmed, 0 = dismissed.

    Other decisions (``needs_information``, ...) are ignored. When an entity was decided more
    than once the latest decision (by ``decided_at`` when present, else file order) counts.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in decisions.columns]
    if missing:
        raise InputFileError(
            f"The reviewer-decision file lacks column(s) {', '.join(missing)}",
            where=where,
            fix="export decisions with `claimguard triage export` (columns entity_type, "
            "entity_id, scenario, decision, reviewer, decided_at)",
        )
    df = decisions.copy()
    df["_order"] = np.arange(len(df))
    if "decided_at" in df.columns:
        df["_t"] = pd.to_datetime(df["decided_at"], errors="coerce", utc=True)
        df = df.sort_values(["_t", "_order"], na_position="first", kind="stable")
    decision = df["decision"].astype("string").str.strip().str.lower()
    label = decision_labels(decision)
    y = pd.Series(np.where(label >= 0, label, np.nan), index=df.index)
    out = pd.DataFrame(
        {
            "entity_type": df["entity_type"].astype("string").str.strip(),
            "entity_id": df["entity_id"].astype("string").str.strip(),
            "y": y,
        }
    )
    deduped = out.drop_duplicates(["entity_type", "entity_id"], keep="last")
    kept = deduped.dropna(subset=["y"]).reset_index(drop=True)
    known_type = kept["entity_type"].isin(["card", "facility"]).fillna(False).to_numpy(bool)
    # rows that cannot be applied are counted, never dropped silently (apply_feedback reports)
    not_applied = {
        "superseded_by_a_later_decision": int(len(out) - len(deduped)),
        "decision_neither_confirmed_nor_dismissed": int(deduped["y"].isna().sum()),
        "unknown_entity_type": int((~known_type).sum()),
    }
    result = kept[known_type].reset_index(drop=True)
    result.attrs["not_applied"] = not_applied
    return result


def read_feedback(path: str | Path) -> pd.DataFrame:
    """Read a reviewer-decision CSV or Parquet file and return :func:`feedback_labels`."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            "The reviewer-decision file does not exist",
            where=str(path),
            fix="give the CSV written by `claimguard triage export`",
        )
    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unreadable file
        raise InputFileError(
            f"The reviewer-decision file cannot be read ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="give a UTF-8 CSV (or Parquet) file with a header row",
        ) from exc
    return feedback_labels(df, where=str(path))
