"""Population knobs: defaults reproduce the generator, each knob moves what it should."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from claimguard.synth.generate import SyntheticData, generate
from claimguard.synth.variants import DROPPABLE_COLUMNS, Population, split_column, variant

from .frames import normal_claims, with_cards

N = 20_000
START = "2024-03-01"
CAP = 65


def _gen(seed: int = 11, claims: int = N, **knobs: object) -> SyntheticData:
    return generate(claims, seed, start=START, population=Population(**knobs))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base() -> SyntheticData:
    return generate(N, 11, start=START)


def _impossible(m: pd.DataFrame) -> np.ndarray:
    """Diagnoses clinically impossible for the registry sex (and perinatal codes after 1)."""
    dx = m["primary_dx"].astype(str).str.replace(".", "", regex=False).str[:3]
    male = (m["sex"] == "M").to_numpy()
    female = (m["sex"] == "F").to_numpy()
    pregnancy = (dx.str[0] == "O") | dx.between("Z32", "Z39")
    female_organs = dx.between("N70", "N98") | dx.between("C51", "C58")
    male_organs = dx.between("N40", "N53") | dx.between("C60", "C63")
    perinatal = (dx.str[0] == "P") & (m["age"] > 1)
    return (
        (male & (pregnancy | female_organs).to_numpy())
        | (female & male_organs.to_numpy())
        | perinatal.to_numpy()
    )


def _sex_impossible(m: pd.DataFrame) -> np.ndarray:
    dx = m["primary_dx"].astype(str).str.replace(".", "", regex=False).str[:3]
    pregnancy = (dx.str[0] == "O") | dx.between("Z32", "Z39")
    prostate = dx.between("N40", "N53")
    return ((m["sex"] == "M") & pregnancy).to_numpy() | ((m["sex"] == "F") & prostate).to_numpy()


def _doctor_days(c: pd.DataFrame) -> pd.Series:
    out = c[c["visit_type"] != "inpatient"]
    return out.groupby(["facility_id", "doctor_id", out["admit_time"].dt.normalize()]).size()


def test_default_population_reproduces_the_generator() -> None:
    a = generate(3000, 5, start=START)
    b = generate(3000, 5, start=START, population=Population())
    for name in ("claims", "claim_lines", "facilities", "cards", "labels", "traps", "truth_claims"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


def test_variants_are_deterministic_and_in_range() -> None:
    assert variant(0) == Population()
    assert variant(0).is_default()
    assert variant(3) == variant(3)
    assert variant(1) != variant(2)
    for i in range(1, 30):
        v = variant(i)
        assert 0.7 <= v.visits_scale <= 1.6
        assert 0 <= v.same_day_revisit_share <= 0.06
        assert 0 <= v.admission_day_visit_share <= 0.3
        assert 0 <= v.travel_share <= 0.25
        assert 0 <= v.rare_dx_share <= 0.02
        assert 0 <= v.busy_clinic_share <= 0.15
        assert 0 <= v.noise_share <= 0.05
        assert 0.6 <= v.abuse_strength <= 1.3
        assert set(v.absent_columns) <= set(DROPPABLE_COLUMNS)
    assert {variant(i).borrowed_all_mismatch for i in range(1, 30)} == {True, False}
    with pytest.raises(ValueError):
        variant(-1)


def test_knob_values_are_checked() -> None:
    with pytest.raises(ValueError, match="abuse_strength"):
        Population(abuse_strength=3.0)
    with pytest.raises(ValueError, match="cannot be dropped"):
        Population(absent_columns=("doctor_id",))
    with pytest.raises(ValueError, match="cannot be dropped"):
        Population(absent_columns=("claim_lines.days_supply",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        Population().visits_scale = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("i", [1, 2, 3, 4, 5])
def test_variants_keep_the_invariants(i: int) -> None:
    d = generate(N, 7, start=START, population=variant(i))
    assert len(d.claims) == N
    assert d.claims["claim_id"].is_unique
    assert set(d.claim_lines["claim_id"]) == set(d.claims["claim_id"])
    assert d.claims["card_id"].isin(d.cards["card_id"]).all()
    assert not d.truth_claims["entity_id"].isin(d.traps["entity_id"]).any()
    assert set(d.labels["variant"]) == {"strong", "subtle"}
    n = with_cards(normal_claims(d), d)
    assert not _impossible(n).any()
    assert (n["admit_time"] >= n["valid_from"]).all()
    assert (n["admit_time"] <= n["valid_to"] + pd.Timedelta(days=1)).all()
    assert (
        n["death_date"].isna() | (n["admit_time"] < n["death_date"] + pd.Timedelta(days=1))
    ).all()
    assert not d.to_dataset().claims.empty


def test_same_day_revisits_are_normal_pairs(base: SyntheticData) -> None:
    def pairs(d: SyntheticData) -> pd.Series:
        n = normal_claims(d)
        key = ["card_id", "facility_id", n["admit_time"].dt.normalize(), "primary_dx"]
        size = n.groupby(key).size()
        return size[size > 1]

    assert len(pairs(base)) == 0
    d = _gen(same_day_revisit_share=0.05)
    p = pairs(d)
    assert len(p) > 50
    assert d.traps["kind"].eq("same_day_revisit").any()
    # the second visit starts after the first one ended
    n = normal_claims(d).sort_values("admit_time")
    n = n.assign(day=n["admit_time"].dt.normalize())
    g = n.groupby(["card_id", "facility_id", "day", "primary_dx"])
    first_end = g["discharge_time"].transform("first")
    later = g.cumcount() > 0
    assert (n.loc[later, "admit_time"] > first_end[later]).all()


def test_admission_day_visits_touch_stays_only_at_their_edges(base: SyntheticData) -> None:
    def edge_visits(d: SyntheticData) -> tuple[int, int, int]:
        n = normal_claims(d)
        day_in = n["admit_time"].dt.normalize()
        day_out = n["discharge_time"].dt.normalize()
        stays = n[(n["visit_type"] == "inpatient") & (day_out > day_in)]
        visits = n[n["visit_type"] != "inpatient"]
        m = visits.merge(stays, on="card_id", suffixes=("", "_s"))
        m = m[m["facility_id"] != m["facility_id_s"]]
        d_v = m["admit_time"].dt.normalize()
        a, e = m["admit_time_s"].dt.normalize(), m["discharge_time_s"].dt.normalize()
        inside = ((d_v > a) & (d_v < e)).sum()
        overlap = (
            (m["admit_time"] < m["discharge_time_s"]) & (m["discharge_time"] > m["admit_time_s"])
        ).sum()
        return int(((d_v == a) | (d_v == e)).sum()), int(inside), int(overlap)

    edge0, inside0, overlap0 = edge_visits(base)
    edge, inside, overlap = edge_visits(_gen(admission_day_visit_share=0.3))
    assert inside0 == inside == 0
    assert overlap0 == overlap == 0
    assert edge > 5 * max(edge0, 10)


def test_travellers_visit_other_provinces(base: SyntheticData) -> None:
    def away(d: SyntheticData) -> float:
        n = normal_claims(d).merge(d.cards[["card_id", "province"]], on="card_id")
        fac = d.facilities.set_index("facility_id")["province"]
        return float((fac.loc[n["facility_id"]].to_numpy() != n["province"].to_numpy()).mean())

    d = _gen(travel_share=0.25)
    assert away(d) > 2 * away(base)
    assert d.traps["kind"].eq("traveller").sum() > 100


def test_rare_diagnoses_are_atypical_but_never_impossible(base: SyntheticData) -> None:
    d = _gen(rare_dx_share=0.02)
    ids = d.traps.loc[d.traps["kind"] == "rare_diagnosis", "entity_id"]
    assert len(ids) > 100
    n = with_cards(normal_claims(d), d)
    assert not _impossible(n).any()
    rare = n[n["card_id"].isin(ids)]
    male_breast = (rare["primary_dx"] == "C50.9") & (rare["sex"] == "M")
    assert male_breast.any()
    assert ((rare["primary_dx"] == "I10") & (rare["age"] < 18)).any()
    assert rare["primary_dx"].isin(["M10.9", "M81.9"]).any()
    assert not base.claims["primary_dx"].isin(["M10.9", "M81.9"]).any()
    # mostly not at the registered facility
    changed = rare[rare["primary_dx"].isin(["C50.9", "M10.9", "M81.9"])]
    assert (changed["facility_id"] != changed["registered_facility_id_card"]).mean() > 0.8


def test_busy_clinics_are_busy_within_the_cap() -> None:
    d = _gen(busy_clinic_share=0.15)
    busy = d.traps.loc[d.traps["kind"] == "busy_clinic", "entity_id"]
    assert len(busy) > 10
    assert not d.labels["entity_id"].isin(busy).any()
    vol = d.claims.groupby("facility_id").size()
    assert vol[busy].median() > 1.5 * vol.median()
    assert _doctor_days(d.claims[d.claims["facility_id"].isin(busy)]).max() <= CAP


def test_busy_clinic_doctors_stay_under_the_cap_at_scale() -> None:
    d = generate(60_000, 3, start=START, population=Population(busy_clinic_share=0.05))
    busy = d.traps.loc[d.traps["kind"] == "busy_clinic", "entity_id"]
    load = _doctor_days(d.claims[d.claims["facility_id"].isin(busy)])
    assert 30 <= load.max() <= CAP


def test_noise_changes_claim_copies_not_the_registry(base: SyntheticData) -> None:
    d = _gen(noise_share=0.05)
    pd.testing.assert_frame_equal(d.cards, base.cards)
    m = d.claims.merge(d.cards, on="card_id", suffixes=("", "_card"))
    assert 0.03 < (m["patient_sex"] != m["sex"]).mean() < 0.07
    assert 0.03 < (m["patient_birth_date"] != m["birth_date"]).mean() < 0.07
    assert (m["patient_birth_date"] < m["admit_time"]).all()
    assert 0.03 < m["registered_facility_id"].isna().mean() < 0.07
    b = base.claims.merge(base.cards, on="card_id", suffixes=("", "_card"))
    assert (b["patient_sex"] == b["sex"]).all()
    assert b["registered_facility_id"].notna().all()
    assert d.claims["secondary_dx"].isna().mean() > base.claims["secondary_dx"].isna().mean()


def test_absent_columns_are_dropped() -> None:
    absent = (
        "department_id",
        "referral_from",
        "outcome",
        "claim_lines.order_time",
        "facilities.beds",
    )
    d = _gen(absent_columns=absent)
    for name in absent:
        table, column = split_column(name)
        assert column not in getattr(d, table).columns
    assert "doctor_id" in d.claim_lines.columns
    assert {"death_date", "valid_from", "valid_to", "sex", "birth_date"} <= set(d.cards.columns)
    assert "days_supply" in d.claim_lines.columns
    ds = d.to_dataset()
    assert "outcome" not in ds.claims.columns


def test_borrowed_all_mismatch_puts_sex_impossible_care_on_every_strong_visit() -> None:
    def strong_borrowed(d: SyntheticData) -> pd.DataFrame:
        t = d.truth_claims[d.truth_claims["scenario"] == "borrowed_card"]
        lab = d.labels[d.labels["variant"] == "strong"][["entity_id"]]
        c = d.claims.merge(t[["claim_id", "entity_id"]], on="claim_id").merge(lab, on="entity_id")
        return with_cards(c, d)

    s = strong_borrowed(_gen(borrowed_all_mismatch=True))
    assert len(s) >= 5
    assert _sex_impossible(s).all()
    fac = _gen(borrowed_all_mismatch=True).facilities.set_index("facility_id")["province"]
    assert (fac.loc[s["facility_id"]].to_numpy() != s["province"].to_numpy()).all()
    assert not _sex_impossible(strong_borrowed(_gen())).all()


def test_abuse_strength_scales_the_planted_claims(base: SyntheticData) -> None:
    weak = _gen(abuse_strength=0.6)
    strong = _gen(abuse_strength=1.5)
    assert len(weak.truth_claims) < len(base.truth_claims) < len(strong.truth_claims)
    for d in (weak, strong):
        assert set(d.labels["scenario"]) == set(base.labels["scenario"])

    # strong over-billing facilities order more per claim when the abuse is blunter
    def overbilled_lines(d: SyntheticData) -> float:
        t = d.truth_claims[d.truth_claims["scenario"] == "overbilling"]
        strong_ids = d.labels.loc[d.labels["variant"] == "strong", "entity_id"]
        ids = t.loc[t["entity_id"].isin(strong_ids), "claim_id"]
        return float(d.claim_lines["claim_id"].isin(ids).sum() / len(ids))

    assert overbilled_lines(weak) < overbilled_lines(base) < overbilled_lines(strong)


def test_visits_scale_changes_visits_per_card() -> None:
    few = _gen(visits_scale=0.7)
    many = _gen(visits_scale=1.6)
    assert len(few.claims) == len(many.claims) == N
    assert len(few.cards) > 2 * len(many.cards)
    assert (
        many.claims.groupby("card_id").size().mean() > few.claims.groupby("card_id").size().mean()
    )
