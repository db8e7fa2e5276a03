"""Split a dataset folder into one folder per admission month (a fund's monthly extracts).

Why: the monitoring job reads a year as a folder of monthly extracts, one at a time
(bounded memory). Tests and benchmarks need such a layout from generated data; a fund
that received one large file can use it too. Reads with pyarrow, one table at a time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# tables copied whole into every extract (reference data, not events)
REFERENCE_TABLES = ("cards", "facilities")


def split_by_month(folder: Path, root: Path) -> list[Path]:
    """Write ``folder``'s claims (and their lines) as ``root/YYYY-MM/`` dataset folders.

    Claims go to the month of their admission; lines follow their claim; the card and
    facility tables are copied into each folder. Returns the folders in month order.
    """
    claims = pq.read_table(folder / "claims.parquet")
    month = pc.strftime(claims["admit_time"], format="%Y-%m")
    months = sorted(m for m in pc.unique(month).to_pylist() if m)
    lines_path = folder / "claim_lines.parquet"
    lines = pq.read_table(lines_path) if lines_path.is_file() else None
    out: list[Path] = []
    for m in months:
        target = root / m
        target.mkdir(parents=True, exist_ok=True)
        part = claims.filter(pc.equal(month, pa.scalar(m)))
        pq.write_table(part, target / "claims.parquet")
        if lines is not None:
            keep = pc.is_in(lines["claim_id"], value_set=part["claim_id"])
            pq.write_table(lines.filter(keep), target / "claim_lines.parquet")
        for name in REFERENCE_TABLES:
            src = folder / f"{name}.parquet"
            if src.is_file():
                shutil.copy(src, target / src.name)
        out.append(target)
    return out
