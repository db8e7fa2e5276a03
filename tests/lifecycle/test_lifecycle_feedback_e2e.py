"""`claimguard train --feedback`: reviewer decisions on 2% of a generated month's entities
improve average precision on the other 98%, and both trainings are MLflow runs.

The model is the forest alone (``evidence_weight: 0``): what it cannot learn by itself — that a
claim after death or outside the card's validity is decisive however ordinary the rest of
the card looks — is exactly what reviewers' confirmations teach it.
"""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from claimguard.cli import run
from claimguard.io.load import load_dataset
from claimguard.jobs.quality import holdout_features
from claimguard.model.bundle import load_bundle
from claimguard.synth.generate import generate, write_synthetic

pytestmark = pytest.mark.slow

REVIEWED_SHARE = 0.02


def simulate_decisions(scores: dict[str, pd.DataFrame], labels: pd.DataFrame) -> pd.DataFrame:
    """Reviewers decide 2% of the entities, every other one of the top 4% of each queue
    (planted = confirmed_abuse, else dismissed); the other half stays held out, so the
    held-out entities include ones like those reviewed, as next month's queue would."""
    rows = []
    for entity_type, table in scores.items():  # two entity types
        n = max(1, math.ceil(2 * REVIEWED_SHARE * len(table)))
        top = table["score"].sort_values(ascending=False, kind="stable").index[:n:2]
        planted = set(labels.loc[labels["entity_type"] == entity_type, "entity_id"])
        rows.append(
            pd.DataFrame(
                {
                    "entity_type": entity_type,
                    "entity_id": top.astype(str),
                    "scenario": "",
                    "decision": ["confirmed_abuse" if i in planted else "dismissed" for i in top],
                    "reviewer": "sim",
                    "decided_at": "2024-02-05T09:00:00Z",
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def held_out_ap(
    scores: pd.DataFrame, labels: pd.DataFrame, decided: pd.DataFrame, entity_type: str
) -> float:
    seen = set(decided.loc[decided["entity_type"] == entity_type, "entity_id"])
    rest = scores.loc[~scores.index.astype(str).isin(seen), "score"]
    planted = set(labels.loc[labels["entity_type"] == entity_type, "entity_id"])
    y = rest.index.astype(str).isin(planted)
    return float(average_precision_score(y, rest.to_numpy()))


def test_feedback_on_two_percent_improves_ap_on_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow writes artifacts relative to the working folder
    synthetic_dir = tmp_path / "month"
    write_synthetic(generate(claims=40_000, seed=7), synthetic_dir)
    plain, tuned = tmp_path / "plain.joblib", tmp_path / "tuned.joblib"
    config = tmp_path / "forest_only.yaml"
    config.write_text("model:\n  evidence_weight: 0.0\n")
    assert run(["train", str(synthetic_dir), "--model-out", str(plain), "-c", str(config)]) == 0
    ds = load_dataset(synthetic_dir)
    labels = pd.read_csv(synthetic_dir / "labels.csv", dtype=str)
    bundle = load_bundle(plain)
    fs = holdout_features(bundle, ds)
    before = bundle.score(fs)
    decisions = simulate_decisions(before, labels)
    decisions.to_csv(tmp_path / "decisions.csv", index=False)

    decisions_csv = str(tmp_path / "decisions.csv")
    args = ["train", str(synthetic_dir), "--model-out", str(tuned), "-c", str(config)]
    assert run([*args, "--feedback", decisions_csv]) == 0
    tuned_bundle = load_bundle(tuned)
    after = tuned_bundle.score(fs)
    report = tuned_bundle.metrics["feedback"]
    assert report["card"]["status"] == "adjusted", report["card"]
    ap_before = held_out_ap(before["card"], labels, decisions, "card")
    ap_after = held_out_ap(after["card"], labels, decisions, "card")
    print(f"held-out card AP: {ap_before:.4f} without feedback, {ap_after:.4f} with")
    assert ap_after > ap_before
    # `claimguard score` with the tuned bundle ranks by the adjusted score
    out = tmp_path / "scored"
    assert run(["score", str(synthetic_dir), "--model", str(tuned), "--out", str(out)]) == 0
    scored = pd.read_parquet(out / "scores.parquet").query("entity_type == 'card'")
    scored = scored.set_index("entity_id")["score"]
    common = scored.index.intersection(after["card"].index)
    assert len(common) > 0.9 * len(after["card"])
    assert scored.loc[common].corr(after["card"]["score"].loc[common], method="spearman") > 0.99
    # an entity type left unchanged (too few decisions, or no CV gain) keeps its exact scores
    if report["facility"]["status"] == "unchanged":
        pd.testing.assert_series_equal(after["facility"]["score"], before["facility"]["score"])

    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == 2
    flagged = runs["metrics.feedback.card.adjusted"].fillna(0)
    assert sorted(flagged.tolist()) == [0.0, 1.0]
    tuned_run = runs.loc[flagged == 1].iloc[0]
    assert (
        tuned_run["metrics.feedback.card.cv_ap_after"]
        > tuned_run["metrics.feedback.card.cv_ap_before"]
    )
