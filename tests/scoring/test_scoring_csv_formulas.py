"""alerts.csv is opened by reviewers in spreadsheets: hostile facility ids from the input are
neutralised there, while alerts.parquet (read by the triage app) keeps the raw values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from claimguard.cli import run
from claimguard.synth.generate import generate, write_synthetic

HOSTILE = ['=HYPERLINK("http://evil.example/x","click")', "+1", "-2", "@x"]


def test_hostile_ids_are_neutralised_in_alerts_csv_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_synthetic(generate(3000, seed=3, start="2024-01-01", months=1), data)
    first = pd.read_parquet(data / "facilities.parquet")["facility_id"].astype(str)[:4]
    rename = dict(zip(first, HOSTILE, strict=True))
    for name in ("claims", "facilities", "cards"):
        df = pd.read_parquet(data / f"{name}.parquet")
        for c in df.columns:
            if "facility" in c:
                df[c] = df[c].astype(object).map(lambda v: rename.get(v, v))
        df.to_parquet(data / f"{name}.parquet", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(  # every facility alerted, so all four hostile ids are in the queue
        "model:\n  n_estimators: 20\n  max_samples: 512\n"
        "scoring:\n  review_capacity_cards: 5\n  review_capacity_facilities: 1000\n"
    )
    model = tmp_path / "m.joblib"
    assert run(["train", str(data), "-c", str(cfg), "--model-out", str(model)]) == 0
    out = tmp_path / "scored"
    assert run(["score", str(data), "--model", str(model), "--out", str(out), "-c", str(cfg)]) == 0
    raw = pd.read_parquet(out / "alerts.parquet")
    assert set(HOSTILE) <= set(raw["entity_id"])
    csv = pd.read_csv(out / "alerts.csv", dtype=str, keep_default_na=False)
    assert list(csv["alert_id"]) == list(raw["alert_id"])
    for column in csv.columns:
        assert not csv[column].str.match(r"[=+\-@\t\r]").any(), column
    assert {"'" + h for h in HOSTILE} <= set(csv["entity_id"])
