"""Commands of the model area: ``train`` and the ``model`` group (registry)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from claimguard.commands.options import (
    ConfigOption,
    EngineOption,
    MappingOption,
    SparkMasterOption,
)

if TYPE_CHECKING:
    from claimguard.model.bundle import Bundle
    from claimguard.settings import Settings

log = logging.getLogger(__name__)
console = Console()


def _traps(data: Path) -> object:
    """traps.csv of a generated dataset folder (legitimate heavy users), if present."""
    import pandas as pd

    from claimguard.io.csvsafe import restore

    path = data / "traps.csv" if data.is_dir() else None
    if path is None or not path.is_file():
        return None
    return restore(pd.read_csv(path, dtype=str))  # written with formulas neutralised


def train(
    data: Annotated[
        str,
        typer.Argument(
            help="Dataset folder, claims file, or XML 130 file/folder; with --engine spark a "
            "folder of Parquet tables on any Hadoop path (file:, hdfs:, s3a:).",
            show_default=False,
        ),
    ],
    model_out: Annotated[
        Path, typer.Option("--model-out", "-o", help="Where to write the signed model bundle.")
    ] = Path("models/claimguard.joblib"),
    config: ConfigOption = None,
    mapping: MappingOption = None,
    register: Annotated[
        str | None,
        typer.Option("--register", help="Also register the model in the MLflow registry as NAME."),
    ] = None,
    feedback: Annotated[
        Path | None,
        typer.Option(
            "--feedback",
            help="Reviewer decisions (CSV from `claimguard triage export`): confirmed and "
            "dismissed entities tune the score.",
        ),
    ] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """Build features, fit one isolation forest per entity type, log one MLflow run, save.

    Writes the bundle and `NAME.model_card.json` beside it; metrics on labels when the data
    folder has labels.csv. Example:
    `claimguard train data/2024-01 --config configs/default.yaml --model-out models/jan.joblib --register claimguard`
    """
    from claimguard.io.load import load_dataset
    from claimguard.jobs.spark import chosen_engine
    from claimguard.model.bundle import save_bundle
    from claimguard.model.registry import tracking_uri
    from claimguard.model.tracking import log_training_run
    from claimguard.model.train import train as train_bundle
    from claimguard.progress import step
    from claimguard.settings import default_config_path, load_settings

    settings = load_settings(config)
    timings: dict[str, float] = {}
    if chosen_engine(engine, settings) == "spark":
        bundle = _train_on_spark(data, settings, spark_master, mapping, config, feedback, timings)
    else:
        with step("Reading data", timings):
            ds = load_dataset(Path(data), mapping, settings.io)
        decisions = None
        if feedback is not None:
            from claimguard.model.decisions import read_feedback

            decisions = read_feedback(feedback)
        bundle = train_bundle(
            ds,
            settings,
            config_path=config or default_config_path(),
            traps=_traps(Path(data)),  # type: ignore[arg-type]
            timings=timings,
            feedback=decisions,
        )
    with step("Saving the bundle", timings):
        path = save_bundle(bundle, model_out)
    with step("Logging to MLflow", timings):
        info = log_training_run(
            bundle,
            path,
            settings,
            config_path=config or default_config_path(),
            timings=timings,
            register=register,
        )
    log.info("Model %s saved to %s", bundle.model_version, path)
    log.info("MLflow run %s in %s", info["run_id"], tracking_uri(settings))
    if register:
        log.info("Registered as %s version %s", register, info["registered_version"])
    summary = {
        "model_version": bundle.model_version,
        "bundle": str(path),
        "mlflow_run_id": info["run_id"],
        "registered_version": info.get("registered_version"),
    }
    for entity in ("card", "facility"):
        m = bundle.metrics.get(entity)
        if isinstance(m, dict):
            summary[f"{entity}_average_precision_in_sample"] = round(m["average_precision"], 4)
    print(json.dumps(summary))


def _train_on_spark(
    data: str,
    settings: Settings,
    master: str | None,
    mapping: Path | None,
    config: Path | None,
    feedback: Path | None,
    timings: dict[str, float],
) -> Bundle:
    """``train`` with ``--engine spark`` (claimguard.jobs.spark)."""
    from claimguard.errors import UserError
    from claimguard.jobs.spark import train_on_spark
    from claimguard.settings import default_config_path

    if feedback is not None:
        raise UserError(
            "--feedback is not available with --engine spark",
            where="--feedback",
            fix="train with --engine local to fit reviewer feedback",
        )
    return train_on_spark(
        data,
        settings,
        master=master,
        mapping=mapping,
        config_path=config or default_config_path(),
        timings=timings,
    )


def model_list(
    name: Annotated[
        str | None, typer.Argument(help="Registered model name (default: all).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """List registered model versions with aliases and headline metrics.

    Example: `claimguard model list claimguard`
    """
    from claimguard.model.tracking import list_versions
    from claimguard.settings import load_settings

    rows = list_versions(name, load_settings(config))
    if not rows:
        console.print(
            "No registered models. Register one with `claimguard train ... --register NAME`."
        )
        return
    table = Table("name", "version", "aliases", "run", "metrics")
    for r in rows:
        metrics = ", ".join(f"{k}={v:.3f}" for k, v in r["metrics"].items())
        table.add_row(
            r["name"], str(r["version"]), ",".join(r["aliases"]), r["run_id"][:8], metrics
        )
    console.print(table)


def model_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to point at it.")] = "champion",
    config: ConfigOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Promote even if it lost its last `model compare`."),
    ] = False,
) -> None:
    """Point an alias (default: champion) at a registered version; score with models:/NAME@alias.

    A version that lost its last `claimguard model compare` is refused unless --force.
    Example: `claimguard model promote claimguard 3 --alias champion`
    """
    from claimguard.errors import ModelError
    from claimguard.model.tracking import lost_last_comparison, promote
    from claimguard.settings import load_settings

    settings = load_settings(config)
    if not force and lost_last_comparison(name, version, settings):
        raise ModelError(
            f"Version {version} of {name!r} scored worse than the champion in its last "
            "comparison on held-out data",
            where=f"the MLflow run of {name} version {version}",
            fix="promote a better challenger, compare again on another month with "
            "`claimguard model compare`, or pass --force to promote it anyway",
        )
    promote(name, version, alias, settings)
    console.print(f"{name}@{alias} → version {version}")


def model_compare(
    champion: Annotated[str, typer.Argument(help="Champion: models:/NAME@champion or a bundle.")],
    challenger: Annotated[
        str, typer.Argument(help="Challenger: models:/NAME/VERSION or a bundle.")
    ],
    data: Annotated[Path, typer.Option("--data", help="A held-out month (dataset folder).")],
    labels: Annotated[
        Path | None,
        typer.Option("--labels", "-l", help="Labels or triage export (default: DATA/labels.csv)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Score one held-out month with both models: AP, precision at capacity, alert overlap.

    The result is recorded on a registered challenger's MLflow run (`model promote` refuses
    a loser). Example:
    `claimguard model compare models:/claimguard@champion models:/claimguard/4 --data data/2024-03`
    """
    from claimguard.jobs.compare import compare_models
    from claimguard.model.tracking import record_comparison
    from claimguard.settings import load_settings

    settings = load_settings(config)
    result = compare_models(
        champion, challenger, data, labels or Path(data) / "labels.csv", settings
    )
    record_comparison(challenger, result)
    table = Table("figure", "champion", "challenger")

    def f(v: object) -> str:
        return "–" if v is None else f"{v:.3f}"

    models = result["models"]
    table.add_row("model_version", models["champion"]["model_version"],
                  models["challenger"]["model_version"])  # fmt: skip
    for et in ("card", "facility"):
        for key, label in (("average_precision", "AP"), ("precision_at_capacity", "precision@")):
            name = f"{et} {label}" + (
                str(models["champion"][et]["capacity"]) if key != "average_precision" else ""
            )
            table.add_row(name, f(models["champion"][et][key]), f(models["challenger"][et][key]))
    ov = result["alert_overlap"]
    table.add_row("alerts shared", f"{ov['shared']} of {ov['union']}", f"{ov['share']:.0%}")
    console.print(table)
    verdict = "wins" if result["challenger_wins"] else "loses (promote will refuse it)"
    console.print(f"Challenger {verdict}.", markup=False)


def register(app: typer.Typer) -> None:
    """Add `train` and the `model` group to the main app."""
    app.command("train")(train)
    group = typer.Typer(
        help="The MLflow model registry: list versions, promote one.", no_args_is_help=True
    )
    group.command("list")(model_list)
    group.command("promote")(model_promote)
    group.command("compare")(model_compare)
    app.add_typer(group, name="model")
