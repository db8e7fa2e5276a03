from __future__ import annotations

from pathlib import Path

import pytest

from claimguard.errors import ConfigError
from claimguard.settings import Settings, load_settings

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    assert isinstance(load_settings(path, environ={}), Settings)


def test_default_yaml_equals_builtin_defaults(repo: Path) -> None:
    assert load_settings(repo / "configs/default.yaml", environ={}) == Settings()


def test_unknown_key_is_named_with_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  n_estimators: 10\n  n_estimator: 5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    msg = str(err.value)
    assert "model.n_estimator" in msg and "line 3" in msg and str(cfg) in msg


def test_wrong_type_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scoring:\n  review_capacity_cards: lots\n")
    with pytest.raises(ConfigError, match="scoring.review_capacity_cards"):
        load_settings(cfg, environ={})


def test_env_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  n_estimators: 10\n")
    s = load_settings(cfg, environ={"CLAIMGUARD_MODEL__N_ESTIMATORS": "77"})
    assert s.model.n_estimators == 77


def test_config_hash_changes_with_settings() -> None:
    a = Settings()
    b = Settings.model_validate({"model": {"n_estimators": 3}})
    assert a.config_hash() != b.config_hash()
    assert a.config_hash() == Settings().config_hash()


def test_bad_env_override_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, environ={"CLAIMGUARD_MODEL__N_ESTIMATORS": "lots"})
    assert "CLAIMGUARD_MODEL__N_ESTIMATORS" in str(err.value)
    assert "Where: environment" in str(err.value)


def test_env_list_that_is_not_json_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="CLAIMGUARD_MODEL__EXCLUDE_FEATURES"):
        load_settings(None, environ={"CLAIMGUARD_MODEL__EXCLUDE_FEATURES": "a,b"})


@pytest.mark.parametrize("name", ["CLAIMGUARD_FOO", "CLAIMGUARD_MODEL__N_ESTIMATOR"])
def test_unknown_claimguard_variable_is_an_error(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(None, environ={name: "1"})


def test_env_values_lists_and_null() -> None:
    s = load_settings(
        None,
        environ={
            "CLAIMGUARD_SCORING__SCORE_THRESHOLD": "null",
            "CLAIMGUARD_MODEL__EXCLUDE_FEATURES": '["card_visits_count"]',
            "CLAIMGUARD_SCORING__MAX_QUARANTINE_SHARE": "0.2",
            "CLAIMGUARD_TEST_PG_URL": "not a setting, used by the tests",
        },
    )
    assert s.scoring.score_threshold is None and s.model.exclude_features == ["card_visits_count"]
    assert s.scoring.max_quarantine_share == 0.2
