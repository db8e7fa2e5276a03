"""Promotion on held-out evidence: compare, refuse a losing challenger, held-out metrics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from claimguard.cli import run

pytestmark = pytest.mark.slow


def test_compare_refuses_a_worse_challenger_and_evaluate_logs_heldout(
    tmp_path: Path,
    synthetic_dir: Path,
    synthetic_dir_b: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("model:\n  n_estimators: 40\n")
    # a challenger crippled on purpose: one tiny tree, no evidence
    bad.write_text("model:\n  n_estimators: 1\n  max_samples: 16\n  evidence_weight: 0.0\n")
    for cfg, name in ((good, "good"), (bad, "bad")):
        args = ["train", str(synthetic_dir), "-c", str(cfg), "-o", str(tmp_path / f"{name}.joblib")]
        assert run([*args, "--register", "claimguard"]) == 0
    assert run(["model", "promote", "claimguard", "1"]) == 0
    capsys.readouterr()

    args = ["model", "compare", "models:/claimguard@champion", "models:/claimguard/2"]
    assert run([*args, "--data", str(synthetic_dir_b)]) == 0
    printed = capsys.readouterr().out
    assert "card AP" in printed and "precision@" in printed and "alerts shared" in printed
    assert "Challenger loses" in printed

    assert run(["model", "promote", "claimguard", "2"]) == 2  # refused
    assert "scored worse than the champion" in capsys.readouterr().err
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert str(client.get_model_version_by_alias("claimguard", "champion").version) == "1"
    assert run(["model", "promote", "claimguard", "2", "--alias", "trial", "--force"]) == 0

    out = tmp_path / "scored"
    score = [
        "score",
        str(synthetic_dir_b),
        "--model",
        "models:/claimguard@champion",
        "-o",
        str(out),
    ]
    assert run([*score, "-c", str(good)]) == 0
    assert run(["evaluate", str(out), "--labels", str(synthetic_dir_b / "labels.csv")]) == 0
    run_id = client.get_model_version("claimguard", "1").run_id
    metrics = client.get_run(run_id).data.metrics
    assert 0.0 < metrics["heldout.card.average_precision"] <= 1.0
    assert "card.average_precision" in metrics  # the in-sample figure stays beside it
