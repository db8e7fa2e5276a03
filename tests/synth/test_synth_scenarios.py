"""Each planted scenario carries the signature it claims, and normal care does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from claimguard.synth import catalog as cat
from claimguard.synth.generate import SyntheticData

from .conftest import MONTHS
from .frames import normal_claims, with_cards

CAP = 65  # outpatient examinations per doctor per day (docs/contract.md: the cap commonly cited in Vietnam)
TESTS = ("lab", "imaging", "functional")


def _planted(d: SyntheticData, scenario: str) -> pd.DataFrame:
    t = d.truth_claims[d.truth_claims["scenario"] == scenario][["claim_id", "entity_id"]]
    lab = d.labels[["entity_id", "variant"]]
    return d.claims.merge(t, on="claim_id").merge(lab, on="entity_id")


def _age_sex_fit(m: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(hard, soft) misfit of each claim's diagnosis for the card holder's age and sex."""
    dx = m["primary_dx"].map(cat.DX_INDEX).to_numpy()
    sex_req = np.array([c.sex for c in cat.CONDITIONS])[dx]
    male = (m["sex"] == "M").to_numpy()
    age = m["age"].to_numpy()
    pregnancy = np.isin(m["primary_dx"], ["Z34.9", "O80", "O82"])
    hard = (
        ((sex_req == "F") & male)
        | ((sex_req == "M") & ~male)
        | (pregnancy & ((age >= 52) | (age < 12)))
    )
    hard |= np.isin(dx, cat.ADULT_ONLY) & (age < 12)
    w = np.array([c.weight for c in cat.CONDITIONS])
    band = np.searchsorted(cat.AGE_BANDS, age, side="right") - 1
    rel = w[dx, band] / np.maximum(w[dx].max(axis=1), 1e-9)
    soft = (rel <= 0.2) & (w[dx].max(axis=1) > 0)
    return pd.Series(hard, index=m.index), pd.Series(soft | hard, index=m.index)


def test_borrowed_card_care_does_not_fit_the_holder(synth_data: SyntheticData) -> None:
    p = with_cards(_planted(synth_data, "borrowed_card"), synth_data)
    hard, soft = _age_sex_fit(p)
    per_card = (
        p.assign(hard=hard, soft=soft).groupby(["entity_id", "variant"])[["hard", "soft"]].any()
    )
    assert per_card.xs("strong", level="variant")["hard"].all()
    assert per_card.xs("subtle", level="variant")["soft"].all()
    n = with_cards(normal_claims(synth_data), synth_data)
    n_hard, n_soft = _age_sex_fit(n)
    assert n_hard.mean() == 0.0
    assert soft.mean() > 5 * n_soft.mean()
    # strong variants are mostly used far from home
    fac = synth_data.facilities.set_index("facility_id")["province"]
    strong = p[p["variant"] == "strong"]
    away = fac.loc[strong["facility_id"]].to_numpy() != strong["province"].to_numpy()
    assert away.mean() >= 0.5


def _refills(d: SyntheticData) -> pd.DataFrame:
    """Outpatient chronic dispensings (28+ days of drugs): card, condition, day, days."""
    lines = d.claim_lines[d.claim_lines["line_type"] == "drug"]
    per_claim = lines.groupby("claim_id")["days_supply"].max().rename("days").reset_index()
    c = d.claims[d.claims["visit_type"] == "outpatient"][
        ["claim_id", "card_id", "primary_dx", "admit_time"]
    ]
    c = c.merge(per_claim, on="claim_id")
    return c[c["days"] >= 28].assign(day=lambda x: x["admit_time"].dt.normalize())


def test_hoarding_dispenses_far_more_days_than_the_period(synth_data: SyntheticData) -> None:
    d = synth_data
    period = (
        d.claims["admit_time"].max().normalize() - d.claims["admit_time"].min().normalize()
    ).days + 1
    r = _refills(d)
    days = r.groupby(["card_id", "primary_dx"])["days"].sum().groupby("card_id").max()
    lab = d.labels[d.labels["scenario"] == "medicine_hoarding"].set_index("entity_id")["variant"]
    assert (days[lab[lab == "strong"].index] > 3 * period).all()
    assert (days[lab[lab == "subtle"].index] > period).all()
    places = (
        d.claims[d.claims["card_id"].isin(lab.index)].groupby("card_id")["facility_id"].nunique()
    )
    assert (places[lab[lab == "strong"].index] >= 3).all()
    # possession ratio: days supplied before the last refill / days between first and last
    g = r.groupby(["card_id", "primary_dx"])
    span = (g["day"].max() - g["day"].min()).dt.days
    supplied = g["days"].sum() - g.apply(
        lambda x: x.loc[x["day"].idxmax(), "days"], include_groups=False
    )
    mpr = (supplied / span.where(span > 0)).dropna().groupby("card_id").max()
    assert (mpr[lab.index.intersection(mpr.index)] > 1.4).all()
    legit = mpr.drop(d.labels["entity_id"], errors="ignore")
    assert legit.quantile(0.99) < 1.3


