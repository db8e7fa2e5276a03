"""Ranking metrics and naive baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from claimguard.evaluation.baselines import baseline_scores, naive_aggregates
from claimguard.evaluation.metrics import entity_metrics, flat_metrics


def _labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_type": ["card", "card", "card", "facility"],
            "entity_id": ["a", "b", "c", "a"],
            "scenario": ["post_death", "post_death", "borrowed_card", "overbilling"],
        }
    )


def test_perfect_and_reversed_rankings():
    ids = list("abcdefghij")
    perfect = pd.Series(np.linspace(1, 0, 10), index=ids)
    m = entity_metrics(
        perfect,
        _labels(),
        "card",
        [3, 5],
        traps=pd.DataFrame({"entity_type": ["card"], "entity_id": ["d"], "kind": ["dialysis"]}),
    )
    assert m["average_precision"] == 1.0 and m["roc_auc"] == 1.0
    assert m["precision@3"] == 1.0 and m["recall@3"] == 1.0 and m["precision@5"] == 0.6
    assert m["recall_by_scenario@3"] == {"post_death": 1.0, "borrowed_card": 1.0}
    assert m["trap_share@3"] == 0.0 and m["trap_share@5"] == pytest.approx(0.2)
    worst = entity_metrics(-perfect, _labels(), "card", [3])
    assert worst["average_precision"] < m["average_precision"] and worst["recall@3"] == 0.0
    flat = flat_metrics({"card": m})
    assert flat["card.recall_by_scenario_at_3.post_death"] == 1.0


def test_reviewer_decisions_count_only_decided_entities():
    scores = pd.Series([0.9, 0.8, 0.7, 0.1], index=["a", "b", "c", "d"])
    decisions = pd.DataFrame(
        {
            "entity_type": ["card"] * 3,
            "entity_id": ["a", "b", "d"],
            "scenario": ["x", "x", "x"],
            "decision": ["confirmed", "dismissed", "confirmed"],
        }
    )
    m = entity_metrics(scores, decisions, "card", [1])
    assert m["n_entities"] == 3 and m["n_positive"] == 2 and m["precision@1"] == 1.0


def test_naive_aggregates_and_baselines():
    rng = np.random.default_rng(0)
    n = 3000
    claims = pd.DataFrame(
        {
            "card_id": pd.array([f"c{i}" for i in rng.integers(0, 800, n)], dtype="string"),
            "facility_id": pd.array([f"f{i}" for i in rng.integers(0, 30, n)], dtype="string"),
            "total_cost": rng.gamma(2, 1e5, n),
            "visit_type": pd.Categorical(
                rng.choice(["outpatient", "inpatient"], n, p=[0.9, 0.1]),
                categories=["outpatient", "inpatient", "day_care"],
            ),
        }
    )
    claims.loc[:59, "card_id"] = "heavy"
    cards = naive_aggregates(claims, "card")
    assert cards.loc["heavy", "claim_count"] == (claims["card_id"] == "heavy").sum()
    assert list(naive_aggregates(claims, "facility").columns) == [
        "claim_count",
        "card_count",
        "mean_cost",
        "cost_per_card",
        "inpatient_share",
    ]
    for method in ("iforest", "ecod"):
        s = baseline_scores(claims, "card", method)
        assert s.idxmax() == "heavy"
