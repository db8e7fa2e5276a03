"""``claimguard train`` and ``claimguard score`` with ``--engine spark``.

Why a job: training and scoring on Spark compose the Spark layer (read, validate,
features, scores, drift) with the local model and scoring layers (fitting the
detectors, reasons, evidence, the triage context, the output folder). The bundle and
the output files are exactly those of the local path, so a model trained on Spark scores
locally and vice versa, and the triage app reads a Spark run like any other.

What the driver holds (docs/scaling.md): the facility table, peer sums, a uniform
sample of at most ``model.max_fit_rows`` entities per type (training), one (id, score)
row per entity for ``scores.parquet`` (scoring), and the claims of the alerted entities.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from claimguard.errors import UserError
from claimguard.features.build import FeatureSet
from claimguard.io.mapping import Mapping
from claimguard.model.bundle import Bundle
from claimguard.model.train import fit_bundle
from claimguard.progress import step
from claimguard.schema import ENTITY_TYPES
from claimguard.settings import Settings, SparkSettings
from claimguard.spark.data import SOURCE_FILE, SOURCE_ROW, SparkDataset, load_dataset_spark
from claimguard.spark.features import ENTITY_KEY, SparkFeatures, build_features_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

ENGINES = ("local", "spark")


def chosen_engine(engine: str | None, settings: Settings, *, since: Path | None = None) -> str:
    """``--engine`` or the ``engine`` setting; anything but local/spark is a usage error,
    and so is ``--since`` (incremental scoring) on Spark."""
    chosen = engine or settings.engine
    if chosen not in ENGINES:
        raise UserError(
            f"unknown engine '{chosen}'",
            where="--engine",
            fix="pass --engine local or --engine spark",
        )
    if chosen == "spark" and since is not None:
        raise UserError(
            "--since is not available with --engine spark",
            where="--since",
            fix="pass the period to score with --period START..END instead",
        )
    return chosen


def spark_settings(settings: Settings, master: str | None) -> SparkSettings:
    """The ``spark`` settings with ``--spark-master`` applied."""
    if not master:
        return settings.spark
    return settings.spark.model_copy(update={"master": master})


def _open(
    data: str, mapping: Path | None, conf: SparkSettings, timings: dict[str, float]
) -> tuple[SparkSession, SparkDataset]:
    from claimguard.io.mapping import load_mapping
    from claimguard.spark.session import get_session

    m: Mapping | None = load_mapping(mapping) if mapping is not None else None
    spark = get_session(conf)
    with step("Reading and validating on Spark", timings):
        ds = load_dataset_spark(spark, data, m, conf.shuffle_partitions)
    return spark, ds


# ----------------------------------------------------------------------------- training


def spark_fingerprint(data: str, ds: SparkDataset, sf: SparkFeatures) -> dict[str, Any]:
    """:func:`claimguard.model.train.fingerprint` from Spark aggregates (no file hashes:
    hashing a year of claims on the driver would read it all; the input path is kept)."""
    from pyspark.sql import functions as F

    claims = ds.tables["claims"]
    row = claims.agg(
        F.countDistinct("card_id").alias("cards"), F.countDistinct("facility_id").alias("facs")
    ).collect()[0]

    def distinct(col: str) -> list[str]:
        values = claims.select(col).where(F.col(col).isNotNull()).distinct().collect()
        return sorted(str(r[0]) for r in values)

    return {
        "sources": {"input": str(data)},
        "rows": {name: int(c["valid"]) for name, c in ds.counts.items()},
        "counts": dict(ds.counts),
        "period_start": str(sf.period_start.date()),
        "period_end": str(sf.period_end.date()),
        "n_cards": int(row["cards"]),
        "n_facilities": int(row["facs"]),
        "seen_facilities": distinct("facility_id"),
        "seen_diagnoses": distinct("primary_dx"),
    }


def sample_entities(
    frame: DataFrame, key: str, k: int, seed: int, first_seen: DataFrame | None = None
) -> pd.DataFrame:
    """A uniform sample of ``k`` entities (all of them when there are fewer), indexed by id,
    in the local feature table's order: cards by their first claim in file order
    (``first_seen``: id, file, row), facilities by id.

    Why a hash: ``orderBy(xxhash64(id, seed)).limit(k)`` keeps a top-k per partition and
    merges them on the driver (no global sort), and it draws the same entities however
    the table is partitioned, unlike ``sample`` or ``rand``. Why the order: the forest's
    subsamples are drawn by row position, so the same rows in the same order fit the
    same trees as the local training.
    """
    from pyspark.sql import functions as F

    drawn = frame.orderBy(F.xxhash64(F.col(key), F.lit(int(seed)))).limit(int(k))
    by = [key]
    if first_seen is not None:
        drawn = drawn.join(first_seen, key, "left")
        by = [SOURCE_FILE, SOURCE_ROW, key]
    out = drawn.toPandas().sort_values(by, kind="stable").set_index(key)
    out = out.drop(columns=[c for c in (SOURCE_FILE, SOURCE_ROW) if c in out.columns])
    out.index = out.index.astype("string")
    return out


def _first_seen(claims: DataFrame) -> DataFrame:
    """Per card the file position of its first claim (the local card table's order)."""
    from pyspark.sql import functions as F

    first = F.min(F.struct(F.col(SOURCE_FILE), F.col(SOURCE_ROW))).alias("_cg_first")
    return (
        claims.groupBy("card_id")
        .agg(first)
        .select(
            "card_id",
            F.col(f"_cg_first.{SOURCE_FILE}").alias(SOURCE_FILE),
            F.col(f"_cg_first.{SOURCE_ROW}").alias(SOURCE_ROW),
        )
    )


def train_on_spark(
    data: str,
    settings: Settings,
    *,
    master: str | None = None,
    mapping: Path | None = None,
    config_path: Path | None = None,
    timings: dict[str, float] | None = None,
) -> Bundle:
    """The bundle of :func:`claimguard.model.train.train`, with the heavy steps on Spark.

    Peers come from Spark's sums per peer group, features from the card and facility
    partitions. The detectors, the feature statistics and the evidence rates are fitted on
    one uniform sample of ``model.max_fit_rows`` entities per type drawn by Spark; with
    fewer entities than that the sample is every entity and the bundle equals the local
    training's up to the float tolerance of the features (tests/spark).
    """
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    conf = spark_settings(settings, master)
    spark, ds = _open(data, mapping, conf, timings)
    with step("Peers and features on Spark", timings):
        sf = build_features_spark(spark, ds, settings.features, partitions=conf.shuffle_partitions)
    with step("Fingerprinting the data", timings):
        fp = spark_fingerprint(data, ds, sf)
    if config_path is not None:
        fp["config_file"] = str(config_path)
    m = settings.model
    with step("Sampling entities on Spark", timings):
        order = {"card": _first_seen(ds.tables["claims"]), "facility": None}
        tables = {
            e: sample_entities(getattr(sf, e), key, m.max_fit_rows, m.random_state, order[e])
            for e, key in ENTITY_KEY.items()
        }
    fs = FeatureSet(
        card=tables["card"],
        facility=tables["facility"],
        period_start=sf.period_start,
        period_end=sf.period_end,
        switched_off=sf.switched_off,
        claim_flags=None,
    )
    fp["switched_off"] = dict(sf.switched_off)
    fp["n_feature_rows"] = {e: int(getattr(sf, e).count()) for e in ENTITY_TYPES}
    fp["fit_sample_rows"] = {e: int(len(t)) for e, t in tables.items()}
    fp["engine"] = {"name": "spark", "master": conf.master}
    bundle = fit_bundle(fs, sf.peers, settings, fp=fp, timings=timings)
    timings["Training total"] = round(time.perf_counter() - t0, 3)
    bundle.metrics["training_seconds"] = timings["Training total"]
    return bundle


__all__ = [
    "ENGINES",
    "chosen_engine",
    "sample_entities",
    "spark_fingerprint",
    "spark_settings",
    "train_on_spark",
]
