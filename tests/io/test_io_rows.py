"""Row-level details: CSV lines that cannot be split, row numbers, key checks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from claimguard.io import load_dataset

HEADER = "claim_id,card_id,facility_id,admit_time,visit_type,primary_dx,total_cost\n"


def _row(i: int) -> str:
    return f"{i},C{i},F1,2024-01-02,outpatient,J06,{i}\n"


def test_malformed_csv_lines_are_quarantined_with_their_row_numbers(tmp_path: Path) -> None:
    body = [_row(1), "2,C2,F1\n", _row(3), '4,"C4,F1,2024-01-02,outpatient,J06,4\n', _row(5)]
    p = tmp_path / "claims.csv"
    p.write_text(HEADER + "".join(body))
    ds = load_dataset(p)
    assert (
        ds.counts["claims"]["in"]
        == ds.counts["claims"]["valid"] + ds.counts["claims"]["quarantined"]
    )
    q = ds.quarantine
    assert 2 in q["source_row"].tolist()
    assert "header's 7 fields" in q["reason"].iloc[0]
    assert json.loads(q["raw"].iloc[0])["line"].startswith("2,C2")
    assert "1" in ds.claims["claim_id"].tolist() and "3" in ds.claims["claim_id"].tolist()


def test_huge_strings_and_stray_whitespace(tmp_path: Path) -> None:
    p = tmp_path / "claims.csv"
    p.write_text(
        HEADER
        + _row(1)
        + f"{'x' * 100_000},C2,F1,2024-01-02,outpatient,J06,1\n"
        + " 3 ,C3,F1,2024-01-02, outpatient ,J06, 7 \n"
    )
    ds = load_dataset(p)
    assert ds.claims["claim_id"].tolist() == ["1", "3"]
    assert ds.claims["total_cost"].tolist() == [1.0, 7.0]
    raw = json.loads(ds.quarantine["raw"].iloc[0])
    assert len(raw["claim_id"]) < 300  # the quarantine keeps a cut of huge values


def test_csv_with_byte_order_mark_keeps_leading_zeros(tmp_path: Path) -> None:
    p = tmp_path / "claims.csv"
    p.write_bytes(("\ufeff" + HEADER + "0012,C1,F1,2024-01-02,outpatient,J06,1\n").encode("utf-8"))
    ds = load_dataset(p)
    assert ds.claims["claim_id"].tolist() == ["0012"]


def test_implausible_amounts_are_quarantined_or_emptied(tmp_path: Path) -> None:
    """Amounts of 1e200..1e308 pass as finite numbers; above the schema's plausible maximum
    a required amount quarantines the claim and an optional one is emptied."""
    from claimguard.schema import MAX_VND

    p = tmp_path / "claims.csv"
    rows = [_row(i) for i in range(1, 6)]
    rows[1] = "2,C2,F1,2024-01-02,outpatient,J06,1e250\n"
    rows[3] = "4,C4,F1,2024-01-02,outpatient,J06,1.7e308\n"
    p.write_text(
        HEADER.replace("total_cost", "total_cost,drug_cost").replace("\n", "")
        + "\n"
        + "".join(r.rstrip("\n") + (",1e200\n" if r.startswith("5,") else ",10\n") for r in rows)
    )
    ds = load_dataset(p)
    c = ds.counts["claims"]
    assert c["in"] == c["valid"] + c["quarantined"] == 5 and c["quarantined"] == 2
    q = ds.quarantine
    assert set(q.loc[q["action"] == "quarantined", "source_row"]) == {2, 4}
    assert q.loc[q["action"] == "quarantined", "reason"].str.contains("plausible").all()
    five = ds.claims.loc[ds.claims["claim_id"] == "5"]
    assert five["drug_cost"].isna().all()  # the optional amount is emptied, the claim kept
    assert (ds.claims["total_cost"] <= MAX_VND).all()


def test_offsets_are_converted_to_local_time_row_by_row(tmp_path: Path) -> None:
    """One +07:00 row among plain rows, a Z row and a -05:00 row: each converted to the
    fund's local time (Asia/Ho_Chi_Minh, UTC+7); an unreadable offset quarantines its row."""
    p = tmp_path / "claims.csv"
    times = [
        "2024-01-02 08:00",
        "2024-01-02T08:00:00+07:00",
        "2024-01-02T01:00:00Z",
        "2024-01-01T20:00-05:00",
        "2024-01-02T08:00+99:99",
    ]
    body = "".join(f"{i},C{i},F1,{t},outpatient,J06,{i}\n" for i, t in enumerate(times, 1))
    p.write_text(HEADER + body)
    ds = load_dataset(p)
    c = ds.counts["claims"]
    assert c["in"] == c["valid"] + c["quarantined"] == 5 and c["quarantined"] == 1
    got = ds.claims.set_index("claim_id")["admit_time"]
    assert set(got.index) == {"1", "2", "3", "4"}
    assert (got == pd.Timestamp("2024-01-02 08:00")).all()
    assert ds.quarantine["source_row"].tolist() == [5]


