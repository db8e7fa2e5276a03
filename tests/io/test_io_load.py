"""load_dataset on dataset folders and single files: canonical types and the quarantine policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from claimguard.io import load_dataset, write_dataset
from claimguard.io.contract import canonical_schema
from claimguard.schema import QUARANTINE_COLUMNS, TABLES
from tests.io.io_frames import make_dataset, write_folder

NAMES = ("claims", "claim_lines", "facilities", "cards")


def _invariant(ds) -> None:
    for name, c in ds.counts.items():
        assert c["in"] == c["valid"] + c["quarantined"], name
        assert c["valid"] == len(ds.table(name))
        q = ds.quarantine[
            (ds.quarantine["table"] == name) & (ds.quarantine["action"] == "quarantined")
        ]
        assert q[["source_file", "source_row"]].drop_duplicates().shape[0] == c["quarantined"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_valid_folder_reads_back_equal_with_canonical_types(tmp_path: Path, fmt: str) -> None:
    ds = make_dataset(30, seed=1)
    write_folder(ds, tmp_path / "d", fmt)
    back = load_dataset(tmp_path / "d")
    for name in NAMES:
        pd.testing.assert_frame_equal(back.table(name), ds.table(name))
        canonical_schema(name).validate(back.table(name))
    assert len(back.quarantine) == 0
    assert list(back.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert set(back.sources) == {str(tmp_path / "d" / f"{n}.{fmt}") for n in NAMES}
    assert all(len(h) == 64 for h in back.sources.values())
    _invariant(back)


def test_ids_stay_strings_and_labels_are_read(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "claims.csv").write_text(
        "claim_id,card_id,facility_id,admit_time,visit_type,primary_dx,total_cost\n"
        "0012,0099,01001,2024-01-02 08:30,outpatient,J06,100\n"
        "0013,0100,01001,2024-01-03,inpatient,J06,200.5\n"
    )
    (d / "labels.csv").write_text(
        "entity_type,entity_id,scenario,note\ncard,0099,borrowed_card,x\n"
    )
    ds = load_dataset(d)
    assert ds.claims["claim_id"].tolist() == ["0012", "0013"]
    assert ds.claims["facility_id"].tolist() == ["01001", "01001"]
    assert str(ds.claims["card_id"].dtype) == "str"
    assert ds.labels is not None and list(ds.labels.columns)[-1] == "note"
    assert ds.labels["entity_id"].tolist() == ["0099"]
    # a Parquet file with integer ids turns them into digits, never "99.0"
    pd.DataFrame(
        {
            "claim_id": [1, 2],
            "card_id": [99.0, np.nan],
            "facility_id": [1001, 1001],
            "admit_time": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "visit_type": ["outpatient", "outpatient"],
            "primary_dx": ["J06", "J06"],
            "total_cost": [1, 2],
        }
    ).to_parquet(tmp_path / "c.parquet")
    one = load_dataset(tmp_path / "c.parquet")
    assert one.claims["card_id"].tolist() == ["99"]  # the row without a card is quarantined
    assert one.counts["claims"] == {"in": 2, "valid": 1, "quarantined": 1}


def test_quarantine_policy(tmp_path: Path) -> None:
    ds = make_dataset(12, seed=2)
    c = ds.claims.astype({"total_cost": "object", "patient_sex": "object"}).copy()
    c.loc[1, "total_cost"] = -5.0  # required -> quarantined
    c.loc[2, "patient_sex"] = "X"  # optional -> nulled
    c.loc[3, "discharge_time"] = c.loc[3, "admit_time"] - pd.Timedelta(days=2)  # nulled
    c.loc[4, "claim_id"] = c.loc[0, "claim_id"]  # duplicate -> later copy quarantined
    dup_id = c.loc[4, "claim_id"]
    ds.claims = c
    lines = ds.claim_lines.copy()
    lines.loc[0, "claim_id"] = "NOSUCHCLAIM"
    ds.claim_lines = lines
    folder = tmp_path / "d"
    write_folder(ds, folder, "csv")
    back = load_dataset(folder)
    _invariant(back)
    q = back.quarantine
    assert back.counts["claims"]["quarantined"] == 2
    assert (back.claims["claim_id"] == dup_id).sum() == 1
    assert (
        back.claims.loc[back.claims["claim_id"] == dup_id, "card_id"].iloc[0] == c.loc[0, "card_id"]
    )
    cost = q[(q["column"] == "total_cost")]
    assert cost["action"].tolist() == ["quarantined"] and cost["source_row"].tolist() == [2]
    assert json.loads(cost["raw"].iloc[0])["total_cost"] == "-5.0"
    sex = q[q["column"] == "patient_sex"]
    assert sex["action"].tolist() == ["nulled"]
    kept = back.claims.set_index("claim_id")
    assert pd.isna(kept.loc[c.loc[2, "claim_id"], "patient_sex"])
    assert pd.isna(kept.loc[c.loc[3, "claim_id"], "discharge_time"])
    quarantined_claim = c.loc[1, "claim_id"]
    lq = q[q["table"] == "claim_lines"]
    assert set(lq["reason"]) == {"claim_id not among the claims", "its claim was quarantined"}
    n_lines_of_bad = (ds.claim_lines["claim_id"] == quarantined_claim).sum()
    assert (lq["reason"] == "its claim was quarantined").sum() == n_lines_of_bad
    assert not back.claim_lines["claim_id"].isin(["NOSUCHCLAIM", quarantined_claim]).any()


def test_duplicate_facility_and_card_ids_keep_first(tmp_path: Path) -> None:
    ds = make_dataset(10, seed=3)
    ds.facilities = pd.concat([ds.facilities, ds.facilities.iloc[[0]]], ignore_index=True)
    ds.cards = pd.concat([ds.cards, ds.cards.iloc[[0, 1]]], ignore_index=True)
    write_folder(ds, tmp_path / "d", "parquet")
    back = load_dataset(tmp_path / "d")
    assert back.counts["facilities"]["quarantined"] == 1
    assert back.counts["cards"]["quarantined"] == 2
    assert back.facilities["facility_id"].is_unique and back.cards["card_id"].is_unique
    _invariant(back)


def test_write_dataset_round_trip(tmp_path: Path) -> None:
    ds = make_dataset(15, seed=4)
    write_folder(ds, tmp_path / "in", "csv")
    loaded = load_dataset(tmp_path / "in")
    s = write_dataset(loaded, tmp_path / "out")
    assert s["invariant_rows_in_equals_valid_plus_quarantined"]
    assert s["tables"]["claims"] == {"in": 15, "valid": 15, "quarantined": 0}
    again = load_dataset(tmp_path / "out")
    for name in NAMES:
        pd.testing.assert_frame_equal(again.table(name), loaded.table(name))
    assert list(pd.read_parquet(tmp_path / "out" / "quarantine.parquet").columns) == list(
        QUARANTINE_COLUMNS
    )


def test_absent_optional_columns_are_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = make_dataset(5, seed=5)
    ds.claims = ds.claims[TABLES["claims"].required]
    ds.claim_lines = ds.facilities = ds.cards = None
    write_folder(ds, tmp_path / "d", "csv")
    with caplog.at_level("INFO", logger="claimguard"):
        back = load_dataset(tmp_path / "d")
    assert list(back.claims.columns) == TABLES["claims"].required
    assert back.claim_lines is None
    msg = [r.getMessage() for r in caplog.records if "Absent optional" in r.getMessage()]
    assert len(msg) == 1 and "patient_sex" in msg[0] and "claim_lines" in msg[0]
