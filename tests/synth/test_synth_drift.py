"""Facility drift in multi-month data: labelled with its start month, absent in short data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from claimguard.synth.drift import DRIFT_MIN_MONTHS
from claimguard.synth.generate import generate


@pytest.mark.slow
def test_twelve_months_carry_labelled_drift_that_grows() -> None:
    d = generate(240_000, seed=1, months=12)
    drift = d.labels[d.labels["variant"] == "drift"]
    assert len(drift) >= 1
    assert set(drift["scenario"]) <= {"overbilling", "admission_inflation"}
    months = pd.to_datetime(d.claims["admit_time"]).dt.strftime("%Y-%m")
    assert drift["start_month"].isin(set(months)).all()
    # drifting facilities are not also planted with another scenario
    other = d.labels[(d.labels["entity_type"] == "facility") & (d.labels["variant"] != "drift")]
    assert not set(drift["entity_id"]) & set(other["entity_id"])
    adm = drift[drift["scenario"] == "admission_inflation"]
    for fid, start in zip(adm["entity_id"], adm["start_month"], strict=True):
        c = d.claims[d.claims["facility_id"] == fid]
        inp = (c["visit_type"] == "inpatient").groupby(months[c.index] >= start).mean()
        assert inp[True] > inp[False]


def test_short_data_has_no_drift() -> None:
    d = generate(20_000, seed=3, months=DRIFT_MIN_MONTHS - 1)
    assert "start_month" not in d.labels.columns
    assert not np.any(d.labels["variant"] == "drift")
