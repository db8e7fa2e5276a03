"""Writing a validated dataset as canonical Parquet, plus the quarantine and a summary.

Why: ``claimguard convert`` turns slow inputs (CSV, folders of XML) into fast
columnar files once; every later run reads those at Parquet speed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pandas as pd

from claimguard.io.csvsafe import write_csv
from claimguard.io.validation import empty_frame
from claimguard.schema import QUARANTINE_COLUMNS
from claimguard.tables import Dataset

TABLE_NAMES = ("claims", "claim_lines", "facilities", "cards")

# Every file `claimguard convert` writes: replaced as one set, never mixed with an older run.
CONVERT_FILES = (
    *(f"{name}.parquet" for name in TABLE_NAMES),
    "labels.csv",
    "quarantine.parquet",
    "summary.json",
)


def write_quarantine(df: pd.DataFrame, path: Path) -> None:
    """Write the quarantine with exactly the quarantine columns of docs/contract.md section 2 (an empty file when no problems)."""
    q = df if len(df) else empty_frame()
    q = q.reindex(columns=list(QUARANTINE_COLUMNS))
    path.parent.mkdir(parents=True, exist_ok=True)
    q.to_parquet(path, index=False)


def summary(ds: Dataset) -> dict[str, Any]:
    """Rows read / valid / quarantined per table, top reasons, and input hashes."""
    q = ds.quarantine
    reasons: list[dict[str, Any]] = []
    if len(q):
        top = (
            q.groupby(["table", "column", "reason", "action"], dropna=False, observed=True)
            .size()
            .sort_values(ascending=False)
            .head(20)
        )
        for key, n in top.items():
            t, c, r, a = cast(tuple[str, Any, str, str], key)
            reasons.append(
                {
                    "table": t,
                    "column": None if pd.isna(c) else c,
                    "reason": r,
                    "action": a,
                    "count": int(n),
                }
            )
    invariant = all(c["in"] == c["valid"] + c["quarantined"] for c in ds.counts.values())
    return {
        "tables": ds.counts,
        "invariant_rows_in_equals_valid_plus_quarantined": invariant,
        "quarantine_rows": int(len(q)),
        "nulled_fields": int((q["action"] == "nulled").sum()) if len(q) else 0,
        "normalised_card_ids": int((q["action"] == "normalised").sum()) if len(q) else 0,
        "top_reasons": reasons,
        "sources": ds.sources,
    }


def write_dataset(ds: Dataset, out_dir: Path) -> dict[str, Any]:
    """Write the canonical tables (+ labels.csv when present) and quarantine.parquet."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TABLE_NAMES:
        df = ds.table(name)
        if df is not None:
            df.to_parquet(out_dir / f"{name}.parquet", index=False)
    if ds.labels is not None:
        write_csv(ds.labels, out_dir / "labels.csv")  # formulas neutralised, read back exactly
    write_quarantine(ds.quarantine, out_dir / "quarantine.parquet")
    return summary(ds)


def write_dataset_folder(ds: Dataset, out_dir: str | Path) -> dict[str, Any]:
    """Write everything ``convert`` produces (tables, quarantine, summary.json) atomically.

    The files go into a temporary folder beside ``out_dir`` that replaces it only once all
    of them are complete, so a crash or a full disk never leaves a mix of old and new files.
    """
    from claimguard.io.atomic import atomic_folder

    with atomic_folder(out_dir, CONVERT_FILES) as tmp:
        s = write_dataset(ds, tmp)
        text = json.dumps(s, indent=2, ensure_ascii=False) + "\n"
        (tmp / "summary.json").write_text(text, encoding="utf-8")
    return s
