"""What the driver collects to explain the alerts of a Spark scoring run, and drift.

Why: reasons, evidence claims and the triage context concern a few hundred alerted
entities, so they are computed with the local functions on the rows of those entities
only: their feature rows, their claims (every claim of an alerted card or facility),
those claims' lines, the registry rows of the cards in them, and the claim flags of the
entity's own feature pass. Drift needs whole feature tables, but only as histogram counts
in the training bins, which add up over partitions
(:func:`claimguard.scoring.drift.feature_bins`); unseen facilities and diagnoses are two
counts. Nothing here collects a table whose size grows with the month.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from claimguard.scoring.drift import drift_summary, feature_bins, psi_from_bins
from claimguard.scoring.evidence import compact_flags
from claimguard.settings import DriftSettings
from claimguard.spark.data import SOURCE_FILE, SOURCE_ROW, SparkDataset
from claimguard.spark.features import ENTITY_KEY, SparkFeatures
from claimguard.tables import Dataset

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from claimguard.model.bundle import Bundle


def _ids_frame(spark: SparkSession, ids: Collection[str], name: str) -> DataFrame:
    """A one-column frame of ids, broadcast in joins (a few hundred rows)."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(pd.DataFrame({name: [str(i) for i in ids]}, dtype=object))
    return F.broadcast(frame)


def rows_of(spark: SparkSession, frame: DataFrame, key: str, ids: Collection[str]) -> pd.DataFrame:
    """The rows of ``frame`` whose ``key`` is in ``ids``, indexed by ``key`` (as strings)."""
    if not ids:
        return frame.limit(0).toPandas().set_index(key)
    out = frame.join(_ids_frame(spark, ids, key), key, "left_semi").toPandas().set_index(key)
    out.index = out.index.astype("string")
    return out


def collect_scores(scores: dict[str, DataFrame]) -> dict[str, pd.DataFrame]:
    """Per entity type its ids and scores (what ``scores.parquet`` ranks), by Arrow."""
    out = {}
    for entity, frame in scores.items():
        pdf = frame.select("entity_id", "score").toPandas().set_index("entity_id")
        pdf.index = pdf.index.astype("string")
        out[entity] = pdf
    return out


def _in_file_order(pdf: pd.DataFrame) -> pd.DataFrame:
    if SOURCE_FILE in pdf.columns:
        pdf = pdf.sort_values([SOURCE_FILE, SOURCE_ROW], kind="stable")
        pdf = pdf.drop(columns=[SOURCE_FILE, SOURCE_ROW])
    return pdf.reset_index(drop=True)


def alert_subset(
    spark: SparkSession,
    ds: SparkDataset,
    claims: DataFrame,
    lines: DataFrame | None,
    card_ids: Collection[str],
    facility_ids: Collection[str],
) -> Dataset:
    """A local Dataset of every claim of the alerted cards and facilities (file order),
    their lines, the registry rows of the cards in them, and the facility table."""
    from pyspark.sql import functions as F

    cards_f = _ids_frame(spark, card_ids, "card_id").withColumn("_cg_c", F.lit(True))
    facs_f = _ids_frame(spark, facility_ids, "facility_id").withColumn("_cg_f", F.lit(True))
    mine = (
        claims.join(cards_f, "card_id", "left")
        .join(facs_f, "facility_id", "left")
        .where(F.col("_cg_c").isNotNull() | F.col("_cg_f").isNotNull())
        .drop("_cg_c", "_cg_f")
        .select(*claims.columns)
    )
    sub_claims = _in_file_order(mine.toPandas())
    ids = sub_claims["claim_id"].astype(str).unique().tolist()
    sub_lines = None
    if lines is not None:
        sub_lines = _in_file_order(
            lines.join(_ids_frame(spark, ids, "claim_id"), "claim_id", "left_semi").toPandas()
        )
    registry = None
    if "cards" in ds.tables:
        seen = sub_claims["card_id"].astype(str).unique().tolist()
        registry = _in_file_order(
            ds.tables["cards"]
            .join(_ids_frame(spark, seen, "card_id"), "card_id", "left_semi")
            .toPandas()
        )
    facilities = None
    if "facilities" in ds.tables:
        facilities = _in_file_order(ds.tables["facilities"].toPandas())
    return Dataset(
        claims=sub_claims,
        claim_lines=sub_lines,
        facilities=facilities,
        cards=registry,
        counts=ds.counts,
    )


