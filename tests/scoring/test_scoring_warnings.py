"""Early warnings: the CUSUM on mix-adjusted ratios, confirmed by same-month peers."""

from __future__ import annotations

import numpy as np

from claimguard.features.monthly import tidy_indicators
from claimguard.schema import SIGNALS
from claimguard.scoring.warnings import WARNING_COLUMNS, cusum, find_warnings
from claimguard.settings import MonitorSettings
from tests.scoring.monitor_frames import ALWAYS_HIGH, DRIFTING, MONTHS, START, monthly_sums


def _warnings(**kw: bool) -> tuple:
    sums, fac = monthly_sums(**kw)
    return find_warnings(tidy_indicators(sums, fac), MonitorSettings())


def test_a_drifting_facility_is_warned_within_two_months_with_a_plain_sentence() -> None:
    w = _warnings()
    assert list(w.columns) == list(WARNING_COLUMNS)
    mine = w[(w["level"] == "facility") & (w["facility"] == DRIFTING)]
    assert not mine.empty
    assert mine["month"].min() <= MONTHS[START + 1]
    assert mine["month"].min() >= MONTHS[START]
    first = mine.sort_values("month").iloc[0]
    assert first["signal"] == "admission_pattern" and first["signal"] in SIGNALS
    assert first["sentence"].startswith("admissions per visit (mix-adjusted) up ")
    assert "same-tier peers" in first["sentence"]
    assert first["severity"] in {"low", "medium", "high"}
    assert "CUSUM" in first["method"]


def test_no_warning_for_steady_facilities_even_when_always_high() -> None:
    w = _warnings()
    fac = w[w["level"] == "facility"]
    assert set(fac["facility"]) == {DRIFTING}
    assert ALWAYS_HIGH not in set(fac["facility"])


def test_a_rise_shared_by_every_peer_is_not_a_warning() -> None:
    w = _warnings(shared_rise=True)
    fac = w[w["level"] == "facility"]
    # the drifting facility still stands out; nobody else does although all rose
    assert set(fac["facility"]) <= {DRIFTING}


def test_cusum_freezes_its_reference_while_accumulating() -> None:
    x = np.log(np.array([[1.0, 1.0, 1.0, 1.0, 1.2, 1.4, 1.6, 1.8]]))
    s, ref, run, start, _dev = cusum(x, MonitorSettings(min_history_months=3, spread_floor=0.05))
    assert s[0, :4].max() == 0
    assert (np.diff(s[0, 4:]) > 0).all()  # a growing drift never becomes its own reference
    np.testing.assert_allclose(ref[0, 4:], 0.0)
    assert run[0, -1] == 4 and start[0, -1] == 4
