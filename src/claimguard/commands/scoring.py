"""Commands of the scoring area: ``score``, ``evaluate`` and ``demo``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from claimguard.commands.options import (
    ConfigOption,
    EngineOption,
    MappingOption,
    SparkMasterOption,
)
from claimguard.settings import TriageSettings

log = logging.getLogger(__name__)
console = Console()


def score(
    data: Annotated[
        str,
        typer.Argument(
            help="Dataset folder, claims file, or XML 130 file/folder; with --engine spark a "
            "folder of Parquet tables on any Hadoop path (file:, hdfs:, s3a:).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (replaced atomically).")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model bundle path or models:/NAME@alias (default with --since: "
            "the last run's model).",
        ),
    ] = None,
    mapping: MappingOption = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="Only claims admitted in START..END (ISO dates, inclusive)."),
    ] = None,
    config: ConfigOption = None,
    fail_on_drift: Annotated[
        bool,
        typer.Option("--fail-on-drift", help="Exit 3 when the data drifted beyond the limits."),
    ] = False,
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            help="Last run's output folder: score only claims after its period, with its model.",
        ),
    ] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """Score a month of claims: scores, ranked alerts with reasons and evidence, run.json.

    With --engine spark, features and scores run on Spark (docs/scaling.md); the folder
    also holds scores/, the scores as a Parquet dataset partitioned by entity type.

    Example: `claimguard score data/2024-02 --model models/claimguard.bundle --out runs/2024-02`
    """
    from claimguard.jobs.score import score_month
    from claimguard.settings import load_settings

    score_month(
        data, out, load_settings(config), model=model, mapping=mapping, period=period,
        fail_on_drift=fail_on_drift, since=since, engine=engine, spark_master=spark_master,
    )  # fmt: skip


def evaluate(
    scored: Annotated[Path, typer.Argument(help="Output folder of `claimguard score`.")],
    labels: Annotated[
        Path, typer.Option("--labels", "-l", help="labels.csv or a triage decisions export.")
    ],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The scored input data (enables the naive baselines)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder (default: SCORED/report).")
    ] = None,
    mapping: MappingOption = None,
    config: ConfigOption = None,
) -> None:
    """Metrics (ROC-AUC, AP, precision/recall at k, per scenario, traps) and an HTML report.

    Example: `claimguard evaluate runs/2024-02 --labels data/2024-02/labels.csv --data data/2024-02`
    """
    from claimguard.jobs.evaluate import evaluate as run_evaluation
    from claimguard.progress import step
    from claimguard.settings import load_settings

    load_settings(config)  # validates the config even though evaluation has no knobs yet
    with step("Evaluating"):
        metrics, folder = run_evaluation(scored, labels, data=data, mapping=mapping, out_dir=out)
    _print_summary(metrics)
    _log_heldout(scored, metrics)
    console.print(f"Report: {folder / 'report.html'}", markup=False, highlight=False)


def _log_heldout(scored: Path, metrics: dict[str, Any]) -> None:
    """Held-out metrics onto the MLflow run of the model that scored the folder (if any)."""
    from claimguard.evaluation.metrics import flat_metrics
    from claimguard.model.tracking import log_heldout_metrics, run_of_model_version

    try:
        run = json.loads((Path(scored) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    run_id = (run.get("model") or {}).get("run_id")
    if not run_id and run.get("model_version"):
        run_id = run_of_model_version(str(run["model_version"]))
    if not run_id:
        log.info("No MLflow run of model %s found: held-out metrics not logged",
                 run.get("model_version"))  # fmt: skip
        return
    flat: dict[str, float] = {}
    for et, entry in metrics["entity_types"].items():
        flat.update(flat_metrics(entry["model"], prefix=f"{et}."))
    log_heldout_metrics(str(run_id), flat)
    log.info("Logged %d held-out metrics to MLflow run %s", len(flat), run_id)


def _print_summary(metrics: dict[str, Any]) -> None:
    table = Table(title="Evaluation")
    for col in ("entity type", "ROC-AUC", "AP", "precision@cap", "recall@cap"):
        table.add_column(col)
    for et, entry in metrics["entity_types"].items():
        m = entry["model"]
        cap = entry["capacity"]
        k = cap if f"precision@{cap}" in m else (entry["ks"][-1] if entry["ks"] else cap)

        def f(v: object) -> str:
            return "–" if v is None else f"{v:.3f}"

        table.add_row(
            et,
            f(m.get("roc_auc")),
            f(m.get("average_precision")),
            f(m.get(f"precision@{k}")),
            f(m.get(f"recall@{k}")),
        )
    console.print(table)
    ex = metrics.get("explanations") or {}
    if ex.get("hit_rate") is not None:
        console.print(
            f"Explanation hit rate: {ex['hit_rate']:.0%} of {ex['true_alerts']} true alerts "
            "have the scenario's signal in their top 3 reasons",
            markup=False,
        )


def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the demo writes everything.")
    ] = Path("demo_output"),
    claims: Annotated[
        int | None,
        typer.Option("--claims", help="Claims per generated month (default: settings.generate)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Generate two months, train on the first, score the second, evaluate, show the queue.

    Example: `claimguard demo --claims 50000 --out demo_output`
    """
    from claimguard.jobs.demo import run_demo
    from claimguard.settings import load_settings

    settings = load_settings(config)
    result = run_demo(out, settings, claims=claims)
    alerts = result["alerts"]
    table = Table(title="Top alerts (cards and facilities)")
    for col in ("rank", "type", "entity", "score", "first reason"):
        table.add_column(col, overflow="fold")
    top = alerts.sort_values(["entity_type", "rank"]).groupby("entity_type").head(8)
    for row in top.itertuples(index=False):  # 15 rows for display
        first = json.loads(row.reasons)[0]
        table.add_row(
            str(row.rank), row.entity_type, row.entity_id, f"{row.score:.3f}", first["text"]
        )
    console.print(table)
    ex = result["metrics"].get("explanations") or {}
    if ex.get("hit_rate") is not None:
        console.print(
            f"Explanation hit rate: {ex['hit_rate']:.0%} of {ex['true_alerts']} true alerts",
            markup=False,
        )
    console.print(f"Report: {result['report']}", markup=False, highlight=False)
    console.print(
        f"Triage app: claimguard serve {result['scored']}   "
        f"(then open http://{settings.triage.host}:{settings.triage.port})",
        markup=False,
        highlight=False,
    )
    _demo_sign_in(settings.triage)


def _demo_sign_in(t: TriageSettings) -> None:
    """Create the demo's triage user in the default store and say how to sign in."""
    from claimguard.triage.auth import demo_user
    from claimguard.triage.store import Store

    store = Store.open(t.db_url, lock_timeout_s=t.db_lock_timeout_seconds)
    try:
        password = demo_user(store)
    finally:
        store.close()
    console.print(
        f"Sign in as user demo (supervisor) with password {password}",
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``score``, ``evaluate`` and ``demo`` to the main app."""
    app.command("score")(score)
    app.command("evaluate")(evaluate)
    app.command("demo")(demo)
