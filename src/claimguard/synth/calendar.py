"""The generated period's days: weekday and holiday rhythm of outpatient demand.

Outpatient departments in Vietnam are busiest on Monday mornings, thin on
Saturdays, nearly closed on Sundays and public holidays (emergencies only);
Tet closes them for about a week. Day weights here drive when visits happen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Fixed-date public holidays (month, day) and the Tet (lunar new year) weeks by year.
_FIXED = ((1, 1), (4, 30), (5, 1), (9, 2), (9, 3))
_TET = {
    2022: ("2022-01-29", "2022-02-06"),
    2023: ("2023-01-20", "2023-01-26"),
    2024: ("2024-02-08", "2024-02-14"),
    2025: ("2025-01-25", "2025-02-02"),
    2026: ("2026-02-14", "2026-02-22"),
    2027: ("2027-02-05", "2027-02-11"),
}
# Relative outpatient demand Monday..Sunday.
_WEEKDAY_WEIGHT = np.array([1.25, 1.05, 1.0, 1.0, 0.95, 0.5, 0.12])
_HOLIDAY_WEIGHT = 0.1


@dataclass(frozen=True)
class Calendar:
    """Days 0..n_days-1 from ``start``; weights for outpatient demand; working-day shifts."""

    start: pd.Timestamp
    n_days: int
    weekday: np.ndarray  # 0 = Monday
    holiday: np.ndarray  # bool
    weight: np.ndarray  # outpatient demand weight (sums to 1)
    next_working: np.ndarray  # day -> same day or the next working day (may be >= n_days)

    @property
    def end(self) -> pd.Timestamp:
        """Last day of the period (inclusive)."""
        return self.start + pd.Timedelta(days=self.n_days - 1)


def make_calendar(start: str | pd.Timestamp, months: int) -> Calendar:
    """Calendar for ``months`` whole months from ``start``."""
    t0 = pd.Timestamp(start).normalize()
    t1 = t0 + pd.DateOffset(months=months)
    days = pd.date_range(t0, t1 - pd.Timedelta(days=1), freq="D")
    n = len(days)
    # Pad 40 days so that shifting near the end stays in range.
    ext = pd.date_range(t0, periods=n + 40, freq="D")
    weekday = np.asarray(ext.weekday, dtype=np.int8)
    md = list(zip(ext.month, ext.day, strict=True))
    holiday = np.array([x in _FIXED for x in md], dtype=bool)
    for a, b in _TET.values():
        holiday |= np.asarray((ext >= pd.Timestamp(a)) & (ext <= pd.Timestamp(b)))
    working = (~holiday) & (weekday < 6)
    # next working day: reverse cumulative minimum of working-day indices
    idx = np.where(working, np.arange(len(ext)), len(ext) + 10)
    next_working = np.minimum.accumulate(idx[::-1])[::-1]
    w = _WEEKDAY_WEIGHT[weekday[:n]] * np.where(holiday[:n], _HOLIDAY_WEIGHT, 1.0)
    return Calendar(
        start=t0,
        n_days=n,
        weekday=weekday,
        holiday=holiday,
        weight=w / w.sum(),
        next_working=next_working.astype(np.int32),
    )
