"""Small hand-made monthly sums for the early-warning tests: 30 same-tier facilities over
12 months, admission counts drawn around the peer expectation, one facility drifting."""

from __future__ import annotations

import numpy as np
import pandas as pd

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
DRIFTING = "F000"
ALWAYS_HIGH = "F001"
START = 6  # index of the first drifted month (2024-07)


def monthly_sums(seed: int = 0, shared_rise: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(month sums as claimguard.features.monthly.month_sums gives them, facilities)."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(30):
        fid = f"F{f:03d}"
        for i, m in enumerate(MONTHS):
            den = 400.0
            exp = 0.08 * den
            mult = 1.0
            if fid == DRIFTING and i >= START:
                mult = 1.5 + 0.2 * (i - START)
            if fid == ALWAYS_HIGH:
                mult = 2.0
            if shared_rise and i >= START:
                mult *= 1.6
            num = float(rng.poisson(exp * mult))
            rows.append((fid, m, "admission_rate", num, den, exp, 400))
    sums = pd.DataFrame(
        rows, columns=["facility", "month", "indicator", "num", "den", "expected_num", "n_claims"]
    )
    facilities = pd.DataFrame(
        {
            "facility_id": [f"F{f:03d}" for f in range(30)],
            "province": ["01" if f < 15 else "02" for f in range(30)],
            "tier": "district",
        }
    )
    return sums, facilities
