"""Mapping files: shipped ones validate; renames, codes, formats, splits, constants work."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.errors import ConfigError
from claimguard.io import load_dataset
from claimguard.io.mapping import Mapping, load_mapping


def test_every_shipped_mapping_validates(repo: Path) -> None:
    shipped = sorted((repo / "configs" / "mappings").glob("*.yaml"))
    assert shipped, "no mapping files shipped"
    for path in shipped:
        m = load_mapping(path)
        assert isinstance(m, Mapping) and m.tables


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("tables: {claims: {columns: {claim_id: A}, typo: {}}}", "typo"),
        ("tables: {claims: {columns: {not_a_column: A}}}", "not_a_column"),
        ("tables: {bills: {}}", "bills"),
        ("tables: [", "YAML"),
    ],
)
def test_bad_mappings_are_rejected(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_mapping(p)
    assert fragment in str(exc.value) and str(p) in str(exc.value)


def test_foreign_layout_with_all_mapping_features(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text(
        """
name: test
tables:
  claims:
    columns: {claim_id: ID, card_id: [CARD, CARD_OLD], admit_time: VISIT, visit_type: TYPE,
              primary_dx: DX, total_cost: COST, patient_sex: SEX}
    values: {visit_type: {"1": outpatient, "3": inpatient}, patient_sex: {1: M, 2: F}}
    date_formats: {admit_time: ["%d/%m/%Y %H:%M", "%d/%m/%Y"]}
    split: {card_id: "|"}
    constants: {facility_id: "01001"}
  claim_lines:
    columns: {claim_id: ID, item_code: [DRUG, SERVICE], quantity: QTY, amount: AMT}
    presence: {line_type: {DRUG: drug, SERVICE: service}}
"""
    )
    d = tmp_path / "d"
    d.mkdir()
    pd.DataFrame(
        {
            "ID": ["1", "2", "3"],
            "CARD": ["C1|C9", "", "C3"],
            "CARD_OLD": ["", "C2", ""],
            "VISIT": ["15/01/2024 08:30", "16/01/2024", "32/01/2024"],
            "TYPE": ["1", "3", "1"],
            "DX": ["J06", "I10", "E11"],
            "COST": ["100", "200", "300"],
            "SEX": ["1", "2", "7"],
        }
    ).to_csv(d / "claims.csv", index=False)
    pd.DataFrame(
        {
            "ID": ["1", "2"],
            "DRUG": ["T1", ""],
            "SERVICE": ["", "S1"],
            "QTY": ["2", "1"],
            "AMT": ["5", "6"],
        }
    ).to_csv(d / "claim_lines.csv", index=False)
    ds = load_dataset(d, m)
    c = ds.claims
    assert c["card_id"].tolist() == ["C1", "C2"]
    assert c["facility_id"].tolist() == ["01001", "01001"]
    assert c["admit_time"].tolist() == [
        pd.Timestamp("2024-01-15 08:30"),
        pd.Timestamp("2024-01-16"),
    ]
    assert c["visit_type"].tolist() == ["outpatient", "inpatient"]
    assert c["patient_sex"].tolist() == ["M", "F"]
    assert ds.counts["claims"] == {"in": 3, "valid": 2, "quarantined": 1}
    assert "expected %d/%m/%Y %H:%M" in ds.quarantine["reason"].iloc[0]
    assert ds.claim_lines["line_type"].tolist() == ["drug", "service"]
    assert ds.claim_lines["item_code"].tolist() == ["T1", "S1"]


def test_flat_xml130_csv_converts(tmp_path: Path, repo: Path) -> None:
    d = tmp_path / "export"
    d.mkdir()
    pd.DataFrame(
        {
            "MA_LK": ["LK1", "LK2"],
            "MA_THE_BHYT": ["HS4010120878811", "DN4790000000001;DN4790000000002"],
            "MA_CSKCB": ["79001", "79001"],
            "NGAY_VAO": ["202401150830", "202401160900"],
            "MA_LOAI_KCB": ["01", "03"],
            "MA_BENH_CHINH": ["J06.9", "I10"],
            "T_TONGCHI_BH": ["38700", "1250000"],
            "GIOI_TINH": ["1", "2"],
        }
    ).to_csv(d / "claims.csv", index=False)
    out = tmp_path / "out"
    code = run(
        [
            "convert",
            str(d),
            "--out",
            str(out),
            "--mapping",
            str(repo / "configs/mappings/xml130_flat.yaml"),
        ]
    )
    assert code == 0
    claims = pd.read_parquet(out / "claims.parquet")
    assert claims["card_id"].tolist() == ["HS4010120878811", "DN4790000000001"]
    assert claims["visit_type"].astype(str).tolist() == ["outpatient", "inpatient"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tables"]["claims"] == {"in": 2, "valid": 2, "quarantined": 0}
    assert summary["invariant_rows_in_equals_valid_plus_quarantined"] is True


def test_validate_writes_quarantine_and_exits_0_with_bad_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "claims.csv").write_text(
        "claim_id,card_id,facility_id,admit_time,visit_type,primary_dx,total_cost\n"
        "1,C1,F1,2024-01-02,outpatient,J06,100\n"
        "2,C2,F1,2024-01-02,teleport,J06,100\n"
        "3,C3,F1,2024-01-02,outpatient,J06,-1\n"
    )
    code = run(["validate", str(d), "--out", str(tmp_path / "q")])
    out = capsys.readouterr().out
    assert code == 0
    q = pd.read_parquet(tmp_path / "q" / "quarantine.parquet")
    assert sorted(q["column"]) == ["total_cost", "visit_type"]
    assert "quarantined" in out and "unknown value" in out


def test_value_map_on_a_text_column(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text("tables:\n  claims:\n    values: {facility_id: {OLD1: '79001'}}\n")
    p = tmp_path / "claims.csv"
    p.write_text(
        "claim_id,card_id,facility_id,admit_time,visit_type,primary_dx,total_cost\n"
        "1,C1,OLD1,2024-01-02,outpatient,J06,1\n2,C2,79002,2024-01-02,outpatient,J06,1\n"
    )
    assert load_dataset(p, m).claims["facility_id"].tolist() == ["79001", "79002"]
