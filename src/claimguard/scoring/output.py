"""Atomic output folders: everything is written to a temporary sibling, then renamed.

Why: a nightly job that crashes half way must never leave a folder that looks like a
finished run (a downstream loader would pick up a queue with half its alerts). The
new outputs appear all at once; files in an existing folder that are not ours
(e.g. notes a user left there) are carried over.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from claimguard.errors import UserError
from claimguard.schema import QUARANTINE_COLUMNS

log = logging.getLogger(__name__)


def _check_writable(parent: Path, out_dir: Path) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"Cannot create the output folder's parent ({exc.strerror or exc})",
            where=str(parent),
            fix="choose an --out folder in a location you can write to",
        ) from exc
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(
            "The output path exists and is a file, not a folder",
            where=str(out_dir),
            fix="pass --out with a folder path (it is created if missing)",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(
            "The output folder's parent is not writable",
            where=str(parent),
            fix="choose an --out folder you can write to, or fix its permissions",
        )


@contextmanager
def atomic_folder(out_dir: str | Path, owned: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out_dir`` in one rename.

    ``owned`` names the files this writer produces: in an existing ``out_dir`` those are
    replaced, anything else is moved into the new folder. On error the temporary folder is
    removed and ``out_dir`` is left exactly as it was.
    """
    out = Path(out_dir).absolute()
    parent = out.parent
    _check_writable(parent, out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as exc:
        raise UserError(
            f"Cannot write into the output folder's parent ({exc.strerror or exc})",
            where=str(parent),
            fix="choose an --out folder you can write to, or fix its permissions",
        ) from exc
    try:
        yield tmp
        owned_names = set(owned)
        os.chmod(tmp, 0o755)
        if not out.exists():
            os.replace(tmp, out)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
        old.rmdir()
        os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The new outputs are in place; carry over what was not ours, then drop the old copy.
    for entry in old.iterdir():
        if entry.name not in owned_names and not (out / entry.name).exists():
            shutil.move(str(entry), str(out / entry.name))
    shutil.rmtree(old, ignore_errors=True)


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet without the pandas index (so every reader sees the same columns)."""
    df.to_parquet(path, index=False)


def write_json(obj: Any, path: Path) -> None:
    """Indented JSON; numpy scalars and timestamps become plain values."""
    path.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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
    "run.json",
    "report",  # `claimguard evaluate`'s default folder: stale once the scores are replaced
)


def write_score_folder(result: Any, out_dir: str | Path) -> Path:
    """Write a ScoreResult's files into ``out_dir`` atomically; returns the folder."""
    out = Path(out_dir)
    with atomic_folder(out, SCORE_FILES) as tmp:
        write_parquet(result.scores, tmp / "scores.parquet")
        write_parquet(result.alerts, tmp / "alerts.parquet")
        result.alerts.to_csv(tmp / "alerts.csv", index=False, date_format="%Y-%m-%d")
        write_parquet(_quarantine_frame(result.quarantine), tmp / "quarantine.parquet")
        for name, frame in result.context.items():
            if frame is not None:
                write_parquet(frame, tmp / f"{name}.parquet")
        run = dict(result.run)
        run["files"] = sorted(p.name for p in tmp.iterdir()) + ["run.json"]
        write_json(run, tmp / "run.json")
    return out


def _quarantine_frame(quarantine: pd.DataFrame) -> pd.DataFrame:
    """SPEC quarantine columns with parquet-safe types (text, 1-based row numbers)."""
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
