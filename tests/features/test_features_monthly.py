"""Monthly indicators: facility, province and fund rows, mix-adjusted ratios, peer z."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claimguard.features.monthly import INDICATORS, TIDY_COLUMNS, tidy_indicators
from claimguard.schema import SIGNALS
from tests.scoring.monitor_frames import DRIFTING, MONTHS, START, monthly_sums


def test_every_indicator_names_a_known_signal() -> None:
    assert {i.signal for i in INDICATORS} <= set(SIGNALS)


def test_tidy_rows_sum_up_to_provinces_and_the_fund() -> None:
    sums, fac = monthly_sums()
    t = tidy_indicators(sums, fac)
    assert list(t.columns) == list(TIDY_COLUMNS)
    assert set(t["level"]) == {"facility", "province", "fund"}
    fund = t[(t["level"] == "fund") & (t["month"] == MONTHS[0])].iloc[0]
    month = sums[sums["month"] == MONTHS[0]]
    assert fund["value"] == month["num"].sum() / month["den"].sum()
    assert fund["n_claims"] == month["n_claims"].sum()
    prov = t[t["level"] == "province"]
    assert sorted(prov["facility"].unique()) == ["01", "02"]
    f = t[(t["level"] == "facility") & (t["facility"] == DRIFTING)].set_index("month")
    np.testing.assert_allclose(f["ratio"], f["value"] / f["expected"])


def test_the_drifting_facility_departs_from_its_peers_once_it_drifts() -> None:
    sums, fac = monthly_sums()
    t = tidy_indicators(sums, fac)
    f = t[(t["level"] == "facility") & (t["facility"] == DRIFTING)].set_index("month")["z"]
    assert f.iloc[START + 1 :].min() > 3
    assert f.iloc[:START].abs().max() < 3


def test_doctor_days_over_cap_expected_is_the_same_tier_median() -> None:
    sums = pd.DataFrame(
        {
            "facility": ["A", "B", "C"],
            "month": "2024-01",
            "indicator": "doctor_days_over_cap",
            "num": [0.0, 2.0, 10.0],
            "den": 1.0,
            "expected_num": np.nan,
            "n_claims": 500,
        }
    )
    fac = pd.DataFrame({"facility_id": ["A", "B", "C"], "province": "01", "tier": "district"})
    t = tidy_indicators(sums, fac)
    f = t[t["level"] == "facility"].set_index("facility")
    assert (f["expected"] == 2.0).all()
    assert f.loc["C", "ratio"] == (10 + 1) / (2 + 1)
