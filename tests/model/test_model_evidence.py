"""Evidence layer: surprisal weights from the training population, hard facts, demotion."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from claimguard.model.combine import EvidenceSettings, combine, weigh
from claimguard.model.evidence import DEFAULT_EVIDENCE, EvidenceSpec, fit_evidence
from claimguard.model.surprisal import count_surprisal
from claimguard.model.train import fit_bundle
from claimguard.settings import Settings

from .helpers import tiny_features

DEATH = EvidenceSpec(
    "card_after_death_claims_count", "hard", "eligibility", "dead", "card_visits_count"
)
SPLIT = EvidenceSpec("card_split", "count", "split_billing", "split", "card_visits_count")
SPLIT2 = EvidenceSpec(
    "card_split_too", "count", "split_billing", "split again", "card_visits_count"
)
IMPOSSIBLE = EvidenceSpec(
    "card_impossible_dx_claims_count", "hard", "demographic_mismatch", "impossible",
    "card_visits_count", 1.0,
)  # fmt: skip
CFG = EvidenceSettings(weight=1.0, cap=6.0, fire_level=3.0)


def _cards(n: int = 20_000, seed: int = 0, split_rate: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    visits = 1.0 + rng.poisson(1.5, n)
    return pd.DataFrame(
        {
            "card_visits_count": visits,
            "card_split": rng.poisson(split_rate * visits).astype(float),
            "card_split_too": np.zeros(n),
            "card_after_death_claims_count": np.zeros(n),
            "card_impossible_dx_claims_count": np.zeros(n),
        },
        index=pd.Index([f"C{i:06d}" for i in range(n)], name="card_id"),
    )


def _fit(X: pd.DataFrame, specs=(DEATH, SPLIT, IMPOSSIBLE), share: float = 0.002):
    return fit_evidence(list(specs), X, max_hard_share=share, fire_level=CFG.fire_level)


def test_count_surprisal_grows_with_count_and_falls_with_volume() -> None:
    s = count_surprisal(np.array([0, 1, 2, 3, 3]), np.array([0.1, 0.1, 0.1, 0.1, 2.0]), 0.0)
    assert s[0] == 0.0
    assert s[1] < s[2] < s[3]  # repeated improbable events add up
    assert s[4] < s[3]  # the same count is less surprising for a heavier user
    assert s[1] == pytest.approx(-np.log10(1 - np.exp(-0.1)))


def test_a_common_pattern_weighs_less_than_a_rare_one() -> None:
    """Weights come from the training population, not from a threshold."""
    probe = pd.DataFrame({"card_visits_count": [3.0], "card_split": [1.0]})
    s_rare = _fit(_cards(split_rate=0.001), [SPLIT])[0].surprisal(probe)[0]
    s_common = _fit(_cards(split_rate=0.05), [SPLIT])[0].surprisal(probe)[0]
    assert s_rare > s_common + 1.0


def test_rate_is_not_inflated_by_a_few_extreme_entities() -> None:
    X = _cards()
    clean = _fit(X, [SPLIT])[0]
    X.iloc[:20, X.columns.get_loc("card_split")] = 60.0  # a handful of abusers, huge counts
    dirty = _fit(X, [SPLIT])[0]
    assert dirty.rate == pytest.approx(clean.rate, rel=0.2)


def test_repeat_robust_rate_ignores_abusers_repeating_a_rare_pattern() -> None:
    """A rare pattern whose training carriers are mostly abusers with two or more events:
    the one-event estimate keeps the rate near the ordinary entities' own."""
    import dataclasses

    X = _cards(split_rate=0.0002)
    clean = _fit(X, [SPLIT])[0]
    X.iloc[:40, X.columns.get_loc("card_split")] = 2.0  # abusers repeating it, twice each
    plain = _fit(X, [SPLIT])[0]
    robust = _fit(X, [dataclasses.replace(SPLIT, repeat_robust=True)])[0]
    assert plain.rate > 3 * clean.rate
    assert robust.rate < 2 * clean.rate
    probe = pd.DataFrame({"card_visits_count": [2.0], "card_split": [1.0]})
    assert robust.surprisal(probe)[0] > plain.surprisal(probe)[0]


def test_card_with_k_impossible_diagnoses_outranks_one_with_k_minus_1() -> None:
    X = _cards()
    items = _fit(X)
    probe = pd.DataFrame(
        {
            "card_visits_count": [6.0] * 5,
            "card_split": [0.0] * 5,
            "card_split_too": [0.0] * 5,
            "card_after_death_claims_count": [0.0] * 5,
            "card_impossible_dx_claims_count": [0.0, 1.0, 2.0, 3.0, 4.0],
        }
    )
    ev, hard, _ = weigh(probe, items, CFG)
    final = combine(np.full(5, 0.5), ev, hard)
    assert np.all(np.diff(final) > 0)
    assert hard.tolist() == [0.0, 0.0, 1.0, 2.0, 3.0]  # one is tolerated as a possible typo


