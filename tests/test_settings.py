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
