"""`claimguard monitor` end to end: generated drifting months -> indicators and warnings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.features.monthly import TIDY_COLUMNS
from claimguard.schema import SIGNALS
from claimguard.scoring.warnings import WARNING_COLUMNS


def test_monitor_on_a_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    assert run(["monitor", str(tmp_path / "nope"), "--model", "m.joblib", "--out", "o"]) == 2


@pytest.mark.slow
def test_monitor_warns_a_drifting_facility(synthetic_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    assert run(["-q", "train", str(synthetic_dir), "--model-out", str(model)]) == 0
    data = tmp_path / "year"
    assert run(["-q", "generate", str(data), "-n", "240000", "-s", "1", "--months", "12"]) == 0
    labels = pd.read_csv(data / "labels.csv", dtype=str)
    drift = labels[labels["variant"] == "drift"].set_index("entity_id")["start_month"]
    assert len(drift) >= 2 and drift.notna().all()
    out = tmp_path / "monitor"
    assert run(["-q", "monitor", str(data), "--model", str(model), "--out", str(out)]) == 0
    ind = pd.read_parquet(out / "indicators.parquet")
    assert list(ind.columns) == list(TIDY_COLUMNS)
    assert ind["month"].nunique() == 12
    assert {"facility", "province", "fund"} == set(ind["level"])
    w = pd.read_parquet(out / "warnings.parquet")
    assert list(w.columns) == list(WARNING_COLUMNS)
    assert set(w["signal"]) <= set(SIGNALS)
    assert pd.read_csv(out / "warnings.csv").shape[0] == len(w)
    fw = w[(w["level"] == "facility") & w["facility"].isin(drift.index)]
    warned_after_start = fw[fw["month"] >= fw["facility"].map(drift)]
    assert not warned_after_start.empty
    # --months keeps only the last N months
    out3 = tmp_path / "last3"
    args = ["-q", "monitor", str(data), "--model", str(model), "--out", str(out3), "--months", "3"]
    assert run(args) == 0
    assert pd.read_parquet(out3 / "indicators.parquet")["month"].nunique() == 3
