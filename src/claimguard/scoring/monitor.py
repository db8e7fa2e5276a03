"""The monitoring job: months of validated claims + a model bundle -> indicators and warnings.

Why one function: the command, the benchmark and the tests run the same steps. Months
are prepared one at a time (claims, their lines, the month's facility sums), so memory is
one month's arrays plus a small per-facility table, whatever the number of months.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from claimguard import __version__
from claimguard.errors import UserError
from claimguard.features.lookup import positions
from claimguard.features.monthly import month_sums, tidy_indicators
from claimguard.features.prepare import prepare
from claimguard.io.csvsafe import write_csv
from claimguard.memory import release_memory
from claimguard.model.bundle import Bundle
from claimguard.scoring.warnings import METHOD, find_warnings
from claimguard.settings import Settings
from claimguard.tables import Dataset

log = logging.getLogger(__name__)


@dataclass
class MonitorResult:
    """What `claimguard monitor` writes."""

    indicators: pd.DataFrame
    warnings: pd.DataFrame
    run: dict[str, Any] = field(default_factory=dict)


def claim_months(claims: pd.DataFrame) -> np.ndarray:
    """'YYYY-MM' of each claim's admission (vectorised; '' when unknown)."""
    t = pd.to_datetime(claims["admit_time"]).to_numpy().astype("datetime64[M]")
    out = np.datetime_as_string(t, unit="M").astype(object)
    return np.where(np.isnat(t), "", out)


def monitor_dataset(
    ds: Dataset, bundle: Bundle, settings: Settings, months: int | None = None
) -> MonitorResult:
    """Indicators of every month in ``ds`` (the last ``months`` if given) and their warnings."""
    t0 = time.perf_counter()
    claims = ds.claims
    if claims.empty:
        raise UserError(
            "There are no valid claims to monitor",
            where="claims table",
            fix="check the quarantine (every row was rejected) or the input folder",
        )
    cm = claim_months(claims)
    all_months = sorted(m for m in pd.unique(cm) if m)
    use = all_months[-months:] if months else all_months
    lines = ds.claim_lines
    line_claim = positions(lines["claim_id"], claims["claim_id"]) if lines is not None else None
    line_month = cm[np.maximum(line_claim, 0)] if line_claim is not None else None
    sums: list[pd.DataFrame] = []
    for m in use:
        rows = np.flatnonzero(cm == m)
        local = np.full(len(claims), -1, dtype=np.int64)
        local[rows] = np.arange(len(rows))
        c = claims.iloc[rows]
        lm: pd.DataFrame | None = None
        lrows: np.ndarray | None = None
        if lines is not None and line_claim is not None and line_month is not None:
            pick = np.flatnonzero((line_month == m) & (line_claim >= 0))
            lm = lines.iloc[pick]
            lrows = local[line_claim[pick]]
        first = pd.Timestamp(f"{m}-01")
        period = (first, first + pd.offsets.MonthEnd(0))
        p = prepare(c, lm, ds.cards, ds.facilities, period=period, line_rows=lrows)
        sums.append(
            month_sums(
                p,
                bundle.peers,
                m,
                settings.features.near_zero_treatment_vnd,
                settings.features.doctor_daily_cap,
            )
        )
        del p, c, lm, lrows, local
        release_memory()
        log.info("Month %s: %d claims", m, len(rows))
    indicators = tidy_indicators(pd.concat(sums, ignore_index=True), ds.facilities)
    warns = find_warnings(indicators, settings.monitor)
    run = {
        "claimguard_version": __version__,
        "model_version": bundle.model_version,
        "months": list(use),
        "claims": int(np.isin(cm, use).sum()),
        "facilities": int(indicators.loc[indicators["level"] == "facility", "facility"].nunique()),
        "indicator_rows": len(indicators),
        "warnings": len(warns),
        "method": METHOD,
        "settings": settings.monitor.model_dump(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return MonitorResult(indicators, warns, run)


MONITOR_FILES = ("indicators.parquet", "warnings.parquet", "warnings.csv", "monitor.json")


def write_monitor_folder(result: MonitorResult, out_dir: str | Path) -> Path:
    """Write indicators, warnings and monitor.json into ``out_dir`` atomically."""
    from claimguard.scoring.output import atomic_folder, write_json, write_parquet

    out = Path(out_dir)
    with atomic_folder(out, MONITOR_FILES) as tmp:
        write_parquet(result.indicators, tmp / "indicators.parquet")
        write_parquet(result.warnings, tmp / "warnings.parquet")
        write_csv(result.warnings, tmp / "warnings.csv")  # formulas neutralised
        write_json(result.run, tmp / "monitor.json")
    return out
