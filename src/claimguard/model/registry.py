"""The MLflow store claimguard reads and writes, and fetching a bundle out of it.

Why its own module: loading a bundle (``model.bundle``) resolves ``models:/`` URIs, and the
tracking code (``model.tracking``) logs bundles; both need the store, neither may import the
other (no import cycle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claimguard.errors import ModelError
from claimguard.settings import Settings, load_settings
from claimguard.stores import announce, mlflow_tracking_uri, require_existing

# name of the bundle file among a logged model's artifacts
BUNDLE_ARTIFACT = "bundle"


def tracking_uri(settings: Settings | None = None) -> str:
    """MLFLOW_TRACKING_URI, else the configured URI; a relative SQLite path made absolute."""
    return mlflow_tracking_uri((settings or load_settings()).mlflow.tracking_uri)


def _client(settings: Settings | None = None, *, must_exist: bool = False) -> Any:
    """An MLflow client on the resolved store; ``must_exist`` for commands that only read it
    (a missing SQLite store would otherwise be created empty, see claimguard.stores)."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(settings)
    if must_exist:
        require_existing(
            uri,
            "MLflow tracking store",
            "run from the folder that holds it, set mlflow.tracking_uri in the config or "
            "MLFLOW_TRACKING_URI to its absolute URI (e.g. sqlite:////srv/claimguard/mlflow.db), "
            "or train and register a model first",
        )
    announce("MLflow tracking store", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def download_bundle(uri: str, dst: Path) -> Path:
    """Fetch the bundle file of a logged/registered model (``models:/NAME@alias``) into dst."""
    import mlflow
    from mlflow.exceptions import MlflowException

    _client(must_exist=True)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst)))
    except MlflowException as exc:
        raise ModelError(
            f"MLflow cannot provide the model ({exc.message})",
            where=f"{uri} in {tracking_uri()}",
            fix="check the name and alias with `claimguard model list`, and MLFLOW_TRACKING_URI",
        ) from exc
    hits = sorted(local.rglob(f"artifacts/{BUNDLE_ARTIFACT}*"))
    files = [p for p in hits if p.is_file()] or sorted(
        p for p in local.rglob("*.joblib") if p.is_file()
    )
    if not files:
        raise ModelError(
            "The MLflow model holds no claimguard bundle",
            where=uri,
            fix="register models logged by `claimguard train --register NAME`",
        )
    return files[0]
