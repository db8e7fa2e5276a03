"""MLflow: one run per training, the model registry, and loading ``models:/`` URIs.

Why here and only here: MLflow is configured when a command asks for it (never at
import). The tracking URI is ``MLFLOW_TRACKING_URI`` when set, else
``settings.mlflow.tracking_uri`` (default ``sqlite:///mlflow.db`` in the working folder:
no server needed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from claimguard.errors import ModelError
from claimguard.evaluation.metrics import flat_metrics
from claimguard.model.bundle import Bundle
from claimguard.model.model_card import _public_fingerprint, model_card
from claimguard.model.registry import BUNDLE_ARTIFACT, _client, tracking_uri
from claimguard.settings import Settings

log = logging.getLogger(__name__)

MODEL_NAME_IN_RUN = "model"
HEADLINE_METRICS = (
    "card.average_precision",
    "card.precision_at_100",
    "facility.average_precision",
    "card_score_q0.99",
)


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Hide MLflow's chatter while logging a model (kept at DEBUG in our log).

    Its cloudpickle and signature warnings do not apply (the model is our own class, its
    input is a feature table) and its registry notices go to stderr unasked.
    """
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
            yield
    finally:
        logger.setLevel(level)
        if buffer.getvalue().strip():
            log.debug("MLflow: %s", buffer.getvalue().strip())


def _catalogue(names: dict[str, list[str]]) -> dict[str, Any]:
    """Catalogue entries of the model's features (empty when the catalogue is unavailable)."""
    try:
        from claimguard.features.catalog import CATALOG
    except ImportError:
        return {}
    out: dict[str, Any] = {}
    for feats in names.values():
        for f in feats:
            spec = CATALOG.get(f)
            if spec is not None:
                out[f] = dataclasses.asdict(spec) if dataclasses.is_dataclass(spec) else vars(spec)
    return out


def _params(settings: Settings, bundle: Bundle) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for section in ("model", "features"):
        for k, v in getattr(settings, section).model_dump(mode="json").items():
            params[f"{section}.{k}"] = json.dumps(v) if isinstance(v, list | dict) else v
    fp = bundle.fingerprint
    for table, n in (fp.get("rows") or {}).items():
        params[f"data.rows.{table}"] = n
    params["data.period"] = f"{fp.get('period_start')}..{fp.get('period_end')}"
    params["model_version"] = bundle.model_version
    params["config_hash"] = settings.config_hash()
    return {k: str(v)[:500] for k, v in params.items()}


def log_training_run(
    bundle: Bundle,
    bundle_path: Path,
    settings: Settings,
    *,
    config_path: Path | None = None,
    timings: dict[str, float] | None = None,
    register: str | None = None,
) -> dict[str, Any]:
    """Log ONE MLflow run for a training; returns run_id, model_uri and registered version."""
    import mlflow

    from claimguard.model.pyfunc import ClaimguardModel
    from claimguard.model.versions import library_versions

    _client(settings)
    mlflow.set_experiment(settings.mlflow.experiment)
    versions = library_versions()
    with mlflow.start_run(run_name=bundle.model_version) as run:
        mlflow.set_tags({"claimguard.model_version": bundle.model_version, **versions})
        mlflow.log_params(_params(settings, bundle))
        if config_path is not None and Path(config_path).is_file():
            mlflow.log_artifact(str(config_path), artifact_path="config")
        mlflow.log_dict(_public_fingerprint(bundle.fingerprint), "data_fingerprint.json")
        mlflow.log_dict(
            {"features": bundle.feature_names, "catalogue": _catalogue(bundle.feature_names)},
            "features.json",
        )
        metrics = flat_metrics(bundle.metrics)
        for step_name, seconds in (timings or {}).items():
            key = "time." + "".join(c if c.isalnum() else "_" for c in step_name).strip("_")
            metrics[key] = float(seconds)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(model_card(bundle), "model_card.json")
        with _quiet_mlflow():
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME_IN_RUN,
                python_model=ClaimguardModel(),
                artifacts={BUNDLE_ARTIFACT: str(bundle_path)},
                pip_requirements=[
                    f"claimguard=={versions['claimguard']}",
                    f"scikit-learn=={versions['scikit-learn']}",
                ],
                registered_model_name=register,
            )
    out: dict[str, Any] = {"run_id": run.info.run_id, "model_uri": info.model_uri}
    if register:
        out["registered_version"] = str(info.registered_model_version)
    return out


