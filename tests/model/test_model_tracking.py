"""MLflow: one run per training, registry round trip, pyfunc scores = bundle scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from claimguard.cli import run
from claimguard.errors import ModelError
from claimguard.model.bundle import load_bundle, save_bundle
from claimguard.model.tracking import list_versions, log_training_run, promote
from claimguard.model.train import fit_bundle
from claimguard.settings import Settings

from .helpers import tiny_features, tiny_labels

pytestmark = pytest.mark.slow


def test_logged_registered_model_scores_like_the_joblib_bundle(tmp_path: Path, capsys):
    import mlflow

    settings = Settings()
    settings = settings.model_copy(
        update={"model": settings.model.model_copy(update={"n_estimators": 30})}
    )
    fs = tiny_features()
    bundle = fit_bundle(fs, None, settings, labels=tiny_labels())
    path = save_bundle(bundle, tmp_path / "b.joblib")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  n_estimators: 30\n")
    info = log_training_run(
        bundle, path, settings, config_path=cfg, timings={"Fit": 1.0}, register="cg-test"
    )
    assert info["registered_version"] == "1"

    run_ = mlflow.get_run(info["run_id"])
    assert run_.data.params["model.n_estimators"] == "30"
    assert run_.data.metrics["card.average_precision"] > 0.5
    assert "card_score_q0.99" in run_.data.metrics
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(info["run_id"])}
    assert {"config", "model_card.json", "data_fingerprint.json", "features.json"} <= arts

    expected = bundle.score(fs)
    pyfunc = mlflow.pyfunc.load_model(info["model_uri"])
    got = pyfunc.predict(fs.card)
    assert np.array_equal(got["score"].to_numpy(), expected["card"]["score"].to_numpy())
    got_f = pyfunc.predict(fs.facility, params=None)
    assert np.array_equal(got_f["score"].to_numpy(), expected["facility"]["score"].to_numpy())

    promote("cg-test", 1, "champion", settings)
    champion = load_bundle("models:/cg-test@champion")
    assert champion.model_version == bundle.model_version
    for e in expected:
        assert np.array_equal(champion.score(fs)[e]["score"], expected[e]["score"])

    rows = list_versions("cg-test", settings)
    assert rows[0]["aliases"] == ["champion"] and "card.average_precision" in rows[0]["metrics"]
    assert run(["model", "list"]) == 0
    assert "cg-test" in capsys.readouterr().out
    assert run(["model", "promote", "cg-test", "7", "--alias", "champion"]) == 2
    with pytest.raises(ModelError, match="cannot provide"):
        load_bundle("models:/cg-test@nonexistent")
