"""Invariants of generated data: ids, totals, canonical dtypes, labels, determinism."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from claimguard import schema
from claimguard.errors import UserError
from claimguard.schema import CARD_SCENARIOS, FACILITY_SCENARIOS
from claimguard.synth import catalog as cat
from claimguard.synth.generate import SyntheticData, generate, write_synthetic

from .conftest import CLAIMS

TRAP_KINDS = {
    "dialysis",
    "chemotherapy",
    "antenatal",
    "elderly_multimorbid",
    "frequent_child",
    "central_hospital",
    "busy_district_hospital",
}


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_exact_claim_count_and_unique_ids(synth_data: SyntheticData) -> None:
    d = synth_data
    assert len(d.claims) == CLAIMS
    assert d.claims["claim_id"].is_unique
    assert d.cards["card_id"].is_unique
    assert d.facilities["facility_id"].is_unique
    assert set(d.claim_lines["claim_id"]) == set(d.claims["claim_id"])
    assert d.claims["card_id"].isin(d.cards["card_id"]).all()
    assert d.claims["facility_id"].isin(d.facilities["facility_id"]).all()
    assert d.claims["referral_from"].dropna().isin(d.facilities["facility_id"]).all()


def test_canonical_columns_and_dtypes(synth_data: SyntheticData) -> None:
    for table in schema.TABLES.values():
        df = getattr(synth_data, table.name)
        assert list(df.columns) == table.names, table.name
        for col in table.columns:
            s = df[col.name]
            if col.kind in ("id", "str"):
                assert s.dtype == pd.StringDtype(na_value=np.nan), (table.name, col.name)
            elif col.kind in ("datetime", "date"):
                assert s.dtype == "datetime64[ns]", (table.name, col.name)
            elif col.kind == "float":
                assert s.dtype == np.float64, (table.name, col.name)
            else:
                assert isinstance(s.dtype, pd.CategoricalDtype)
                assert list(s.cat.categories) == list(col.enum), (table.name, col.name)
            if col.required:
                assert s.notna().all(), (table.name, col.name)
            if col.min_value is not None:
                assert (s.dropna() >= col.min_value).all(), (table.name, col.name)


def test_totals_equal_sum_of_lines(synth_data: SyntheticData) -> None:
    c = synth_data.claims.set_index("claim_id")
    lines = synth_data.claim_lines
    by = lines.groupby("claim_id")["amount"].sum()
    assert np.allclose(c["total_cost"], by.reindex(c.index))
    for kind, col in (("drug", "drug_cost"), ("supply", "supply_cost")):
        part = lines[lines["line_type"] == kind].groupby("claim_id")["amount"].sum()
        assert np.allclose(c[col], part.reindex(c.index).fillna(0.0))
    # the fund pays the benefit level's share (level = 3rd character of the card number)
    share = c["card_id"].str[2].astype(int).map(dict(enumerate(cat.BENEFIT_SHARE)))
    assert np.allclose(c["insurance_paid"], np.round(c["total_cost"] * share))
    assert (c["insurance_paid"] <= c["total_cost"]).all()
    # every visit bills one examination; drug lines carry days supply
    exams = lines[lines["item_code"] == "02.1896"].groupby("claim_id").size()
    assert (exams.reindex(c.index) == 1).all()
    drugs = lines[lines["line_type"] == "drug"]
    assert drugs["days_supply"].notna().all() and (drugs["days_supply"] > 0).all()
    assert lines.loc[lines["line_type"] != "drug", "days_supply"].isna().all()


def test_card_numbers_and_registration(synth_data: SyntheticData) -> None:
    cards = synth_data.cards
    assert cards["card_id"].str.fullmatch(r"[A-Z]{2}[1-5]\d{2}\d{10}").all()
    assert cards["card_id"].str[3:5].equals(cards["province"])
    assert cards["province"].nunique() == 63
    fac = synth_data.facilities.set_index("facility_id")
    reg = fac.loc[cards["registered_facility_id"]]
    assert (reg["province"].to_numpy() == cards["province"].to_numpy()).all()
    assert set(reg["tier"]) <= {"commune", "district", "private", "provincial"}
    # children under 6 hold TE cards, and TE cards belong to children
    age = (pd.Timestamp("2024-03-01") - cards["birth_date"]).dt.days / 365.25
    te = cards["card_id"].str[:2] == "TE"
    assert (age[te] < 6).all()
    # visits carry the card's own registry values
    m = synth_data.claims.merge(cards, on="card_id")
    assert (m["patient_birth_date"] == m["birth_date"]).all()
    assert (m["registered_facility_id_x"] == m["registered_facility_id_y"]).all()
    assert (m["card_valid_to"] == m["valid_to"]).all()


def test_facilities_by_tier(synth_data: SyntheticData) -> None:
    fac = synth_data.facilities
    assert fac["facility_id"].str.fullmatch(r"\d{5}").all()
    assert set(fac["tier"]) == set(schema.TIERS)
    assert (
        fac.groupby("province")["tier"]
        .apply(lambda t: {"provincial", "district", "commune"} <= set(t))
        .all()
    )
    beds = fac.groupby("tier", observed=True)["beds"].median()
    assert beds["central"] > beds["provincial"] > beds["district"] > beds["commune"]


def test_labels_traps_and_truth(synth_data: SyntheticData) -> None:
    d = synth_data
    lab, truth, traps = d.labels, d.truth_claims, d.traps
    assert list(lab.columns) == ["entity_type", "entity_id", "scenario", "variant"]
    assert list(truth.columns) == ["claim_id", "entity_type", "entity_id", "scenario"]
    assert set(lab["scenario"]) == set(CARD_SCENARIOS) | set(FACILITY_SCENARIOS)
    assert (lab.groupby("scenario")["variant"].nunique() == 2).all()
    cards = lab[lab["entity_type"] == "card"]
    facs = lab[lab["entity_type"] == "facility"]
    assert set(cards["scenario"]) == set(CARD_SCENARIOS)
    assert set(facs["scenario"]) == set(FACILITY_SCENARIOS)
    assert cards["entity_id"].isin(d.cards["card_id"]).all()
    assert facs["entity_id"].isin(d.facilities["facility_id"]).all()
    assert not lab.duplicated(["entity_type", "entity_id"]).any()
    assert truth["claim_id"].is_unique and truth["claim_id"].isin(d.claims["claim_id"]).all()
    key = ["entity_type", "entity_id", "scenario"]
    assert (
        truth[key].drop_duplicates().merge(lab, on=key).shape[0]
        == truth[key].drop_duplicates().shape[0]
    )
    assert lab[key].merge(truth[key].drop_duplicates(), on=key).shape[0] == len(lab)
    assert set(traps["kind"]) == TRAP_KINDS
    assert not traps["entity_id"].isin(lab["entity_id"]).any()


def test_every_ineligible_claim_is_planted(synth_data: SyntheticData) -> None:
    """Normal care never happens outside validity or after death: those claims are planted."""
    c = synth_data.claims.merge(synth_data.cards[["card_id", "death_date"]], on="card_id")
    day = c["admit_time"].dt.normalize()
    bad = (day > c["card_valid_to"]) | (day < c["card_valid_from"]) | (day > c["death_date"])
    assert bad.sum() > 0
    assert c.loc[bad, "claim_id"].isin(synth_data.truth_claims["claim_id"]).all()


def test_same_seed_same_files_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_synthetic(generate(3_000, seed=seed), tmp_path / name)
    a, b, c = (_hashes(tmp_path / x) for x in "abc")
    assert a == b
    assert set(a) == {
        "claims.parquet",
        "claim_lines.parquet",
        "facilities.parquet",
        "cards.parquet",
        "labels.csv",
        "traps.csv",
        "truth_claims.parquet",
    }
    assert a["claims.parquet"] != c["claims.parquet"]
    assert a["claim_lines.parquet"] != c["claim_lines.parquet"]


def test_loads_through_io_without_quarantine(synthetic_dir: Path) -> None:
    from claimguard.io.load import load_dataset

    ds = load_dataset(synthetic_dir)
    assert len(ds.quarantine) == 0
    assert len(ds.claims) == 20_000
    assert ds.labels is not None and len(ds.labels) > 0


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"claims": 100}, "claims"),
        ({"months": 0}, "months"),
        ({"abuse_rate": 0.5}, "abuse"),
        ({"start": "someday"}, "start"),
    ],
)
def test_bad_arguments_raise_user_error(kwargs: dict, word: str) -> None:
    args = {"claims": 5_000, "seed": 1} | kwargs
    with pytest.raises(UserError, match=word):
        generate(**args)


def test_no_abuse_rate_plants_nothing() -> None:
    d = generate(4_000, seed=3, abuse_rate=0.0)
    assert len(d.labels) == 0 and len(d.truth_claims) == 0 and len(d.claims) == 4_000
