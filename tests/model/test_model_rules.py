"""Rule layer: decisive and pattern rules, and how their hits lift the forest score."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from claimguard.model.rules import DEFAULT_RULES, PATTERN_STRENGTH, Rule, apply_rules, combine

RULES = [
    Rule("card_a", 0.0, "eligibility", "decisive"),
    Rule("card_b", 0.0, "split_billing", "pattern", PATTERN_STRENGTH),
]


def test_rule_score_is_the_strongest_fired_rule() -> None:
    X = pd.DataFrame(
        {"card_a": [0.0, 1.0, 0.0, 1.0, np.nan], "card_b": [0.0, 0.0, 2.0, 2.0, 1.0]},
        index=["none", "decisive", "pattern", "both", "nan"],
    )
    score, hits = apply_rules(X, RULES)
    assert list(score) == [0.0, 1.0, PATTERN_STRENGTH, 1.0, PATTERN_STRENGTH]
    assert json.loads(hits["both"]) == ["card_a", "card_b"] and hits["none"] == "[]"


def test_pattern_hits_rank_between_decisive_hits_and_the_forest() -> None:
    w = 0.9999
    forest = np.array([0.998, 0.5, 0.5, 0.2])  # a forest-only top entity, then hits
    final = combine(forest, np.array([0.0, PATTERN_STRENGTH, 1.0, 1.0]), w)
    # pattern hit above forest-only entities below the training top 0.1% ...
    assert final[1] > final[0]
    # ... and below decisive hits at the same or lower forest score
    assert final[2] > final[1] and final[3] > final[1]
    assert np.all((final >= forest) & (final <= 1.0))
    # strict tiers: a pattern hit the forest is sure of stays below any decisive hit
    sure_pattern, weak_decisive = combine(
        np.array([0.99999, 0.0]), np.array([PATTERN_STRENGTH, 1.0]), w
    )
    assert sure_pattern < weak_decisive


def test_default_rules_name_catalogue_features_with_valid_strengths() -> None:
    from claimguard.features.catalog import CATALOG
    from claimguard.schema import SIGNALS

    for r in DEFAULT_RULES:
        assert r.feature in CATALOG and r.signal in SIGNALS and 0.0 < r.strength <= 1.0
        assert CATALOG[r.feature].signal == r.signal


def test_excluded_features_stay_out_of_the_forest_unless_named() -> None:
    from claimguard.model.train import select_features
    from claimguard.settings import Settings

    table = pd.DataFrame({"facility_a_ratio_to_peers": [1.0, 2.0], "facility_b_count": [0.0, 3.0]})
    s = Settings().model_copy(deep=True)
    s = s.model_copy(
        update={"model": s.model.model_copy(update={"exclude_features": ["facility_b_count"]})}
    )
    assert select_features("facility", table, s) == ["facility_a_ratio_to_peers"]
    named = s.model_copy(
        update={"model": s.model.model_copy(update={"facility_features": ["facility_b_count"]})}
    )
    assert select_features("facility", table, named) == ["facility_b_count"]
    # the default list names facility features of the catalogue
    from claimguard.features.catalog import CATALOG

    for name in Settings().model.exclude_features:
        assert CATALOG[name].entity == "facility"
