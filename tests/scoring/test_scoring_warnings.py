"""Early warnings: the CUSUM on mix-adjusted ratios, confirmed by same-month peers."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def test_pooled_cusum_adds_small_rises_of_one_signal_and_leaves_other_signals_alone() -> None:
    from claimguard.scoring.warnings import pooled_cusum

    series = pd.MultiIndex.from_tuples(
        [
            ("facility", "F1", "tests_per_visit"),
            ("facility", "F1", "drugs_per_visit"),
            ("facility", "F1", "cost_per_visit"),  # a signal of its own: not pooled
            ("facility", "F2", "tests_per_visit"),  # another facility: its own group
        ],
        names=["level", "facility", "indicator"],
    )
    dev = np.array([[1.2, 1.2], [1.2, 1.2], [3.0, 3.0], [-1.0, np.nan]])
    settings = MonitorSettings(cusum_k=0.5, cusum_h=2.0)
    pooled = pooled_cusum(dev, series, settings)
    # alone each rise adds 0.7 a month (1.4 after two); pooled: 2 * 1.2 / sqrt(2) - 0.5 a month
    step = 2 * 1.2 / np.sqrt(2) - 0.5
    np.testing.assert_allclose(pooled[0], [step, 2 * step])
    np.testing.assert_allclose(pooled[1], pooled[0])
    assert pooled[0, 1] > settings.cusum_h > 2 * (1.2 - 0.5)
    assert (pooled[2] == 0).all() and (pooled[3] == 0).all()
