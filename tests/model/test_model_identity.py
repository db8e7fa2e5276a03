"""model_version is a hash of what changes the scores; each bundle keeps its own card."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.io.load import load_dataset
from claimguard.jobs.quality import holdout_features
from claimguard.model.bundle import load_bundle
from claimguard.model.model_card import card_path

pytestmark = pytest.mark.slow


def test_feedback_changes_the_version_and_cards_stay_apart(
    tmp_path: Path, synthetic_dir: Path
) -> None:
    cfg = tmp_path / "small.yaml"
    cfg.write_text("model:\n  n_estimators: 30\n  evidence_weight: 0.0\n")
    models = tmp_path / "models"
    plain, again, tuned = (models / f"{n}.joblib" for n in ("plain", "again", "tuned"))
    base = ["train", str(synthetic_dir), "-c", str(cfg)]
    assert run([*base, "-o", str(plain)]) == 0
    assert run([*base, "-o", str(again)]) == 0
    # reviewers decide every other one of each queue's top 4% (planted = confirmed)
    bundle = load_bundle(plain)
    scores = bundle.score(holdout_features(bundle, load_dataset(synthetic_dir)))
    labels = pd.read_csv(synthetic_dir / "labels.csv", dtype=str)
    rows = []
    for entity_type, table in scores.items():
        top = table["score"].sort_values(ascending=False, kind="stable").index
        top = top[: max(10, len(top) // 25) : 2]
        planted = set(labels.loc[labels["entity_type"] == entity_type, "entity_id"])
        decided = ["confirmed_abuse" if i in planted else "dismissed" for i in top]
        rows.append(pd.DataFrame({"entity_type": entity_type, "entity_id": top.astype(str),
                                  "scenario": "", "decision": decided, "reviewer": "test",
                                  "decided_at": "2024-02-05T09:00:00Z"}))  # fmt: skip
    decisions = pd.concat(rows, ignore_index=True)
    decisions.to_csv(tmp_path / "decisions.csv", index=False)
    assert run([*base, "-o", str(tuned), "--feedback", str(tmp_path / "decisions.csv")]) == 0

    a, b, t = (load_bundle(p) for p in (plain, again, tuned))
    assert t.feedback, t.metrics["feedback"]
    assert a.model_version == b.model_version  # same data and settings: stable alert ids
    assert t.model_version != a.model_version  # differs only by feedback
    for path, bundle in ((plain, a), (tuned, t)):
        card = json.loads(card_path(path).read_text())
        assert card["model_version"] == bundle.model_version
    assert sorted(p.name for p in models.glob("*.model_card.json")) == [
        "again.model_card.json",
        "plain.model_card.json",
        "tuned.model_card.json",
    ]
    assert not (models / "model_card.json").exists()
