"""Shared fixtures: every test runs in its own folder with MLflow pointed there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One XDG config folder for the whole session: the bundle signing key file lands there.

    Set before any other fixture (session-scoped and autouse), so bundles that module- and
    session-scoped fixtures train verify in every test and its subprocesses, and no test
    creates or reads the user's own ``~/.config/claimguard/model.key``.
    """
    home = tmp_path_factory.mktemp("config_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(home))
        mp.delenv("CLAIMGUARD_MODEL__SIGNING_KEY", raising=False)
        mp.delenv("CLAIMGUARD_MODEL__SIGNING_KEY_FILE", raising=False)
        yield home


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the checkout or a shared MLflow store.

    Each test runs in its own temporary working folder: MLflow's artifact store, default
    output folders and the default triage database all land there.
    """
    monkeypatch.chdir(tmp_path)
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


PG_URL = os.environ.get("CLAIMGUARD_TEST_PG_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store on SQLite (a file) or on the test PostgreSQL server (a schema of its own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
        return
    if not PG_URL:
        pytest.skip("CLAIMGUARD_TEST_PG_URL is not set (CI sets it; see .ci/run)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
