"""The monitoring job: months of validated claims + a model bundle -> indicators and warnings.

Why one function: the command, the benchmark and the tests run the same steps. Months
are prepared one at a time (claims, their lines, the month's facility sums), so memory is
one month's arrays plus a small per-facility table, whatever the number of months; a
folder of monthly extracts (:func:`monitor_folders`) is read one extract at a time, so a
year never sits in memory either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
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


def _dataset_sums(
    ds: Dataset, bundle: Bundle, settings: Settings, keep: set[str] | None = None
) -> tuple[list[pd.DataFrame], dict[str, int]]:
    """Month sums of every month in ``ds`` (those in ``keep`` if given) and claims per month.

    One month's claims, lines and prepared arrays at a time.
    """
    claims = ds.claims
    cm = claim_months(claims)
    present = sorted(m for m in pd.unique(cm) if m)
    use = [m for m in present if keep is None or m in keep]
    lines = ds.claim_lines
    line_claim = positions(lines["claim_id"], claims["claim_id"]) if lines is not None else None
    line_month = cm[np.maximum(line_claim, 0)] if line_claim is not None else None
    sums: list[pd.DataFrame] = []
    counts: dict[str, int] = {}
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
        counts[m] = len(rows)
        del p, c, lm, lrows, local
        release_memory()
        log.info("Month %s: %d claims", m, len(rows))
    return sums, counts


def _no_claims() -> UserError:
    return UserError(
        "There are no valid claims to monitor",
        where="claims table",
        fix="check the quarantine (every row was rejected) or the input folder",
    )


def _result(
    sums: list[pd.DataFrame],
    counts: dict[str, int],
    facilities: pd.DataFrame | None,
    bundle: Bundle,
    settings: Settings,
    t0: float,
    extra: dict[str, Any] | None = None,
) -> MonitorResult:
    """Indicators and warnings from month sums (added up where two inputs hold one month)."""
    s = pd.concat(sums, ignore_index=True)
    if len(sums) > 1 and s.duplicated(["facility", "month", "indicator"]).any():
        # a late claim of a month delivered in a later extract: sums add up (a card seen in
        # both extracts counts twice in cards per day, the one non-additive indicator)
        s = s.groupby(["facility", "month", "indicator"], as_index=False, sort=False).sum()
    indicators = tidy_indicators(s, facilities)
    warns = find_warnings(indicators, settings.monitor)
    months = sorted(counts)
    run = {
        "claimguard_version": __version__,
        "model_version": bundle.model_version,
        "months": months,
        "claims": int(sum(counts.values())),
        "facilities": int(indicators.loc[indicators["level"] == "facility", "facility"].nunique()),
        "indicator_rows": len(indicators),
        "warnings": len(warns),
        "method": METHOD,
        "settings": settings.monitor.model_dump(),
        **(extra or {}),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return MonitorResult(indicators, warns, run)


def monitor_dataset(
    ds: Dataset, bundle: Bundle, settings: Settings, months: int | None = None
) -> MonitorResult:
    """Indicators of every month in ``ds`` (the last ``months`` if given) and their warnings."""
    t0 = time.perf_counter()
    if ds.claims.empty:
        raise _no_claims()
    present = sorted(m for m in pd.unique(claim_months(ds.claims)) if m)
    keep = set(present[-months:] if months else present)
    sums, counts = _dataset_sums(ds, bundle, settings, keep)
    return _result(sums, counts, ds.facilities, bundle, settings, t0)


def monitor_folders(
    folders: Sequence[Path],
    bundle: Bundle,
    settings: Settings,
    load: Callable[[Path], Dataset],
    months: int | None = None,
) -> MonitorResult:
    """The same over one dataset folder per extract (e.g. a month each), read one at a time.

    Memory is one extract plus the month sums (a few rows per facility and month), however
    many extracts there are. With ``months`` only the last N months are reported.
    """
    t0 = time.perf_counter()
    sums: list[pd.DataFrame] = []
    counts: dict[str, int] = {}
    facilities: list[pd.DataFrame] = []
    for folder in folders:
        ds = load(folder)
        part, n = _dataset_sums(ds, bundle, settings)
        sums += part
        for m, k in n.items():
            counts[m] = counts.get(m, 0) + k
        if ds.facilities is not None:
            facilities.append(ds.facilities)
        del ds
        release_memory()
        log.info("Extract %s: months %s", folder.name, ", ".join(n) or "none")
    if not counts:
        raise _no_claims()
    if months:
        keep = set(sorted(counts)[-months:])
        sums = [x[x["month"].isin(keep)] for x in sums]
        counts = {m: k for m, k in counts.items() if m in keep}
    fac = (
        pd.concat(facilities, ignore_index=True).drop_duplicates("facility_id", keep="last")
        if facilities
        else None
    )
    extra = {"extracts": [str(f) for f in folders]}
    return _result(sums, counts, fac, bundle, settings, t0, extra)


MONITOR_FILES = ("indicators.parquet", "warnings.parquet", "warnings.csv", "monitor.json")


def write_monitor_folder(result: MonitorResult, out_dir: str | Path) -> Path:
    """Write indicators, warnings and monitor.json into ``out_dir`` atomically."""
    from claimguard.io.atomic import atomic_folder, write_json, write_parquet

    out = Path(out_dir)
    with atomic_folder(out, MONITOR_FILES) as tmp:
        write_parquet(result.indicators, tmp / "indicators.parquet")
        write_parquet(result.warnings, tmp / "warnings.parquet")
        write_csv(result.warnings, tmp / "warnings.csv")  # formulas neutralised
        write_json(result.run, tmp / "monitor.json")
    return out
