"""`claimguard features DATA --out DIR` end to end on the synthetic dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from claimguard.cli import run
from claimguard.features.catalog import features_for


def test_features_command_writes_tables(synthetic_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "features"
    assert run(["features", str(synthetic_dir), "--out", str(out)]) == 0
    card = pd.read_parquet(out / "card_features.parquet")
    facility = pd.read_parquet(out / "facility_features.parquet")
    flags = pd.read_parquet(out / "claim_flags.parquet")
    claims = pd.read_parquet(synthetic_dir / "claims.parquet")
    assert card.index.name == "card_id" and set(card.index) == set(claims["card_id"])
    assert facility.index.name == "facility_id"
    assert list(card.columns) == [s.name for s in features_for("card")]
    assert list(facility.columns) == [s.name for s in features_for("facility")]
    assert len(flags) == len(claims)
    assert json.loads((out / "switched_off.json").read_text()) == {}


def test_features_command_switches_off_and_reports_bad_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(
        {
            "claim_id": ["C1", "C2"],
            "card_id": ["A", "A"],
            "facility_id": ["F1", "F2"],
            "admit_time": ["2024-01-01 08:00", "2024-01-03 09:00"],
            "visit_type": ["outpatient", "outpatient"],
            "primary_dx": ["J06.9", "I10"],
            "total_cost": [100000, 250000],
        }
    ).to_csv(data / "claims.csv", index=False)
    out = tmp_path / "out"
    assert run(["features", str(data), "--out", str(out)]) == 0
    off = json.loads((out / "switched_off.json").read_text())
    assert "card_overlap_days" in off and "facility_tests_per_visit_ratio_to_peers" in off
    card = pd.read_parquet(out / "card_features.parquet")
    assert card.loc["A", "card_visits_count"] == 2
    assert run(["features", str(tmp_path / "missing"), "--out", str(out)]) == 2
