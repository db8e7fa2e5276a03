"""Generated care against published figures of Vietnam's fund (see synth/reference.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from claimguard.synth import reference as ref
from claimguard.synth.generate import SyntheticData, generate


@pytest.fixture(scope="module")
def month() -> SyntheticData:
    return generate(100_000, seed=21, start="2024-05-01", months=1)


def _within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _rates(d: SyntheticData) -> dict[str, float]:
    c = d.claims
    days = (c["admit_time"].max().normalize() - c["admit_time"].min().normalize()).days + 1
    mean = c.groupby("visit_type", observed=True)["total_cost"].mean()
    return {
        "visits": len(c) / len(d.cards) * 365 / days,
        "inpatient": float((c["visit_type"] == "inpatient").mean()),
        "out": float(mean["outpatient"]),
        "inp": float(mean["inpatient"]),
        "all": float(c["total_cost"].mean()),
    }


def test_visits_per_insured_person_per_year(month: SyntheticData) -> None:
    assert _within(_rates(month)["visits"], ref.VISITS_PER_INSURED_YEAR)
    # the registry holds people who did not visit at all, as an insured population does
    assert (~month.cards["card_id"].isin(month.claims["card_id"])).mean() > 0.5


def test_inpatient_share(month: SyntheticData) -> None:
    assert _within(_rates(month)["inpatient"], ref.INPATIENT_SHARE)


def test_mean_costs_in_vnd(month: SyntheticData) -> None:
    r = _rates(month)
    assert _within(r["out"], ref.MEAN_OUTPATIENT_VND)
    assert _within(r["inp"], ref.MEAN_INPATIENT_VND)
    assert _within(r["all"], ref.MEAN_VISIT_VND)


def test_a_year_keeps_the_rates_and_the_weekly_rhythm() -> None:
    d = generate(40_000, seed=4, start="2024-01-01", months=12)
    r = _rates(d)
    assert _within(r["visits"], ref.VISITS_PER_INSURED_YEAR)
    assert _within(r["inpatient"], ref.INPATIENT_SHARE)
    out = d.claims[d.claims["visit_type"] == "outpatient"]
    per_weekday = out["admit_time"].dt.weekday.value_counts()
    assert per_weekday[0] > per_weekday[5] > per_weekday[6]  # Monday > Saturday > Sunday
    tet = out["admit_time"].between(pd.Timestamp("2024-02-08"), pd.Timestamp("2024-02-15"))
    normal_week = out["admit_time"].between(pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-11"))
    assert tet.sum() < 0.5 * normal_week.sum()


def test_care_depends_on_age_sex_and_tier(month: SyntheticData) -> None:
    normal = month.claims[~month.claims["claim_id"].isin(month.truth_claims["claim_id"])]
    c = normal.merge(month.facilities[["facility_id", "tier"]], on="facility_id")
    age = (c["admit_time"] - c["patient_birth_date"]).dt.days / 365.25
    # pregnancy only for women of child-bearing age (borrowed cards aside)
    preg = c["primary_dx"].isin(["Z34.9", "O80", "O82"])
    assert (c.loc[preg, "patient_sex"] == "F").all() and age[preg].between(15, 50).all()
    # young children and the elderly visit more often per person than young adults
    cards = month.cards
    cage = (pd.Timestamp("2024-05-01") - cards["birth_date"]).dt.days / 365.25
    visits = c.groupby("card_id").size().reindex(cards["card_id"]).fillna(0).to_numpy()
    per = pd.Series(visits).groupby(pd.cut(cage.to_numpy(), [0, 6, 18, 40, 65, 120])).mean()
    assert per.iloc[0] > per.iloc[2] and per.iloc[4] > per.iloc[2]
    # higher tiers cost more per visit and admit more
    by = c.groupby("tier", observed=True).agg(
        cost=("total_cost", "mean"), inp=("visit_type", lambda s: (s == "inpatient").mean())
    )
    assert (
        by.loc["central", "cost"]
        > by.loc["provincial", "cost"]
        > by.loc["district", "cost"]
        > by.loc["commune", "cost"]
    )
    assert by.loc["commune", "inp"] < by.loc["district", "inp"] < by.loc["provincial", "inp"]
    # referrals point up the tiers
    ref_tier = c.merge(
        month.facilities[["facility_id", "tier"]].rename(
            columns={"facility_id": "referral_from", "tier": "from_tier"}
        ),
        on="referral_from",
    )
    order = {"central": 0, "provincial": 1, "district": 2, "commune": 3, "private": 3}
    up = ref_tier["tier"].map(order).astype(int) <= ref_tier["from_tier"].map(order).astype(int)
    assert len(ref_tier) > 0 and up.mean() > 0.95
