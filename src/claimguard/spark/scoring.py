"""Scores and the top of the alert queue on Spark, from the Spark feature tables.

Why: a bundle scores each entity from its own feature row (forest path lengths,
evidence surprisals), so scoring needs no shuffle: the bundle is broadcast once and
:meth:`claimguard.model.bundle.Bundle.score_entity` runs on each Arrow batch
(``mapInPandas``). The alert queue needs only the highest scores of each entity type:
Spark's ``orderBy(...).limit(k)`` keeps a top-k per partition and merges those on the
driver, so only ``k`` rows per entity type are collected. Ranks follow
:func:`claimguard.scoring.alerts.rank_scores` (score descending, ties by id), ids
:func:`claimguard.scoring.alerts.alert_ids`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from claimguard.features.build import FeatureSet
from claimguard.scoring.alerts import alert_ids
from claimguard.spark.data import arrow_safe
from claimguard.spark.features import ENTITY_KEY, SparkFeatures

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from claimguard.model.bundle import Bundle

SCORE_SCHEMA = (
    "entity_id string, score double, forest_score double, rule_score double, "
    "hard_facts double, rule_hits string"
)


def _empty_features(sf: SparkFeatures) -> FeatureSet:
    """A FeatureSet with the Spark tables' columns and no rows (for the bundle's checks)."""
    tables = {}
    for entity, key in ENTITY_KEY.items():
        frame = getattr(sf, entity)
        cols = [c for c in frame.columns if c != key]
        tables[entity] = pd.DataFrame(
            {c: pd.Series(dtype="float64") for c in cols},
            index=pd.Index([], dtype="string", name=key),
        )
    return FeatureSet(
        card=tables["card"],
        facility=tables["facility"],
        period_start=sf.period_start,
        period_end=sf.period_end,
        switched_off=sf.switched_off,
        claim_flags=None,
    )


def score_spark(spark: SparkSession, sf: SparkFeatures, bundle: Bundle) -> dict[str, DataFrame]:
    """Per entity type a Spark DataFrame of SCORE_SCHEMA (one row per entity)."""
    bundle.check_features(_empty_features(sf))  # missing features fail on the driver
    shared = spark.sparkContext.broadcast(bundle)
    out = {}
    for entity, key in ENTITY_KEY.items():

        def run(
            batches: Iterator[pd.DataFrame], entity: str = entity, key: str = key
        ) -> Iterator[pd.DataFrame]:
            b = shared.value
            for pdf in batches:
                X = pdf.set_index(key)
                X.index = X.index.astype("string")
                s = b.score_entity(entity, X)
                frame = pd.DataFrame(
                    {
                        "entity_id": np.asarray(X.index.astype(object)),
                        "score": s["score"].to_numpy(np.float64),
                        "forest_score": s["forest_score"].to_numpy(np.float64),
                        "rule_score": s["rule_score"].to_numpy(np.float64),
                        "hard_facts": s["hard_facts"].to_numpy(np.float64),
                        "rule_hits": s["rule_hits"]
                        .astype(object)
                        .map(lambda v: v if v is None or isinstance(v, str) else str(v)),
                    }
                )
                yield arrow_safe(frame)

        out[entity] = getattr(sf, entity).mapInPandas(run, SCORE_SCHEMA)
    return out


def top_alerts(
    scores: dict[str, DataFrame],
    period: tuple[pd.Timestamp, pd.Timestamp],
    capacity: dict[str, int],
    model_version: str,
    threshold: float | None = None,
) -> pd.DataFrame:
    """The alert candidates of :func:`claimguard.scoring.alerts.select_alerts` (rank within
    capacity, or score at least ``threshold``), with rank and alert id; top-k in Spark."""
    from pyspark.sql import functions as F

    parts = []
    for entity, frame in scores.items():
        k = int(capacity.get(entity, 0))
        ordered = frame.orderBy(F.desc("score"), F.asc("entity_id"))
        top = ordered.limit(k).toPandas() if k > 0 else ordered.limit(0).toPandas()
        if threshold is not None:  # above the threshold, beyond capacity too
            extra = ordered.filter(F.col("score") >= threshold).toPandas()
            top = extra if len(extra) > len(top) else top  # both in rank order
        top.insert(0, "entity_type", entity)
        top["rank"] = np.arange(1, len(top) + 1, dtype=np.int64)
        parts.append(top)
    out = pd.concat(parts, ignore_index=True)
    out["period_start"] = pd.Timestamp(period[0]).normalize()
    out["period_end"] = pd.Timestamp(period[1]).normalize()
    out["alert_id"] = alert_ids(out, model_version)
    return out


__all__ = ["SCORE_SCHEMA", "score_spark", "top_alerts"]
