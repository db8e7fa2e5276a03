"""``claimguard train`` and ``claimguard score`` with ``--engine spark`` (local[2]).

What is equal, precisely:
- a bundle trained on Spark, scored on Spark and scored locally: the same
  ``scores.parquet`` ids and ranks, scores to 1e-6, the same alert ids, reasons and
  evidence claims, the same triage context tables;
- a bundle trained on Spark and one trained locally on the same month (fewer entities
  than ``model.max_fit_rows``, so the forest's sample is every entity, in the local
  table's order): the same features, peers and model version inputs (feature names,
  statistics to float tolerance), and forest and final scores of every entity to 1e-6.
  The bundles' content hashes differ (float-level differences in the features).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")

from claimguard.cli import run  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SPARK = ["--engine", "spark", "--spark-master", "local[2]"]


@pytest.fixture(scope="module")
def trained(spark: Any, small_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One bundle trained on Spark and one locally, on the small month (30 trees)."""
    root = tmp_path_factory.mktemp("spark_jobs")
    cfg = root / "config.yaml"
    cfg.write_text("model:\n  n_estimators: 30\nspark:\n  shuffle_partitions: 3\n")
    paths = {"cfg": cfg, "spark": root / "spark.joblib", "local": root / "local.joblib"}
    base = ["train", str(small_dir), "--config", str(cfg), "--model-out"]
    assert run([*base, str(paths["spark"]), *SPARK]) == 0
    assert run([*base, str(paths["local"])]) == 0
    return paths


def test_a_bundle_trained_on_spark_equals_the_local_training(
    trained: dict, small_dir: Path
) -> None:
    from claimguard.features.build import build_features
    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import load_bundle

    on_spark, local = load_bundle(trained["spark"]), load_bundle(trained["local"])
    assert on_spark.feature_names == local.feature_names
    for entity, stats in local.feature_stats.items():
        got = on_spark.feature_stats[entity]
        num = [c for c in stats.columns if pd.api.types.is_numeric_dtype(stats[c])]
        pd.testing.assert_frame_equal(got[num], stats[num], rtol=1e-5, atol=1e-6)
    assert on_spark.fingerprint["fit_sample_rows"] == on_spark.fingerprint["n_feature_rows"]
    ds = load_dataset(small_dir)
    fs = build_features(
        ds.claims, ds.claim_lines, ds.cards, ds.facilities,
        peers=local.peers, settings=local.settings.features,
    )  # fmt: skip
    a, b = on_spark.score(fs), local.score(fs)
    for entity in ("card", "facility"):
        for col in ("forest_score", "score"):
            np.testing.assert_allclose(a[entity][col], b[entity][col], rtol=1e-6, atol=1e-6)


def test_score_on_spark_writes_the_local_folder(
    trained: dict, small_dir: Path, tmp_path: Path
) -> None:
    model, cfg = str(trained["spark"]), str(trained["cfg"])
    base = ["score", str(small_dir), "--model", model, "--config", cfg, "--out"]
    assert run([*base, str(tmp_path / "spark"), *SPARK]) == 0
    assert run([*base, str(tmp_path / "local")]) == 0
    got, want = tmp_path / "spark", tmp_path / "local"
    assert {p.name for p in got.iterdir()} == {p.name for p in want.iterdir()} | {"scores"}
    s, w = pd.read_parquet(got / "scores.parquet"), pd.read_parquet(want / "scores.parquet")
    assert list(s["entity_id"]) == list(w["entity_id"]) and list(s["rank"]) == list(w["rank"])
    np.testing.assert_allclose(s["score"], w["score"], rtol=1e-6, atol=1e-6)
    a, b = pd.read_parquet(got / "alerts.parquet"), pd.read_parquet(want / "alerts.parquet")
    assert len(a) > 0
    for col in ("alert_id", "entity_id", "rank", "top_signal", "evidence_claim_ids"):
        assert list(a[col]) == list(b[col]), col
    reasons = [[r["feature"] for r in json.loads(x)] for x in a["reasons"]]
    assert reasons == [[r["feature"] for r in json.loads(x)] for x in b["reasons"]]
    for name in ("evidence_claims", "card_facilities", "doctor_days", "entity_info"):
        x, y = pd.read_parquet(got / f"{name}.parquet"), pd.read_parquet(want / f"{name}.parquet")
        assert x.shape == y.shape and list(x.columns) == list(y.columns), name
    run_json = json.loads((got / "run.json").read_text())
    assert run_json["claims_scored"] == json.loads((want / "run.json").read_text())["claims_scored"]
    assert run_json["engine"]["name"] == "spark"
    part = pd.read_parquet(got / "scores")
    assert len(part) == len(s) and set(part["entity_type"].astype(str)) == {"card", "facility"}


@pytest.mark.parametrize("command", ["train", "score"])
def test_unknown_engine_is_a_usage_error(command: str, small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    extra = ["--model-out", str(out)] if command == "train" else ["--model", "m", "--out", str(out)]
    assert run([command, str(small_dir), *extra, "--engine", "dask"]) == 2
    assert not out.exists()
