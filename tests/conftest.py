"""Shared fixtures: every test runs in its own folder with MLflow pointed there."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the checkout or a shared MLflow store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in list(__import__("os").environ):
        if name.startswith("CLAIMGUARD_") and "__" in name:
            monkeypatch.delenv(name)


@pytest.fixture
def repo() -> Path:
    return REPO