def _overlaps(c: pd.DataFrame) -> pd.Series:
    """Cards with a visit starting strictly inside another facility's stay."""
    stays = c[c["visit_type"] == "inpatient"][
        ["card_id", "facility_id", "admit_time", "discharge_time"]
    ]
    m = stays.merge(c[["card_id", "facility_id", "admit_time"]], on="card_id", suffixes=("", "_o"))
    inside = (
        (m["facility_id_o"] != m["facility_id"])
        & (m["admit_time_o"] > m["admit_time"])
        & (m["admit_time_o"] < m["discharge_time"])
    )
    return pd.Series(m.loc[inside, "card_id"].unique())


def test_overlapping_care_in_two_places_at_once(synth_data: SyntheticData) -> None:
    d = synth_data
    lab = d.labels[d.labels["scenario"] == "overlapping_care"]["entity_id"]
    hit = set(_overlaps(d.claims))
    assert set(lab) <= hit
    # normal care never overlaps (transfers are admitted after the discharge)
    assert set(_overlaps(normal_claims(d))) == set()


def test_post_death_and_ineligible_claims_fall_outside_cover(synth_data: SyntheticData) -> None:
    d = synth_data
    dead = with_cards(_planted(d, "post_death"), d)
    assert (dead["admit_time"] > dead["death_date"]).all()
    strong = dead[dead["variant"] == "strong"]
    assert (strong["death_date"] < d.claims["admit_time"].min().normalize()).all()
    inel = with_cards(_planted(d, "ineligible"), d)
    assert (inel["admit_time"].dt.normalize() > inel["valid_to"]).all()
    assert (inel["card_valid_to"] == inel["valid_to"]).all()


def test_split_billing_same_day_same_facility(synth_data: SyntheticData) -> None:
    d = synth_data
    p = _planted(d, "split_billing")
    p["day"] = p["admit_time"].dt.normalize()
    per_visit = p.groupby(["entity_id", "variant", "facility_id", "day"]).size()
    most = per_visit.groupby(["entity_id", "variant"]).max()
    assert (most.xs("strong", level="variant") >= 3).all()
    assert (most.xs("subtle", level="variant") >= 2).all()
    n = normal_claims(d).assign(day=lambda x: x["admit_time"].dt.normalize())
    dup = n.groupby(["card_id", "facility_id", "day"]).size()
    assert (dup > 1).mean() < 0.002


def _tests_per_claim(d: SyntheticData) -> pd.Series:
    srv = d.claim_lines[d.claim_lines["line_type"] == "service"]
    kind = srv["item_code"].map({c: cat.service_kind(c) for c in srv["item_code"].unique()})
    return (
        srv[kind.isin(TESTS)].groupby("claim_id").size().reindex(d.claims["claim_id"]).fillna(0.0)
    )


def test_overbilling_orders_more_tests_than_tier_peers(synth_data: SyntheticData) -> None:
    d = synth_data
    c = d.claims.merge(d.facilities[["facility_id", "tier"]], on="facility_id")
    c["tests"] = _tests_per_claim(d).to_numpy()
    planted = c["claim_id"].isin(d.truth_claims["claim_id"])
    peer = (
        c[~planted]
        .groupby(["tier", "primary_dx", "visit_type"], observed=True)["tests"]
        .mean()
        .rename("expected")
    )
    p = c[c["claim_id"].isin(_planted(d, "overbilling")["claim_id"])].merge(
        peer.reset_index(), on=["tier", "primary_dx", "visit_type"]
    )
    p = p.merge(d.labels[["entity_id", "variant"]], left_on="facility_id", right_on="entity_id")
    ratio = p.groupby("variant")["tests"].sum() / p.groupby("variant")["expected"].sum()
    assert ratio["strong"] > 2.0
    assert 1.15 < ratio["subtle"] < ratio["strong"]