def list_versions(
    name: str | None = None, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Registered model versions (all models or one) with aliases and headline metrics."""
    from mlflow.exceptions import MlflowException

    client = _client(settings, must_exist=True)
    names = [name] if name else [m.name for m in client.search_registered_models()]
    rows: list[dict[str, Any]] = []
    for n in names:
        try:
            model = client.get_registered_model(n)
        except MlflowException as exc:
            raise ModelError(
                f"No registered model named {n!r}",
                where=tracking_uri(settings),
                fix="register one with `claimguard train ... --register NAME`",
            ) from exc
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for v in client.search_model_versions(f"name='{n}'"):
            metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
            rows.append(
                {
                    "name": n,
                    "version": int(v.version),
                    "aliases": sorted(aliases.get(str(v.version), [])),
                    "created": v.creation_timestamp,
                    "run_id": v.run_id,
                    "metrics": {k: metrics[k] for k in HEADLINE_METRICS if k in metrics},
                }
            )
    return sorted(rows, key=lambda r: (r["name"], r["version"]))


def promote(name: str, version: str | int, alias: str, settings: Settings | None = None) -> None:
    """Point ``alias`` (e.g. champion) of registered model ``name`` at ``version``."""
    from mlflow.exceptions import MlflowException

    client = _client(settings, must_exist=True)
    try:
        client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise ModelError(
            f"Model {name!r} has no version {version}",
            where=tracking_uri(settings),
            fix="see `claimguard model list` for the registered versions",
        ) from exc
    client.set_registered_model_alias(name, alias, str(version))


def resolve_model(uri: str, settings: Settings | None = None) -> dict[str, Any]:
    """What ``--model`` named, for run.json: URI, registered name, alias, version, run id.

    A file path is made absolute; ``models:/NAME@alias`` and ``models:/NAME/VERSION`` are
    looked up in the (existing) registry so a run records which version the alias meant.
    """
    if not uri.startswith("models:/"):
        if uri.startswith("runs:/"):
            return {"uri": uri}
        return {"uri": str(Path(uri).absolute())}
    from mlflow.exceptions import MlflowException

    client = _client(settings, must_exist=True)
    rest = uri[len("models:/") :]
    name, alias, version = rest, None, None
    if "@" in rest:
        name, alias = rest.split("@", 1)
    elif "/" in rest:
        name, version = rest.split("/", 1)
    try:
        mv = (
            client.get_model_version_by_alias(name, alias)
            if alias is not None
            else client.get_model_version(name, str(version))
        )
    except MlflowException as exc:
        raise ModelError(
            f"MLflow cannot resolve the model ({exc.message})",
            where=f"{uri} in {tracking_uri(settings)}",
            fix="check the name and alias with `claimguard model list`, and MLFLOW_TRACKING_URI",
        ) from exc
    return {
        "uri": uri,
        "tracking_uri": tracking_uri(settings),
        "name": name,
        "alias": alias,
        "version": str(mv.version),
        "run_id": mv.run_id,
    }


COMPARE_TAG = "claimguard.compare.challenger_wins"


def record_comparison(challenger: str, result: dict[str, Any]) -> str | None:
    """Tag the challenger's MLflow run with the comparison; returns its run id (or None for
    a bundle file, which has no run to remember it)."""
    if not challenger.startswith("models:/"):
        return None
    info = resolve_model(challenger)
    client = _client(must_exist=True)
    run_id = str(info["run_id"])
    client.set_tag(run_id, COMPARE_TAG, str(result["challenger_wins"]).lower())
    client.set_tag(run_id, "claimguard.compare.champion", result["models"]["champion"]["uri"])
    for role in ("champion", "challenger"):
        for et, m in result["models"][role].items():
            if isinstance(m, dict) and m.get("average_precision") is not None:
                client.log_metric(run_id, f"compare.{role}.{et}.average_precision",
                                  float(m["average_precision"]))  # fmt: skip
    return run_id


def lost_last_comparison(name: str, version: str | int, settings: Settings | None = None) -> bool:
    """Whether registered ``name`` ``version`` lost its last ``model compare``."""
    from mlflow.exceptions import MlflowException

    client = _client(settings, must_exist=True)
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException:
        return False  # no such version: ``promote`` says so
    if not mv.run_id:
        return False
    return bool(client.get_run(mv.run_id).data.tags.get(COMPARE_TAG) == "false")


def log_heldout_metrics(run_id: str, metrics: dict[str, float]) -> None:
    """Add held-out evaluation metrics (``heldout.*``) to the scored model's training run."""
    client = _client(must_exist=True)
    for key, value in metrics.items():
        if np.isfinite(value):
            client.log_metric(run_id, f"heldout.{key}", float(value))


def run_of_model_version(model_version: str, settings: Settings | None = None) -> str | None:
    """The training run tagged with ``model_version`` in the configured store, if any
    (None without a store: evaluating a bundle file must not create one)."""
    from claimguard.stores import sqlite_path

    uri = tracking_uri(settings)
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        return None
    client = _client(settings)
    runs = client.search_runs(
        experiment_ids=[e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`claimguard.model_version` = '{model_version}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return str(runs[0].info.run_id) if runs else None
