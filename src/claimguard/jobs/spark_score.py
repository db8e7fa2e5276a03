"""``claimguard score --engine spark``: the local score folder, computed on Spark.

Why this split: features and scores of every entity are Spark's (the bundle broadcast,
a pandas UDF per partition, no shuffle for scoring); the alert queue is a global top-k;
reasons, evidence claims and the triage context are computed by the local functions on
the rows of the alerted entities only (claimguard.spark.alerts). The folder holds the
same files as the local run plus ``scores/``, the scores as a Parquet dataset
partitioned by entity type, for readers of large runs.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from claimguard.errors import UserError
from claimguard.jobs.spark import _open, spark_settings
from claimguard.progress import step
from claimguard.schema import ENTITY_TYPES
from claimguard.scoring import score as local
from claimguard.scoring.alerts import rank_scores, within_capacity
from claimguard.scoring.evidence import alert_evidence
from claimguard.scoring.score import ScoreResult
from claimguard.settings import Settings
from claimguard.spark.alerts import (
    alert_flags,
    alert_subset,
    collect_scores,
    rows_of,
    spark_drift,
)
from claimguard.spark.data import SparkDataset
from claimguard.spark.features import ENTITY_KEY, SparkFeatures, build_features_spark
from claimguard.spark.scoring import score_spark, top_alerts
from claimguard.tables import Dataset

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from claimguard.model.bundle import Bundle

log = logging.getLogger(__name__)

SCORES_DATASET = "scores"


def _in_period(
    claims: DataFrame, lines: DataFrame | None, period: tuple[pd.Timestamp, pd.Timestamp] | None
) -> tuple[DataFrame, DataFrame | None]:
    """Claims admitted in ``period`` (days inclusive) and their lines, as locally."""
    from pyspark.sql import functions as F

    if period is None:
        return claims, lines
    start, end = period
    kept = claims.where(
        (F.col("admit_time") >= F.lit(start.to_pydatetime()))
        & (F.col("admit_time") < F.lit((end + pd.Timedelta(days=1)).to_pydatetime()))
    )
    if lines is not None:
        lines = lines.join(kept.select("claim_id"), "claim_id", "left_semi")
    return kept, lines


def _candidates(
    scores: dict[str, DataFrame], sf: SparkFeatures, bundle: Bundle, settings: Settings
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The top of each entity type, a little past capacity (as the local score does)."""
    cap = settings.scoring.review_capacity
    margin = settings.scoring.candidate_capacity
    period = (sf.period_start.normalize(), sf.period_end.normalize())
    cand = top_alerts(
        scores, period, margin, str(bundle.model_version), settings.scoring.score_threshold
    )
    return cand, cap


def _explained(
    spark: SparkSession,
    sf: SparkFeatures,
    scores: dict[str, DataFrame],
    bundle: Bundle,
    settings: Settings,
) -> pd.DataFrame:
    """Alert rows with ``_reasons``: candidates without a reason are skipped, the queue
    cut at capacity (or above the threshold), as :func:`claimguard.scoring.score.score_dataset`."""
    from claimguard.features.catalog import CATALOG

    cand_all, cap = _candidates(scores, sf, bundle, settings)
    parts = []
    for entity in ENTITY_TYPES:
        cand = cand_all.loc[cand_all["entity_type"] == entity].copy()
        if cand.empty:
            continue
        ids = cand["entity_id"].astype(str).tolist()
        key = ENTITY_KEY[entity]
        # as float32, as the local score keeps its feature tables (FEATURE_DTYPE)
        table = rows_of(spark, getattr(sf, entity), key, ids).astype(local.FEATURE_DTYPE)
        hits = rows_of(spark, scores[entity].select("entity_id", "rule_hits"), "entity_id", ids)
        reasons = local._explain(
            entity,
            cand,
            table,
            hits,
            bundle,
            CATALOG,
            settings.scoring.max_reasons,
        )
        cand["_reasons"] = reasons.to_numpy()
        parts.append(within_capacity(cand, cap[entity], settings.scoring.score_threshold))
    if not parts:
        return cand_all.iloc[0:0].assign(_reasons=pd.Series(dtype="object"))
    return pd.concat(parts, ignore_index=True)


def _with_evidence(
    spark: SparkSession,
    sf: SparkFeatures,
    ds: SparkDataset,
    claims: DataFrame,
    lines: DataFrame | None,
    alerts: pd.DataFrame,
    settings: Settings,
    combined: bool,
) -> tuple[pd.DataFrame, Dataset]:
    """Evidence claim ids per alert (local selection over the alerted entities' claims).

    ``combined``: every signal's flags for both entity types, as the local score does
    when the month fits one partition (``scoring.partition_claims``); otherwise each
    type's own pass's flags, as its partitioned build does."""
    ids = {e: alerts.loc[alerts["entity_type"] == e, "entity_id"].astype(str) for e in ENTITY_KEY}
    sub = alert_subset(spark, ds, claims, lines, ids["card"].tolist(), ids["facility"].tolist())
    flags = {
        entity: alert_flags(spark, sf, entity, ids[entity].tolist(), sub.claims, combined)
        for entity in ENTITY_TYPES
        if len(ids[entity])
    }
    alerts = alerts.copy()
    alerts["_evidence"] = alert_evidence(alerts, sub.claims, flags, settings.scoring.max_evidence)
    return alerts, sub


