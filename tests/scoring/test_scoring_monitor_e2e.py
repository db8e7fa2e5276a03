"""`claimguard monitor` end to end: generated drifting months -> indicators and warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.features.monthly import TIDY_COLUMNS
from claimguard.io.extracts import split_by_month
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
    # one folder per monthly extract, read one at a time: the same indicators and warnings
    extracts = split_by_month(data, tmp_path / "extracts")
    assert len(extracts) == 12
    out_x = tmp_path / "from_extracts"
    assert (
        run(["-q", "monitor", str(tmp_path / "extracts"), "--model", str(model), "-o", str(out_x)])
        == 0
    )
    key = ["level", "facility", "month", "indicator"]
    a = ind.sort_values(key).reset_index(drop=True)
    b = pd.read_parquet(out_x / "indicators.parquet").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
    wx = pd.read_parquet(out_x / "warnings.parquet")
    key_w = ["facility", "month", "indicator"]
    assert sorted(map(tuple, wx[key_w].to_numpy())) == sorted(map(tuple, w[key_w].to_numpy()))
    assert json.loads((out_x / "monitor.json").read_text())["extracts"] == [
        str(e) for e in extracts
    ]
    out_x3 = tmp_path / "from_extracts_last3"
    args = ["-q", "monitor", str(tmp_path / "extracts"), "--model", str(model), "-o", str(out_x3)]
    assert run([*args, "--months", "3"]) == 0
    assert pd.read_parquet(out_x3 / "indicators.parquet")["month"].nunique() == 3