def test_admission_inflation_admits_what_peers_treat_as_outpatients(
    synth_data: SyntheticData,
) -> None:
    d = synth_data
    c = d.claims.merge(d.facilities[["facility_id", "tier"]], on="facility_id")
    mild = c["primary_dx"].map(
        dict(zip(cat.DX_CODES, cat.condition_array("p_inpatient") < 0.15, strict=True))
    )
    c = c[mild.astype(bool)]
    rate = c.assign(inp=c["visit_type"] == "inpatient").groupby("facility_id")["inp"].mean()
    lab = d.labels[d.labels["scenario"] == "admission_inflation"].set_index("entity_id")["variant"]
    others = rate.drop(d.labels["entity_id"], errors="ignore")
    assert (rate[lab.index] > 3 * others.median()).all()
    assert (rate[lab[lab == "strong"].index] > others.quantile(0.99)).all()


def test_sick_leave_mill_certificates_without_treatment(synth_data: SyntheticData) -> None:
    d = synth_data
    p = _planted(d, "sick_leave_mill")
    assert (p["sick_leave_days"] > 0).all()
    beyond_exam = (
        p["total_cost"]
        - d.claim_lines[d.claim_lines["item_code"] == "02.1896"]
        .set_index("claim_id")["amount"]
        .reindex(p["claim_id"])
        .to_numpy()
    )
    assert beyond_exam.median() < 50_000
    rate = (
        d.claims.assign(cert=d.claims["sick_leave_days"] > 0).groupby("facility_id")["cert"].mean()
    )
    lab = d.labels[d.labels["scenario"] == "sick_leave_mill"]["entity_id"]
    others = rate.drop(d.labels["entity_id"], errors="ignore")
    assert (rate[lab] > 3 * others.median()).all()


def test_phantom_visits_are_thin_one_off_visits(synth_data: SyntheticData) -> None:
    d = synth_data
    p = _planted(d, "phantom_visits")
    n_lines = d.claim_lines.groupby("claim_id").size()
    assert (n_lines[p["claim_id"]] <= 2).all()
    # the cards "came" once: most have no other visit anywhere
    visits = d.claims.groupby("card_id").size()
    assert (visits[p["card_id"].unique()] == 1).mean() > 0.5
    # and almost nothing was done for them compared with the facility's real patients
    real = normal_claims(d).groupby("facility_id")["total_cost"].median()
    fake = p.groupby("facility_id")["total_cost"].median()
    assert (fake < 0.5 * real[fake.index]).all()


def _doctor_days(c: pd.DataFrame) -> pd.Series:
    out = c[c["visit_type"] != "inpatient"]
    return out.groupby(["facility_id", "doctor_id", out["admit_time"].dt.normalize()]).size()


def test_overloaded_doctors_exceed_the_cap_and_normal_doctors_never_do(
    synth_data: SyntheticData,
) -> None:
    d = synth_data
    load = _doctor_days(d.claims)
    lab = d.labels[d.labels["scenario"] == "doctor_overload"].set_index("entity_id")["variant"]
    worst = load.groupby("facility_id").max()
    assert (worst[lab.index] > CAP).all()
    days_over = (load > CAP).groupby("facility_id").sum()
    assert (days_over[lab[lab == "strong"].index] >= 2).all()
    assert _doctor_days(normal_claims(d)).max() <= CAP


@pytest.mark.parametrize(
    "kind", ["dialysis", "chemotherapy", "antenatal", "elderly_multimorbid", "frequent_child"]
)
def test_traps_are_heavy_but_legitimate(synth_data: SyntheticData, kind: str) -> None:
    d = synth_data
    ids = d.traps[d.traps["kind"] == kind]["entity_id"]
    visits = d.claims.groupby("card_id").size()
    assert len(ids) > 0
    assert not d.truth_claims["entity_id"].isin(ids).any()
    if kind in ("dialysis", "elderly_multimorbid", "frequent_child"):
        assert visits[ids].median() >= 2 * visits.median()
    if kind == "dialysis":
        assert visits[ids].median() >= 10 * MONTHS  # three sessions a week


def test_busy_district_hospitals_are_busy_within_the_cap(synth_data: SyntheticData) -> None:
    d = synth_data
    busy = d.traps[d.traps["kind"] == "busy_district_hospital"]["entity_id"]
    vol = d.claims.groupby("facility_id").size()
    district = d.facilities[d.facilities["tier"] == "district"]["facility_id"]
    assert vol[busy].median() > 1.5 * vol[district].median()
    assert _doctor_days(d.claims[d.claims["facility_id"].isin(busy)]).max() <= CAP
