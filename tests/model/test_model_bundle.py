"""Bundle: scores with evidence, save/load that refuses misuse, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from claimguard.errors import ModelError
from claimguard.model.bundle import load_bundle, save_bundle
from claimguard.model.model_card import card_path
from claimguard.model.train import fit_bundle
from claimguard.settings import Settings

from .helpers import tiny_features, tiny_labels


def _settings(**model) -> Settings:
    base = Settings()
    return base.model_copy(
        update={"model": base.model.model_copy(update={"n_estimators": 50, **model})}
    )


def test_scores_rank_planted_entities_and_hard_facts_first(tmp_path: Path):
    fs = tiny_features()
    bundle = fit_bundle(fs, None, _settings(), labels=tiny_labels())
    scored = bundle.score(fs)
    card = scored["card"]
    assert list(card.columns) == ["score", "forest_score", "rule_score", "hard_facts", "rule_hits"]
    assert card["score"].between(0, 1).all()
    # the post-death card is a hard fact: first in the ranking, and it says so
    assert json.loads(card.loc["C00040", "rule_hits"]) == ["card_after_death_claims_count"]
    assert card.loc["C00040", "hard_facts"] == 2.0
    assert card["score"].idxmax() == "C00040" and card.loc["C00040", "score"] >= 0.999
    assert (card["hard_facts"] > 0).sum() == 1 and (card["rule_score"] > 0).sum() == 1
    assert bundle.metrics["card"]["average_precision"] > 0.5
    assert bundle.metrics["facility"]["recall@10"] > 0.5
    attr = bundle.attributions("card", fs.card.iloc[:30])
    assert list(attr.columns) == bundle.feature_names["card"]
    top = attr.idxmax(axis=1)
    assert top.isin(["card_visits_count", "card_distinct_facilities_count"]).all()


def test_same_data_config_seed_gives_bit_identical_scores():
    fs = tiny_features()
    a = fit_bundle(fs, None, _settings()).score(fs)
    b = fit_bundle(fs, None, _settings()).score(fs)
    for e in a:
        assert np.array_equal(a[e]["score"].to_numpy(), b[e]["score"].to_numpy())
    c = fit_bundle(fs, None, _settings(random_state=1)).score(fs)
    assert not np.array_equal(a["card"]["score"].to_numpy(), c["card"]["score"].to_numpy())


def test_save_load_round_trip_and_model_card(tmp_path: Path):
    fs = tiny_features()
    bundle = fit_bundle(fs, None, _settings())
    path = save_bundle(bundle, tmp_path / "m" / "b.joblib")
    card = json.loads(card_path(path).read_text())
    assert card["model_version"] == bundle.model_version
    assert "evidence_weight" in card["score"] and card["intended_use"]
    again = load_bundle(path)
    for e, df in bundle.score(fs).items():
        assert np.array_equal(df["score"].to_numpy(), again.score(fs)[e]["score"].to_numpy())


def test_load_refuses_corrupt_files_and_other_versions(tmp_path: Path):
    bundle = fit_bundle(tiny_features(), None, _settings())
    path = save_bundle(bundle, tmp_path / "b.joblib")
    header, payload = joblib.load(path)

    bad = tmp_path / "truncated.joblib"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelError, match="cannot be read"):
        load_bundle(bad)

    other = tmp_path / "old.joblib"
    joblib.dump(
        ({**header, "versions": {**header["versions"], "scikit-learn": "0.24.2"}}, payload), other
    )
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2 \(bundle\)"):
        load_bundle(other)

    tampered = tmp_path / "tampered.joblib"
    joblib.dump((header, payload[:-10] + b"0123456789"), tampered)
    with pytest.raises(ModelError, match="checksum"):
        load_bundle(tampered)

    with pytest.raises(ModelError, match="does not exist"):
        load_bundle(tmp_path / "nope.joblib")


def test_scoring_data_lacking_trained_features_is_refused():
    fs = tiny_features()
    bundle = fit_bundle(fs, None, _settings())
    fs.card = fs.card.drop(columns=["card_visits_count"])
    with pytest.raises(ModelError, match="card: card_visits_count"):
        bundle.score(fs)


def test_feature_subset_from_settings_and_unknown_names_rejected():
    from claimguard.errors import ConfigError

    fs = tiny_features()
    bundle = fit_bundle(fs, None, _settings(card_features=["card_visits_count"]))
    assert bundle.feature_names["card"] == ["card_visits_count"]
    # evidence reads the feature table, not the forest's subset
    assert [i.name for i in bundle.evidence["card"]] == ["card_after_death_claims_count"]
    with pytest.raises(ConfigError, match="card_nonsense"):
        fit_bundle(fs, None, _settings(card_features=["card_nonsense"]))


def test_shipped_model_configs_validate(repo: Path):
    from claimguard.settings import load_settings

    for name in ("fast.yaml", "demo.yaml"):
        s = load_settings(repo / "configs" / name)
        assert s.model.n_estimators > 0


def test_fit_rows_are_sampled_to_max_fit_rows():
    fs = tiny_features()
    bundle = fit_bundle(fs, None, _settings(max_samples=16384, max_fit_rows=500))
    assert bundle.detectors["card"].forest_.max_samples_ == 500
    assert bundle.detectors["facility"].forest_.max_samples_ == len(fs.facility)
    scored = bundle.score(fs)["card"]
    assert len(scored) == len(fs.card)  # every entity is still scored


def test_empty_entity_tables_score_to_empty_frames():
    fs = tiny_features()
    bundle = fit_bundle(fs, None, _settings())
    fs.facility = fs.facility.iloc[:0]
    out = bundle.score(fs)["facility"]
    assert len(out) == 0 and list(out.columns)[:2] == ["score", "forest_score"]
