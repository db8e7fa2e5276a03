"""The files of a `claimguard score` run, written into an atomic folder (io.atomic)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from claimguard.io.atomic import atomic_folder, write_json, write_parquet
from claimguard.io.csvsafe import write_csv
from claimguard.schema import QUARANTINE_COLUMNS

# Every file `claimguard score` may write; run.json is written last and marks completeness.
SCORE_FILES = (
    "scores.parquet",
    "alerts.parquet",
    "alerts.csv",
    "quarantine.parquet",
    "evidence_claims.parquet",
    "evidence_lines.parquet",
    "entity_info.parquet",
    "card_facilities.parquet",
    "doctor_days.parquet",
    "feature_peers.parquet",
    "scores",  # the Spark engine's partitioned scores dataset
    "run.json",
    "report",  # `claimguard evaluate`'s default folder: stale once the scores are replaced
)


def write_score_folder(
    result: Any, out_dir: str | Path, folders: dict[str, Path] | None = None
) -> Path:
    """Write a ScoreResult's files into ``out_dir`` atomically; returns the folder.

    ``folders`` (name -> a folder written elsewhere, e.g. by Spark's executors) are moved
    into the new version before it is swapped in."""
    out = Path(out_dir)
    with atomic_folder(out, SCORE_FILES) as tmp:
        for name, folder in (folders or {}).items():
            shutil.move(str(folder), str(tmp / name))
        write_parquet(result.scores, tmp / "scores.parquet")
        write_parquet(result.alerts, tmp / "alerts.parquet")
        # for people (spreadsheets): text neutralised; alerts.parquet keeps the raw values
        write_csv(result.alerts, tmp / "alerts.csv", date_format="%Y-%m-%d")
        write_parquet(_quarantine_frame(result.quarantine), tmp / "quarantine.parquet")
        for name, frame in result.context.items():
            if frame is not None:
                write_parquet(frame, tmp / f"{name}.parquet")
        run = dict(result.run)
        run["files"] = sorted(p.name for p in tmp.iterdir()) + ["run.json"]
        write_json(run, tmp / "run.json")
    return out


def _quarantine_frame(quarantine: pd.DataFrame) -> pd.DataFrame:
    """The quarantine columns (docs/contract.md section 2), parquet-safe (text, 1-based rows)."""
    out = quarantine.copy()
    for col in QUARANTINE_COLUMNS:
        if col not in out.columns:
            out[col] = pd.NA
    if "raw" in out.columns:
        out["raw"] = out["raw"].map(
            lambda v: v if v is None or isinstance(v, str) else json.dumps(v, default=str)
        )
    for col in out.columns:
        if col == "source_row":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
        elif out[col].dtype == object:
            out[col] = out[col].astype("string")
    return out