def _scores_dataset(
    scores: dict[str, DataFrame], period: tuple[pd.Timestamp, pd.Timestamp]
) -> DataFrame:
    """Every entity's scores in one Spark frame (the ``scores/`` dataset's rows)."""
    from pyspark.sql import functions as F

    frames = [
        f.withColumn("entity_type", F.lit(e)).withColumn(
            "period_start", F.lit(period[0].strftime("%Y-%m-%d")).cast("date")
        )
        for e, f in scores.items()
    ]
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def _write_scores_dataset(frame: DataFrame, folder: Path) -> None:
    """``scores/`` partitioned by entity type (written by the executors, then moved)."""
    frame.write.mode("overwrite").partitionBy("entity_type").parquet(str(folder.resolve()))


def _view(
    ds: SparkDataset, period: tuple[pd.Timestamp, pd.Timestamp] | None
) -> tuple[SparkDataset, int]:
    """The dataset restricted to ``period`` and its number of claims (none: a UserError)."""
    claims, lines = _in_period(ds.tables["claims"], ds.tables.get("claim_lines"), period)
    n_claims = int(claims.count())
    if n_claims == 0:
        raise UserError(
            "There are no valid claims to score" + (" in the requested period" if period else ""),
            where="--period" if period else "claims table",
            fix="check the quarantine or the input folder, or choose another --period",
        )
    view = SparkDataset({**ds.tables, "claims": claims}, ds.quarantine, ds.counts)
    if lines is not None:
        view.tables["claim_lines"] = lines
    return view, n_claims


def _drift(
    sf: SparkFeatures, bundle: Bundle, claims: DataFrame, settings: Settings
) -> dict[str, Any]:
    drift = spark_drift(
        sf,
        bundle,
        claims,
        bundle.seen("facilities"),
        bundle.seen("diagnoses"),
        settings.drift,
    )
    for problem in drift["problems"]:
        log.warning("Drift: %s", problem)
    return drift


def score_on_spark(
    data: str,
    bundle: Bundle,
    settings: Settings,
    out: Path,
    *,
    master: str | None = None,
    mapping: Path | None = None,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[ScoreResult, Path]:
    """Score ``data`` on Spark; returns the result and the staged ``scores/`` folder."""
    timings = {} if timings is None else timings
    conf = spark_settings(settings, master)
    spark, ds = _open(data, mapping, conf, timings)
    started = time.perf_counter()
    view, n_claims = _view(ds, period)
    claims, lines = view.tables["claims"], view.tables.get("claim_lines")
    with step("Building features on Spark", timings):
        feats = bundle.settings.features
        parts = conf.shuffle_partitions
        sf = build_features_spark(spark, view, feats, peers=bundle.peers, partitions=parts)
    days = period or (sf.period_start.normalize(), sf.period_end.normalize())
    with step("Scoring on Spark", timings):
        scores = {e: f.persist() for e, f in score_spark(spark, sf, bundle).items()}
        ranked = rank_scores(collect_scores(scores), days[0], days[1])
    with step("Writing the scores dataset", timings):
        staged = out.absolute().parent / f".{out.name}.{SCORES_DATASET}-staging"
        shutil.rmtree(staged, ignore_errors=True)
        _write_scores_dataset(_scores_dataset(scores, days), staged)
    with step("Explaining alerts", timings):
        alerts = _explained(spark, sf, scores, bundle, settings)
    with step("Selecting evidence", timings):
        combined = n_claims <= settings.scoring.partition_claims
        alerts, sub = _with_evidence(spark, sf, view, claims, lines, alerts, settings, combined)
        alerts = local._finish_alerts(alerts, bundle.model_version)
        ctx = local._context(sub, sub.claims, sub.claim_lines, alerts, days, bundle.feature_stats)
    with step("Checking drift", timings):
        drift = _drift(sf, bundle, claims, settings)
    quarantine = ds.quarantine.toPandas()
    timings["Scoring total (without reading)"] = round(time.perf_counter() - started, 3)
    whole = Dataset(sub.claims, quarantine=quarantine, counts=ds.counts, sources={"input": data})
    run = local._run_record(
        whole, bundle, settings, sub.claims, ranked, alerts, days, timings, drift, sf.switched_off
    )
    run["claims_scored"] = n_claims  # the subset above is the alerted entities' only
    run["engine"] = {"name": "spark", "master": conf.master, "scores_dataset": SCORES_DATASET}
    for frame in scores.values():
        frame.unpersist()
    return ScoreResult(ranked, alerts, quarantine, run, drift, ctx), staged


__all__ = ["SCORES_DATASET", "score_on_spark"]
