"""Bundle: scores with evidence, save/load that refuses misuse, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from claimguard.errors import ModelError
from claimguard.model.bundle import (
    MAGIC,
    load_bundle,
    read_bundle_file,
    save_bundle,
    write_bundle_file,
)
from claimguard.model.identity import content_version
from claimguard.model.model_card import card_path
from claimguard.model.signing import signing_key
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


def test_save_load_round_trip_is_bit_identical_and_writes_a_model_card(tmp_path: Path):
    fs = tiny_features()
    bundle = fit_bundle(fs, None, _settings(), labels=tiny_labels())
    path = save_bundle(bundle, tmp_path / "m" / "b.joblib")
    assert path.read_bytes().startswith(MAGIC)  # not a pickle
    card = json.loads(card_path(path).read_text())
    assert card["model_version"] == bundle.model_version
    assert "evidence_weight" in card["score"] and card["intended_use"]
    again = load_bundle(path)
    assert again.settings == bundle.settings and again.evidence == bundle.evidence
    assert content_version(again) == content_version(bundle)
    for e, df in bundle.score(fs).items():
        got = again.score(fs)[e]
        for col in ("score", "forest_score", "rule_score", "hard_facts"):
            assert np.array_equal(df[col].to_numpy(), got[col].to_numpy())
        assert df["rule_hits"].tolist() == got["rule_hits"].tolist()
        pd.testing.assert_frame_equal(
            bundle.attributions(e, getattr(fs, e)),
            again.attributions(e, getattr(fs, e)),
            check_exact=True,
        )
    for e, stats in bundle.feature_stats.items():
        pd.testing.assert_frame_equal(stats, again.feature_stats[e], check_exact=True)


def test_frames_of_every_stored_dtype_round_trip_exactly(tmp_path: Path):
    """Frames are stored as plain arrays; each dtype claimguard keeps must come back as it was."""
    df = pd.DataFrame(
        {
            "f": [1.5, np.nan, 3.0],
            "i": np.array([1, 2, 3], dtype=np.int64),
            "u8": np.array([1, 0, 255], dtype=np.uint8),
            "lists": [[0.0, 1.0], [], [2.5]],
            "s": pd.array(["a", None, "c"], dtype="str"),
            "cat": pd.Categorical(["x", "y", "x"], categories=["y", "x"], ordered=True),
            "t": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
        },
        index=pd.Index(["a", "b", "c"], name="feature"),
    )
    bundle = fit_bundle(tiny_features(), None, _settings())
    bundle.feature_stats["extra"] = df
    bundle.feature_stats["ranged"] = df.reset_index(drop=True)
    again = load_bundle(save_bundle(bundle, tmp_path / "b.joblib"))
    for name in ("extra", "ranged"):
        pd.testing.assert_frame_equal(
            again.feature_stats[name], bundle.feature_stats[name], check_exact=True
        )
    assert isinstance(again.feature_stats["ranged"].index, pd.RangeIndex)
    assert again.feature_stats["extra"].loc["a", "lists"] == [0.0, 1.0]


def test_frames_of_unsupported_dtypes_are_refused_when_saving(tmp_path: Path):
    bundle = fit_bundle(tiny_features(), None, _settings())
    bundle.feature_stats["tz"] = pd.DataFrame({"t": pd.date_range("2024", periods=2, tz="UTC")})
    with pytest.raises(TypeError, match="cannot be stored"):
        save_bundle(bundle, tmp_path / "b.joblib")


def _resign(path: Path, out: Path, **header_update) -> None:
    """Rewrite a bundle with a changed header, signed with this session's key."""
    header, _, _, payload = read_bundle_file(path)
    key = signing_key(Settings())
    write_bundle_file(out, {**header, **header_update}, payload, key)


def test_load_refuses_corrupt_files_and_other_versions(tmp_path: Path):
    bundle = fit_bundle(tiny_features(), None, _settings())
    path = save_bundle(bundle, tmp_path / "b.joblib")
    header, _, _, payload = read_bundle_file(path)

    bad = tmp_path / "truncated.joblib"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelError, match="cannot be read"):
        load_bundle(bad)

    other = tmp_path / "old.joblib"
    _resign(path, other, versions={**header["versions"], "scikit-learn": "0.24.2"})
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2 \(bundle\)"):
        load_bundle(other)

    fmt = tmp_path / "format.joblib"
    _resign(path, fmt, format=2)
    with pytest.raises(ModelError, match="format 2 is not the supported"):
        load_bundle(fmt)

    damaged = tmp_path / "damaged.joblib"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_bundle(damaged)

    with pytest.raises(ModelError, match="does not exist"):
        load_bundle(tmp_path / "nope.joblib")


def test_old_pickled_bundles_are_refused_with_a_retrain_hint(tmp_path: Path):
    bundle = fit_bundle(tiny_features(), None, _settings())
    old = tmp_path / "old.joblib"
    joblib.dump(({"format": 2}, b"payload"), old, compress=3)
    with pytest.raises(ModelError, match="is a pickle") as info:
        load_bundle(old)
    assert "claimguard train" in str(info.value)
    plain = tmp_path / "plain.joblib"
    joblib.dump(bundle, plain)  # uncompressed pickle
    with pytest.raises(ModelError, match="is a pickle"):
        load_bundle(plain)


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