def alert_flags(
    spark: SparkSession,
    sf: SparkFeatures,
    entity: str,
    ids: Collection[str],
    claims: pd.DataFrame,
    combined: bool = False,
) -> pd.DataFrame | None:
    """The claim flags of the alerted ``ids`` -- of the entity's own pass, or of both passes
    (``combined``) -- as :func:`claimguard.scoring.evidence.compact_flags` over ``claims``."""
    frame = sf.claim_flags if combined else sf.flags.get(entity)
    if frame is None or not ids:
        return None
    key = ENTITY_KEY[entity]
    pdf = frame.join(_ids_frame(spark, ids, key), key, "left_semi").toPandas()
    return compact_flags(pdf, claims["claim_id"].astype("string"))


def _bins_fn(stats: pd.DataFrame | None, key: str) -> Any:
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            # float32, as the local score keeps its feature tables (bin edges are values)
            bins = feature_bins(pdf.drop(columns=[key]).astype(np.float32), stats)
            yield pd.DataFrame(
                {
                    "feature": [f for f, b in bins.items() for _ in range(b.shape[1])],
                    "bin": [i for b in bins.values() for i in range(b.shape[1])],
                    "expected": np.concatenate([b[0] for b in bins.values()] or [[]]),
                    "count": np.concatenate([b[1] for b in bins.values()] or [[]]),
                }
            )

    return run


def _unseen(claims: DataFrame, column: str, seen: Collection[str] | None) -> float | None:
    """:func:`claimguard.scoring.drift.unseen_share` of a Spark column (two counts)."""
    from pyspark.sql import functions as F

    if seen is None:
        return None
    present = claims.select(F.col(column).cast("string").alias("v")).where(F.col("v").isNotNull())
    known = F.broadcast(
        claims.sparkSession.createDataFrame(pd.DataFrame({"v": sorted(map(str, seen))}))
    )
    row = (
        present.join(known.withColumn("_k", F.lit(1)), "v", "left")
        .agg(F.count("*").alias("n"), F.count("_k").alias("k"))
        .collect()[0]
    )
    n, k = int(row["n"]), int(row["k"])
    return None if n == 0 else round(float((n - k) / n), 4)


def spark_drift(
    sf: SparkFeatures,
    bundle: Bundle,
    claims: DataFrame,
    seen_facilities: Collection[str] | None,
    seen_diagnoses: Collection[str] | None,
    limits: DriftSettings,
) -> dict[str, Any]:
    """:func:`claimguard.scoring.drift.drift_report` from per-partition bin counts."""
    from pyspark.sql import functions as F

    per_type: dict[str, dict[str, float]] = {}
    for entity in bundle.feature_names:
        key = ENTITY_KEY[entity]
        stats = bundle.feature_stats.get(entity)
        table = getattr(sf, entity)
        cols = [c for c in table.columns if c in set(bundle.feature_names[entity])]
        schema = "feature string, bin long, expected double, count double"
        summed = (
            table.select(key, *cols)
            .mapInPandas(_bins_fn(stats, key), schema)
            .groupBy("feature", "bin")
            .agg(F.first("expected").alias("expected"), F.sum("count").alias("count"))
            .toPandas()
            .sort_values(["feature", "bin"])
        )
        bins = {
            str(f): np.vstack([g["expected"].to_numpy(), g["count"].to_numpy()])
            for f, g in summed.groupby("feature", sort=False)
        }
        order = [c for c in cols if c in bins]  # the local loop's order (table columns)
        per_type[entity] = psi_from_bins({f: bins[f] for f in order})
    return drift_summary(
        per_type,
        _unseen(claims, "facility_id", seen_facilities),
        _unseen(claims, "primary_dx", seen_diagnoses),
        limits,
    )


__all__ = ["alert_flags", "alert_subset", "collect_scores", "rows_of", "spark_drift"]
