"""Reviewer feedback on small seeded feature tables (no data generator needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from claimguard.errors import InputFileError
from claimguard.features.build import FeatureSet
from claimguard.model.bundle import load_bundle, save_bundle
from claimguard.model.decisions import feedback_labels, read_feedback
from claimguard.model.feedback import apply_feedback
from claimguard.model.train import fit_bundle
from claimguard.settings import Settings


def _features(seed: int = 0) -> tuple[FeatureSet, pd.Series]:
    """Cards: 0..59 abusers (drug oversupply + some visits), 60..139 legit heavy users (many
    visits only). The forest alone ranks the heavy users first; reviewers know better."""
    rng = np.random.default_rng(seed)
    n = 4000
    card = pd.DataFrame(
        {
            "card_visits_count": rng.poisson(2, n).astype(float),
            "card_drug_days_supplied_ratio": rng.lognormal(0, 0.25, n),
            "card_distinct_facilities_count": rng.poisson(1, n).astype(float),
            "card_cost_per_visit_ratio_to_peers": rng.lognormal(0, 0.3, n),
        },
        index=pd.Index([f"C{i:05d}" for i in range(n)], name="card_id"),
    )
    card.iloc[:60, 0] += rng.integers(1, 5, 60)
    card.iloc[:60, 1] *= rng.uniform(2.2, 3.5, 60)
    card.iloc[60:140, 0] += rng.integers(15, 40, 80)
    card.iloc[60:140, 3] *= 1.5
    facility = pd.DataFrame(
        {"facility_tests_per_visit_ratio_to_peers": rng.lognormal(0, 0.2, 150)},
        index=pd.Index([f"F{i:03d}" for i in range(150)], name="facility_id"),
    )
    y = pd.Series(0.0, index=card.index)
    y.iloc[:60] = 1.0
    period = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31")
    fs = FeatureSet(card=card, facility=facility, period_start=period[0], period_end=period[1])
    return fs, y


def _settings() -> Settings:
    return Settings.model_validate({"model": {"n_estimators": 60, "n_jobs": 1}})


def _decisions(ids: pd.Index, y: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_type": "card",
            "entity_id": list(ids),
            "scenario": "",
            "decision": np.where(y.loc[ids] == 1, "confirmed_abuse", "dismissed"),
            "reviewer": "r1",
            "decided_at": "2024-02-01T10:00:00",
        }
    )


def test_decisions_map_to_labels_latest_wins() -> None:
    df = pd.DataFrame(
        {
            "entity_type": ["card", "card", "card", "facility", "card"],
            "entity_id": ["A", "B", "C", "F1", "A"],
            "decision": ["dismissed", "confirmed", "needs_information", "confirmed_abuse", "x"],
            "decided_at": ["2024-02-02", "2024-02-01", "2024-02-01", "2024-02-01", "2024-02-01"],
        }
    )
    out = feedback_labels(df).set_index(["entity_type", "entity_id"])["y"]
    # A's later decision (dismissed) wins over the earlier unknown one; C is ignored
    assert out.to_dict() == {("card", "A"): 0.0, ("card", "B"): 1.0, ("facility", "F1"): 1.0}


def test_decision_file_without_decision_column_is_a_user_error(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("entity_type,entity_id,scenario\ncard,A,borrowed_card\n")
    with pytest.raises(InputFileError, match="decision"):
        read_feedback(path)
    with pytest.raises(InputFileError, match="does not exist"):
        read_feedback(tmp_path / "nope.csv")


def test_too_little_feedback_changes_nothing() -> None:
    fs, y = _features()
    bundle = fit_bundle(fs, None, _settings())
    before = bundle.score_entity("card", fs.card)["score"]
    ids = fs.card.index[[0, 1, 60, 61]]
    report = apply_feedback(bundle, fs, feedback_labels(_decisions(ids, y)))
    assert report["card"]["status"] == "unchanged"
    assert report["facility"]["status"] == "unchanged"
    assert bundle.feedback == {}
    pd.testing.assert_series_equal(bundle.score_entity("card", fs.card)["score"], before)


@pytest.mark.slow
def test_feedback_on_reviewed_queue_improves_ap_on_the_rest(tmp_path) -> None:
    fs, y = _features()
    bundle = fit_bundle(fs, None, _settings())
    before = bundle.score_entity("card", fs.card)["score"]
    # reviewers decide the top 2.5% of the queue (100 cards) plus nothing else
    reviewed = before.sort_values(ascending=False).index[:100]
    assert 0 < y.loc[reviewed].sum() < len(reviewed)
    report = apply_feedback(bundle, fs, feedback_labels(_decisions(reviewed, y)), seed=1)
    rep = report["card"]
    assert rep["status"] == "adjusted", rep
    assert rep["cv_ap_after"] > rep["cv_ap_before"]
    w = rep["weights_after"]
    assert w["drug_oversupply"] > w["visit_frequency"]
    after = bundle.score_entity("card", fs.card)["score"]
    assert after.between(0, 1).all()
    rest = fs.card.index.difference(reviewed)
    ap_before = average_precision_score(y.loc[rest], before.loc[rest])
    ap_after = average_precision_score(y.loc[rest], after.loc[rest])
    assert ap_after > ap_before
    # the adjustment travels with the saved bundle
    loaded = load_bundle(save_bundle(bundle, tmp_path / "m.joblib"))
    np.testing.assert_allclose(loaded.score_entity("card", fs.card)["score"], after)
    assert bundle.metrics["feedback"]["card"]["adjusted"] == 1


def test_decisions_on_unknown_entities_are_counted_and_change_nothing() -> None:
    fs, y = _features()
    bundle = fit_bundle(fs, None, _settings())
    decisions = pd.DataFrame(
        {"entity_type": "card", "entity_id": ["X1", "X2"], "decision": "confirmed_abuse"}
    )
    report = apply_feedback(bundle, fs, feedback_labels(decisions))
    assert report["card"]["status"] == "unchanged"
    assert report["card"]["n_unknown_entities"] == 2
    assert bundle.feedback == {}


def test_train_with_an_unreadable_feedback_file_exits_2(tmp_path, capsys) -> None:
    from claimguard.cli import run
    from claimguard.synth.generate import generate, write_synthetic

    write_synthetic(generate(claims=2_000, seed=3), tmp_path / "month")
    bad = tmp_path / "decisions.csv"
    bad.write_text("entity_type,entity_id\ncard,A\n")
    code = run(
        [
            "train",
            str(tmp_path / "month"),
            "--model-out",
            str(tmp_path / "m.joblib"),
            "--feedback",
            str(bad),
        ]
    )
    assert code == 2
    assert "decision" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()


def test_rows_that_cannot_be_applied_are_counted() -> None:
    import pandas as pd

    from claimguard.model.decisions import feedback_labels

    rows = pd.DataFrame(
        {
            "entity_type": ["card", "card", "card", "doctor", "facility"],
            "entity_id": ["C1", "C1", "C2", "D1", "F1"],
            "decision": [
                "dismissed",
                "confirmed_abuse",
                "needs_information",
                "dismissed",
                "dismissed",
            ],  # fmt: skip
            "decided_at": ["2024-02-01", "2024-02-02", "2024-02-01", "2024-02-01", "2024-02-01"],
        }
    )
    out = feedback_labels(rows)
    assert sorted(out["entity_id"]) == ["C1", "F1"]
    assert out.attrs["not_applied"] == {
        "superseded_by_a_later_decision": 1,
        "decision_neither_confirmed_nor_dismissed": 1,
        "unknown_entity_type": 1,
    }
