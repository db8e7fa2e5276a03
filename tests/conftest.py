"""Shared fixtures: every test runs in its own folder with MLflow pointed there."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def _config_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One XDG config folder per test session: the bundle signing key file lands there."""
    return tmp_path_factory.mktemp("config_home")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _config_home: Path) -> None:
    """No test writes into the checkout, a shared MLflow store or the user's key file.

    Each test runs in its own temporary working folder: MLflow's artifact store, default
    output folders and the default triage database all land there. The per-user signing
    key (claimguard.model.signing) is one for the whole session, so bundles that
    session-scoped fixtures train verify in every test and in its subprocesses.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(_config_home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in list(__import__("os").environ):
        if name.startswith("CLAIMGUARD_") and "__" in name:
            monkeypatch.delenv(name)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled synthetic dataset folder (20k claims, seed 1, January 2024), made once.

    Holds claims/claim_lines/facilities/cards .parquet, labels.csv, traps.csv and
    truth_claims.parquet (see claimguard.synth.generate.write_synthetic).
    """
    from claimguard.synth.generate import generate, write_synthetic

    out = tmp_path_factory.mktemp("synthetic_a")
    write_synthetic(generate(20_000, seed=1, start="2024-01-01", months=1), out)
    return out


@pytest.fixture(scope="session")
def synthetic_dir_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``synthetic_dir`` with another seed (2) and the next month (February 2024)."""
    from claimguard.synth.generate import generate, write_synthetic

    out = tmp_path_factory.mktemp("synthetic_b")
    write_synthetic(generate(20_000, seed=2, start="2024-02-01", months=1), out)
    return out
