"""Count indicators: Poisson-calibrated CUSUM and funnel peer test for small facilities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claimguard.features.monthly import extra_poisson_variance, tidy_indicators
from claimguard.scoring.warnings import find_warnings
from claimguard.settings import MonitorSettings
from tests.scoring.monitor_frames import MONTHS

SMALL = "S000"  # 3 expected "rare" admissions a month, tripling from month START
START = 6


def _small_world(drift: bool, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """40 same-tier facilities with about 3 expected events a month, pure Poisson."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(40):
        fid = f"S{f:03d}"
        for i, m in enumerate(MONTHS):
            exp = 3.0
            mult = 3.0 + 0.5 * (i - START) if drift and fid == SMALL and i >= START else 1.0
            num = float(rng.poisson(exp * mult))
            rows.append((fid, m, "rare_admission_rate", num, 150.0, exp, 300))
    sums = pd.DataFrame(
        rows, columns=["facility", "month", "indicator", "num", "den", "expected_num", "n_claims"]
    )
    fac = pd.DataFrame(
        {"facility_id": [f"S{f:03d}" for f in range(40)], "province": "01", "tier": "district"}
    )
    return sums, fac


def test_extra_poisson_variance_is_zero_for_pure_poisson_and_found_when_there_is_more() -> None:
    rng = np.random.default_rng(1)
    e = np.full(4000, 20.0)
    o = rng.poisson(e)
    dev = np.log((o + 0.5) / (e + 0.5))
    var = 1.0 / (e + 0.5)
    group = np.zeros(4000, dtype=object)
    assert extra_poisson_variance(dev, var, group)[0] < 0.01
    wide = dev + rng.normal(0.0, 0.3, 4000)
    tau = np.sqrt(extra_poisson_variance(wide, var, group)[0])
    assert 0.22 < tau < 0.38


def test_count_peer_z_is_finite_for_months_without_an_event() -> None:
    sums, fac = _small_world(drift=False)
    sums.loc[0, "num"] = 0.0
    t = tidy_indicators(sums, fac)
    f = t[t["level"] == "facility"]
    assert np.isfinite(f["z"]).all()
    # no event where 3 were expected is chance, not the -9 of a clipped log ratio
    first = f[(f["facility"] == "S000") & (f["month"] == MONTHS[0])]["z"].iloc[0]
    assert -4 < first < 0


def test_a_small_facility_whose_rare_admissions_triple_is_warned_within_two_months() -> None:
    sums, fac = _small_world(drift=True)
    w = find_warnings(tidy_indicators(sums, fac), MonitorSettings())
    mine = w[(w["level"] == "facility") & (w["facility"] == SMALL)]
    assert not mine.empty
    assert MONTHS[START] <= mine["month"].min() <= MONTHS[START + 2]
    assert mine.iloc[0]["signal"] == "admission_pattern"


def test_steady_small_facilities_are_not_warned() -> None:
    warned = 0
    for seed in range(5):
        sums, fac = _small_world(drift=False, seed=seed)
        w = find_warnings(tidy_indicators(sums, fac), MonitorSettings())
        warned += int((w["level"] == "facility").sum())
    # 5 x 40 facilities x 9 testable months: well under 1 in 100 facility-months
    assert warned <= 3
