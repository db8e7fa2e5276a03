"""scenario_ap: each scenario's AP against normal entities only."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from claimguard.evaluation.metrics import scenario_ap


def _labels(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["entity_type", "entity_id", "scenario", "variant"])


def test_other_scenarios_are_not_negatives() -> None:
    # a1/a2 (scenario A) outrank normals; b1 (scenario B) sits between a1 and a2
    scores = pd.Series({"a1": 10.0, "b1": 9.5, "a2": 9.0, "n1": 3.0, "n2": 2.0, "n3": 1.0})
    labels = _labels(
        [
            ("card", "a1", "A", "strong"),
            ("card", "a2", "A", "strong"),
            ("card", "b1", "B", "subtle"),
        ]
    )
    ap = scenario_ap(scores, labels, "card")
    assert ap == {"A:strong": 1.0, "B:subtle": 1.0}  # with B as negative A would be < 1


def test_normal_above_a_positive_lowers_ap_and_variants_are_separate() -> None:
    scores = pd.Series({"s1": 5.0, "n1": 4.0, "t1": 3.0, "s2": 2.0, "n2": 1.0})
    labels = _labels(
        [
            ("card", "s1", "A", "strong"),
            ("card", "s2", "A", "strong"),
            ("card", "t1", "A", "subtle"),
            ("facility", "n1", "X", "strong"),  # another entity type: n1 is a normal card
        ]
    )
    ap = scenario_ap(scores, labels, "card")
    # strong: s1 (1/1), then n1, s2 at rank 3 among {s1, n1, s2, n2}: (1 + 2/3) / 2
    assert ap["A:strong"] == pytest.approx((1 + 2 / 3) / 2)
    # subtle: among {n1, t1, n2} (strong cards left out) n1 is above t1: precision 1/2
    assert ap["A:subtle"] == pytest.approx(0.5)
    assert set(ap) == {"A:strong", "A:subtle"}


def test_without_variant_column_keys_are_scenarios() -> None:
    scores = pd.Series({"x": 2.0, "y": 1.0, "z": float("nan")})
    labels = pd.DataFrame({"entity_type": ["card"], "entity_id": ["z"], "scenario": ["C"]})
    ap = scenario_ap(scores, labels, "card")
    assert list(ap) == ["C"]
    assert ap["C"] == pytest.approx(1 / 3)  # a missing score ranks last
    assert scenario_ap(scores, labels.iloc[:0], "card") == {}
    assert math.isnan(scenario_ap(pd.Series({"x": 1.0}), labels, "card")["C"])
