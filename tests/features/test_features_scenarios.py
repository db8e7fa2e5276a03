"""Planted abuse stands out on the features meant to reveal it; traps do not.

Runs on the shared ``synthetic_dir`` (20k claims, seed 1). "Stands out" = fewer than 5%
of the other entities reach the planted entity's value on at least one of the
scenario's features. Facility scenarios are planted in a handful of facilities among
~450 small ones, so their subtle variants are held to the top 15% (overbilling's subtle
variant, +50-90% tests on half the claims of a small hospital, is the hardest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from claimguard.features.build import FeatureSet, build_features
from claimguard.io.load import load_dataset
from claimguard.settings import FeatureSettings

SCENARIO_FEATURES: dict[str, tuple[str, ...]] = {
    "borrowed_card": (
        "card_max_dx_atypicality_ratio",
        "card_demographic_mismatch_count",
        "card_distinct_provinces_count",
    ),
    "medicine_hoarding": ("card_drug_stockpile_days", "card_drug_days_supplied_ratio"),
    "overlapping_care": ("card_overlap_days",),
    "post_death": ("card_after_death_claims_count",),
    "ineligible": ("card_outside_validity_claims_count",),
    "split_billing": ("card_same_day_same_facility_claims_count",),
    "overbilling": (
        "facility_tests_per_visit_ratio_to_peers",
        "facility_supplies_per_visit_ratio_to_peers",
        "facility_drugs_per_visit_ratio_to_peers",
        "facility_cost_per_visit_ratio_to_peers",
    ),
    "admission_inflation": (
        "facility_admission_rate_ratio_to_peers",
        "facility_length_of_stay_ratio_to_peers",
    ),
    "sick_leave_mill": ("facility_sick_leave_per_visit_ratio_to_peers",),
    "phantom_visits": ("facility_thin_visits_ratio_to_peers",),
    "doctor_overload": (
        "facility_max_exams_per_doctor_day_count",
        "facility_busiest_doctor_exams_ratio_to_colleagues",
    ),
}


@pytest.fixture(scope="module")
def built(synthetic_dir: Path) -> tuple[FeatureSet, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ds = load_dataset(synthetic_dir)
    fs = build_features(
        ds.claims, ds.claim_lines, ds.cards, ds.facilities, settings=FeatureSettings()
    )
    labels = pd.read_csv(synthetic_dir / "labels.csv", dtype=str)
    traps = pd.read_csv(synthetic_dir / "traps.csv", dtype=str)
    return fs, labels, traps, ds.claims


def _share_reaching(
    x: pd.DataFrame, others: pd.Index, entity: str, feats: tuple[str, ...]
) -> float:
    """Smallest share, over the features, of other entities at or above this one's value."""
    return min(float((x.loc[others, f] >= x.loc[entity, f]).mean()) for f in feats)


def test_every_scenario_has_features(built) -> None:
    fs, labels, _, _ = built
    assert set(labels["scenario"]) == set(SCENARIO_FEATURES)
    for feats in SCENARIO_FEATURES.values():
        for f in feats:
            assert f in fs.card.columns or f in fs.facility.columns, f


@pytest.mark.parametrize("scenario", list(SCENARIO_FEATURES))
def test_planted_entities_stand_out(built, scenario: str) -> None:
    fs, labels, _, _ = built
    rows = labels[labels["scenario"] == scenario]
    entity_type = rows["entity_type"].iloc[0]
    x = getattr(fs, entity_type)
    planted = set(labels.loc[labels["entity_type"] == entity_type, "entity_id"])
    others = x.index[~x.index.isin(planted)]
    for _, r in rows.iterrows():
        limit = 0.15 if entity_type == "facility" and r["variant"] == "subtle" else 0.05
        share = _share_reaching(x, others, r["entity_id"], SCENARIO_FEATURES[scenario])
        assert share < limit, (scenario, r["variant"], r["entity_id"], share)


def _pct(values: pd.Series, ids: pd.Series) -> float:
    """Mean percentile rank (0..1) of ``ids`` among all entities."""
    return float(values.rank(pct=True).reindex(ids).dropna().mean())


def test_card_traps_rank_lower_than_naive_counts(built) -> None:
    fs, _, traps, claims = built
    by_card = claims.groupby("card_id")
    naive = pd.DataFrame(
        {"visits": by_card.size(), "cost_per_visit": by_card["total_cost"].mean()}
    ).reindex(fs.card.index)
    pairs = {
        "visits": "card_visits_ratio_to_peers",
        "cost_per_visit": "card_cost_per_visit_ratio_to_peers",
    }
    gains = []
    for kind in ("dialysis", "chemotherapy", "elderly_multimorbid", "frequent_child"):
        ids = traps.loc[(traps["entity_type"] == "card") & (traps["kind"] == kind), "entity_id"]
        for n_col, feat in pairs.items():
            naive_pct = _pct(naive[n_col], ids)
            if naive_pct < 0.75:  # the naive count does not make them look unusual
                continue
            peer_pct = _pct(fs.card[feat], ids)
            assert peer_pct <= naive_pct + 0.01, (kind, feat, peer_pct, naive_pct)
            gains.append(naive_pct - peer_pct)
    assert len(gains) >= 4 and np.mean(gains) > 0.05
    # dialysis three times a week is the classic false positive of a naive visit count
    ids = traps.loc[traps["kind"] == "dialysis", "entity_id"]
    assert _pct(fs.card["card_visits_ratio_to_peers"], ids) < _pct(naive["visits"], ids) - 0.03


def test_facility_traps_rank_lower_than_naive_counts(built) -> None:
    fs, _, traps, claims = built
    by_fac = claims.groupby("facility_id")
    op = claims[claims["visit_type"] == "outpatient"]
    per_doctor_day = op.groupby(["facility_id", "doctor_id", op["admit_time"].dt.date]).size()
    naive = pd.DataFrame(
        {
            "claims": by_fac.size(),
            "cost_per_visit": by_fac["total_cost"].mean(),
            "inpatient_share": (claims["visit_type"] == "inpatient")
            .groupby(claims["facility_id"])
            .mean(),
            "busiest_doctor_day": per_doctor_day.groupby(level=0).max(),
        }
    ).reindex(fs.facility.index)
    central = traps.loc[traps["kind"] == "central_hospital", "entity_id"]
    for n_col, feat in (
        ("claims", "facility_claims_per_day_ratio_to_peers"),
        ("cost_per_visit", "facility_cost_per_visit_ratio_to_peers"),
        ("inpatient_share", "facility_admission_rate_ratio_to_peers"),
    ):
        assert _pct(fs.facility[feat], central) < _pct(naive[n_col], central) - 0.05, feat
    busy = traps.loc[traps["kind"] == "busy_district_hospital", "entity_id"]
    assert _pct(fs.facility["facility_busiest_doctor_exams_ratio_to_colleagues"], busy) < _pct(
        naive["busiest_doctor_day"].fillna(0), busy
    )