def test_timezone_aware_parquet_is_converted_and_a_mapping_may_name_the_zone(
    tmp_path: Path,
) -> None:
    from claimguard.io.mapping import Mapping

    frame = pd.DataFrame(
        {
            "claim_id": ["1", "2"],
            "card_id": ["C1", "C2"],
            "facility_id": ["F1", "F1"],
            "admit_time": pd.to_datetime(["2024-01-02 01:00", "2024-01-02 02:00"]).tz_localize(
                "UTC"
            ),
            "visit_type": ["outpatient", "outpatient"],
            "primary_dx": ["J06", "J06"],
            "total_cost": [1.0, 2.0],
        }
    )
    frame.to_parquet(tmp_path / "claims.parquet")
    local = load_dataset(tmp_path / "claims.parquet").claims["admit_time"]
    assert local.tolist() == [pd.Timestamp("2024-01-02 08:00"), pd.Timestamp("2024-01-02 09:00")]
    utc = load_dataset(tmp_path / "claims.parquet", Mapping(timezone="UTC")).claims["admit_time"]
    assert utc.tolist() == [pd.Timestamp("2024-01-02 01:00"), pd.Timestamp("2024-01-02 02:00")]


def test_nul_bytes_and_overlong_codes_are_quarantined_or_emptied(tmp_path: Path) -> None:
    """A NUL byte inside a value (only the header used to be checked) and a diagnosis longer
    than the schema's limit (which is also the triage database's column size)."""
    from claimguard.schema import CLAIMS

    limit = next(c for c in CLAIMS.columns if c.name == "primary_dx").byte_limit
    p = tmp_path / "claims.csv"
    head = HEADER.rstrip("\n") + ",secondary_dx\n"
    rows = [
        "1,C1,F1,2024-01-02,outpatient,J06,1,E11\n",
        "2,C\x002,F1,2024-01-02,outpatient,J06,2,E11\n",  # required id: quarantined
        "3,C3,F1,2024-01-02,outpatient,J06,3,E1\x001\n",  # optional text: emptied
        f"4,C4,F1,2024-01-02,outpatient,{'J' * (limit + 1)},4,E11\n",  # required: quarantined
    ]
    p.write_bytes((head + "".join(rows)).encode())
    ds = load_dataset(p)
    c = ds.counts["claims"]
    assert c["in"] == c["valid"] + c["quarantined"] == 4 and c["quarantined"] == 2
    q = ds.quarantine.set_index("source_row")
    assert q.loc[2, "reason"] == "contains a NUL byte" and q.loc[2, "action"] == "quarantined"
    assert q.loc[3, "action"] == "nulled" and q.loc[3, "column"] == "secondary_dx"
    assert f"longer than {limit} bytes" in q.loc[4, "reason"]
    kept = ds.claims.set_index("claim_id")
    assert sorted(kept.index) == ["1", "3"] and pd.isna(kept.loc["3", "secondary_dx"])
    assert not ds.claims["card_id"].str.contains("\x00").any()


def test_lookalike_card_numbers_are_one_card_and_counted(tmp_path: Path) -> None:
    """Fullwidth digits, a zero-width space and lowercase letters: the same card, normalised
    (the row kept), recorded in the quarantine as ``normalised`` and counted in the summary."""
    from claimguard.io.write import summary

    p = tmp_path / "claims.csv"
    ids = [
        "HS4010120878811",
        "HS４０１０１２０８７８８１１",
        "HS401012087\u200b8811",
        "hs4010120878811",
    ]
    body = "".join(f"{i},{c},F1,2024-01-02,outpatient,J06,{i}\n" for i, c in enumerate(ids, 1))
    p.write_text(HEADER + body, encoding="utf-8")
    ds = load_dataset(p)
    assert ds.counts["claims"] == {"in": 4, "valid": 4, "quarantined": 0}
    assert set(ds.claims["card_id"]) == {"HS4010120878811"}
    q = ds.quarantine
    assert q["action"].tolist() == ["normalised"] * 3 and q["source_row"].tolist() == [2, 3, 4]
    assert json.loads(q["raw"].iloc[0])["card_id"] == ids[1]
    assert summary(ds)["normalised_card_ids"] == 3


def test_a_parquet_list_column_is_quarantined_not_read_as_text(tmp_path: Path) -> None:
    """A list where one value belongs used to be accepted as the text "[1 2]"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tbl = pa.table(
        {
            "claim_id": ["1", "2"],
            "card_id": ["C1", "C2"],
            "facility_id": ["F1", "F1"],
            "admit_time": ["2024-01-02", "2024-01-02"],
            "visit_type": ["outpatient", "outpatient"],
            "primary_dx": ["J06", "J06"],
            "total_cost": [1.0, 2.0],
            "secondary_dx": pa.array([["E11", "I10"], None], pa.list_(pa.string())),
            "doctor_id": pa.array([[1, 2], [3]], pa.list_(pa.int64())),
        }
    )
    pq.write_table(tbl, tmp_path / "claims.parquet")
    ds = load_dataset(tmp_path / "claims.parquet")
    assert ds.counts["claims"] == {"in": 2, "valid": 2, "quarantined": 0}
    q = ds.quarantine
    nested = q[q["reason"] == "a list or structure, not a single value"]
    assert sorted(zip(nested["column"], nested["source_row"], strict=True)) == [
        ("doctor_id", 1),
        ("doctor_id", 2),
        ("secondary_dx", 1),
    ]
    assert (nested["action"] == "nulled").all()
    assert ds.claims["doctor_id"].isna().all() and ds.claims["secondary_dx"].isna().all()