def test_claims_after_death_rank_top_whatever_the_forest_says() -> None:
    """A card with a hard fact outranks every card without one, and more claims rank first."""
    X = _cards()
    items = _fit(X)
    probe = X.iloc[:4].copy()
    probe["card_after_death_claims_count"] = [0.0, 1.0, 3.0, 0.0]
    probe["card_split"] = [9.0, 0.0, 0.0, 0.0]
    ev, hard, hits = weigh(probe, items, CFG)
    final = combine(np.array([0.999999, 0.0, 0.0, 0.5]), ev, hard)
    assert final[1] > final[0] and final[2] > final[1]
    assert final[1] >= 0.999 > final[0]
    assert "card_after_death_claims_count" in json.loads(hits.iloc[1])


def test_hard_fact_firing_on_5_percent_of_training_cards_is_demoted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    X = _cards()
    X.iloc[: len(X) // 20, X.columns.get_loc("card_after_death_claims_count")] = 1.0
    with caplog.at_level("WARNING"):
        items = {i.name: i for i in _fit(X)}
    death = items["card_after_death_claims_count"]
    assert death.demoted and death.fire_share == pytest.approx(0.05, abs=1e-3)
    assert "fires on 5.00%" in caplog.text
    ev, hard, _ = weigh(X.iloc[:1], [death], CFG)
    assert hard[0] == 0.0 and 0 < ev[0] < 3.0  # now weak count evidence
    assert not items["card_impossible_dx_claims_count"].demoted


def test_two_views_of_one_signal_count_once() -> None:
    X = _cards()
    X["card_split_too"] = X["card_split"]
    one, _, _ = weigh(X.iloc[:200], _fit(X, [SPLIT]), CFG)
    both, _, _ = weigh(X.iloc[:200], _fit(X, [SPLIT, SPLIT2]), CFG)
    assert np.allclose(one, both)


def test_combine_is_monotone_and_within_0_1() -> None:
    rng = np.random.default_rng(1)
    f, e, h = rng.random(1000), rng.exponential(2, 1000), rng.poisson(0.1, 1000).astype(float)
    base = combine(f, e, h)
    assert np.all((base >= 0) & (base < 1))
    for bumped in (
        combine(np.minimum(f + 0.01, 1), e, h),
        combine(f, e + 0.5, h),
        combine(f, e, h + 1),
    ):
        assert np.all(bumped >= base)


def test_default_evidence_names_catalogue_features_of_its_signal() -> None:
    from claimguard.features.catalog import CATALOG
    from claimguard.schema import SIGNALS

    for spec in DEFAULT_EVIDENCE:
        assert spec.signal in SIGNALS
        for col in spec.columns:
            assert col in CATALOG, col
        assert CATALOG[spec.feature].signal == spec.signal


def test_bundle_records_each_items_training_firing_rate() -> None:
    fs = tiny_features()
    settings = Settings()
    settings = settings.model_copy(
        update={"model": settings.model.model_copy(update={"n_estimators": 30})}
    )
    bundle = fit_bundle(fs, None, settings)
    rec = bundle.metrics["evidence"]["card"]["card_after_death_claims_count"]
    assert rec["fire_share"] == pytest.approx(1 / len(fs.card)) and rec["demoted"] == 0.0
    from claimguard.model.model_card import model_card

    card = model_card(bundle)["evidence"]["card"]
    assert card[0]["name"] == "card_after_death_claims_count"
    assert {"training_fire_share", "demoted", "rate_per_exposure"} <= set(card[0])


def test_excluded_features_stay_out_of_the_forest_unless_named() -> None:
    from claimguard.model.train import select_features

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
    from claimguard.features.catalog import CATALOG

    for name in Settings().model.exclude_features:  # every default names a real feature
        assert name in CATALOG


def test_two_monthly_fills_weigh_the_same_in_a_short_and_a_long_month() -> None:
    """Two 30-day fills are 60/31 periods in a 31-day training month and 60/30 in a
    30-day scoring month: the month's length must not turn an ordinary refill into an
    improbable event, while a real stockpile still is one."""
    spec = next(s for s in DEFAULT_EVIDENCE if s.feature == "card_drug_days_supplied_ratio")
    rng = np.random.default_rng(0)
    ratio = np.where(rng.random(20_000) < 0.05, 60 / 31, 30 / 31)  # a long training month
    X = pd.DataFrame({"card_drug_days_supplied_ratio": ratio})
    item = fit_evidence([spec], X, max_hard_share=0.002, fire_level=CFG.fire_level)[0]
    probe = pd.DataFrame({"card_drug_days_supplied_ratio": [60 / 31, 60 / 30, 150 / 30]})
    s = item.surprisal(probe)
    assert s[0] == s[1] == 0.0  # the same patient in a 31-day and a 30-day month
    assert s[2] > CFG.fire_level  # five months' supply in one month is still evidence
