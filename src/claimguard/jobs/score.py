"""The score job: one month of claims to a scored folder (docs/contract.md section 3).

Why here and not in the command: a batch host, the demo and the CLI run the same steps
(model, data, scores, outputs, exit status), and the command stays a shell over them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from claimguard.errors import DriftError, QuarantineLimitError, UserError
from claimguard.io.load import load_dataset
from claimguard.jobs.spark import chosen_engine
from claimguard.model.bundle import Bundle, load_bundle
from claimguard.model.tracking import resolve_model
from claimguard.progress import step
from claimguard.scoring import runrecord
from claimguard.scoring import since as incremental
from claimguard.scoring.output import write_score_folder
from claimguard.scoring.quarantine import describe
from claimguard.scoring.score import ScoreResult, parse_period, score_dataset
from claimguard.settings import Settings

log = logging.getLogger(__name__)


def _model(
    model: str | None, since: Path | None, settings: Settings, timings: dict[str, float]
) -> tuple[Bundle, dict[str, Any], dict[str, Any] | None]:
    """(bundle, its registry info, the last run's record with --since): the model pinned by
    the last run unless one is given, and the same one if both are."""
    last = incremental.read_last_run(since) if since is not None else None
    if last is not None:
        model = model or incremental.pinned_model(last)
    if model is None:
        raise UserError(
            "No model to score with",
            where="--model",
            fix="pass --model PATH or models:/NAME@alias (or --since LAST_RUN_DIR)",
        )
    with step("Loading model", timings):
        model_info = resolve_model(model, settings)
        bundle = load_bundle(model, settings)
    model_info["model_version"] = str(bundle.model_version)
    if last is not None and str(last.get("model_version")) != str(bundle.model_version):
        raise UserError(
            f"--model is {bundle.model_version}, the last run used {last.get('model_version')}",
            where=f"--since {since}",
            fix="leave out --model to use the last run's model, or score without --since",
        )
    return bundle, model_info, last


def _check_status(result: ScoreResult, status: str, out: Path, fail_on_drift: bool) -> None:
    """Exit codes 4 (quarantine over its limit) and 3 (drift, when asked) after the outputs
    are written, so the reviewer still has them."""
    if status == runrecord.STATUS_QUARANTINE:
        check = result.run["quarantine"]
        raise QuarantineLimitError(
            f"More rows were quarantined than scoring.max_quarantine_share "
            f"({check['max_share']:.1%}) allows — {describe(check)}",
            where=str(out / "quarantine.parquet"),
            fix="read the quarantine and correct the extract (or its --mapping); raise "
            "scoring.max_quarantine_share only if such a share is expected (outputs were "
            "written)",
        )
    if result.drift.get("drifted") and fail_on_drift:
        raise DriftError(
            "The scored data drifted beyond the configured limits: "
            + "; ".join(result.drift["problems"]),
            where=str(out / "run.json"),
            fix="retrain the model on recent data, or raise the drift limits in the config "
            "(outputs were written)",
        )


def score_month(
    data: str, out: Path, settings: Settings, *, model: str | None = None,
    mapping: Path | None = None, period: str | None = None, fail_on_drift: bool = False,
    since: Path | None = None, engine: str | None = None, spark_master: str | None = None,
) -> ScoreResult:  # fmt: skip
    """Score ``data`` with the model into ``out`` (replaced atomically) on the chosen engine."""
    started_at = runrecord.now()
    window = parse_period(period)
    on_spark = chosen_engine(engine, settings, since=since) == "spark"
    timings: dict[str, float] = {}
    bundle, model_info, last = _model(model, since, settings, timings)
    folders: dict[str, Path] = {}
    if on_spark:
        from claimguard.jobs.spark_score import SCORES_DATASET, score_on_spark

        result, folders[SCORES_DATASET] = score_on_spark(
            data, bundle, settings, out, master=spark_master, mapping=mapping, period=window,
            timings=timings,
        )  # fmt: skip
    else:
        with step("Reading data", timings):
            ds = load_dataset(Path(data), mapping, settings.io)
        if last is not None and window is None:
            window = incremental.new_period(last, ds.claims)
        result = score_dataset(ds, bundle, settings, period=window, timings=timings)
    if last is not None and since is not None:
        result.run["since"] = {
            "previous_run": str(Path(since).absolute()),
            "previous_period_end": last["period_end"],
            "carried_forward": incremental.carried_forward(since, result.alerts),
        }
    status = runrecord.final_status(result.run)
    with step("Writing outputs", timings):
        result.run["timings_seconds"] = timings
        result.run.update(runrecord.provenance(model_info, settings, started_at, status))
        write_score_folder(result, out, folders)
    n = result.run["alerts_written"]
    log.info(
        "Wrote %d card and %d facility alerts to %s", n.get("card", 0), n.get("facility", 0), out
    )
    _check_status(result, status, Path(out), fail_on_drift)
    return result
