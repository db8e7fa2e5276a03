"""CLI command of the features area: ``claimguard features DATA --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from claimguard.commands.options import ConfigOption, MappingOption

if TYPE_CHECKING:
    from claimguard.features.build import FeatureSet
    from claimguard.model.bundle import Bundle
    from claimguard.settings import FeatureSettings, SparkSettings
    from claimguard.tables import Dataset

FeaturesDataArg = Annotated[
    str,
    typer.Argument(
        help="Dataset folder, a claims .parquet/.csv file, or an XML 130 file or folder; with "
        "--engine spark a folder of Parquet tables (claims.parquet or claims/ ...) on any "
        "Hadoop path (file:, hdfs:, s3a:).",
        show_default=False,
    ),
]


def features(
    data: FeaturesDataArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for card_/facility_features.parquet.")
    ],
    mapping: MappingOption = None,
    config: ConfigOption = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Use this model bundle's peers and settings, and build in card/facility "
            "partitions as scoring does (bounded memory). Default: peers fitted on DATA.",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local (pandas in this process) or spark (card/facility partitions on Apache "
            "Spark, same results). Default: the `engine` setting.",
        ),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="Spark master URL for --engine spark, e.g. local[4], spark://host:7077, yarn. "
            "Default: the `spark.master` setting.",
        ),
    ] = None,
) -> None:
    """Write the per-card and per-facility feature tables of a dataset.

    Peers are fitted on the same data (for exploration and debugging), or taken from
    --model (the peers of its training data; the build then runs in partitions, for
    months larger than memory). Also writes claim_flags.parquet (per-claim evidence
    strengths) and switched_off.json.

    With --engine spark the same functions run on Spark (docs/scaling.md): the tables
    are written as Parquet folders (one file per partition), rows sorted by id.

    Example: `claimguard features data/demo --out features/ [--model models/model.joblib]
    [--engine spark --spark-master local[4]]`
    """
    import json

    from claimguard.features.build import build_features
    from claimguard.io.load import load_dataset
    from claimguard.jobs.spark import chosen_engine
    from claimguard.progress import step
    from claimguard.settings import load_settings

    settings = load_settings(config)
    chosen = chosen_engine(engine, settings)
    bundle = None
    if model is not None:
        from claimguard.model.bundle import load_bundle

        bundle = load_bundle(model, settings)  # a bad bundle fails before the data is read
    if chosen == "spark":
        spark_settings = settings.spark
        if spark_master:
            spark_settings = spark_settings.model_copy(update={"master": spark_master})
        feature_settings = bundle.settings.features if bundle is not None else settings.features
        _on_spark(data, out, mapping, spark_settings, feature_settings, bundle)
        return
    ds = load_dataset(data, mapping, settings.io)
    with step("Building features"):
        if bundle is None:
            fs = build_features(
                ds.claims, ds.claim_lines, ds.cards, ds.facilities, settings=settings.features
            )
        else:
            fs = _partitioned(ds, bundle, settings.scoring.partition_claims)
    out.mkdir(parents=True, exist_ok=True)
    with step("Writing feature tables"):
        fs.card.to_parquet(out / "card_features.parquet")
        fs.facility.to_parquet(out / "facility_features.parquet")
        if fs.claim_flags is not None:
            fs.claim_flags.to_parquet(out / "claim_flags.parquet", index=False)
        (out / "switched_off.json").write_text(
            json.dumps(fs.switched_off, indent=2, sort_keys=True), encoding="utf-8"
        )
    Console().print(
        f"{len(fs.card):,} cards x {fs.card.shape[1]} features, "
        f"{len(fs.facility):,} facilities x {fs.facility.shape[1]} features, "
        f"period {fs.period_start.date()} .. {fs.period_end.date()} -> {out}"
        + (f"; {len(fs.switched_off)} features switched off" if fs.switched_off else "")
    )


def _on_spark(
    data: str,
    out: Path,
    mapping: Path | None,
    spark_settings: SparkSettings,
    features: FeatureSettings,
    bundle: Bundle | None,
) -> None:
    """``features`` on Spark: read and validate there, build by partitions, write folders."""
    import json

    from claimguard.io.mapping import load_mapping
    from claimguard.progress import step
    from claimguard.spark.data import load_dataset_spark
    from claimguard.spark.features import build_features_spark
    from claimguard.spark.session import get_session

    m = load_mapping(mapping) if mapping is not None else None
    spark = get_session(spark_settings)
    with step("Reading and validating on Spark"):
        ds = load_dataset_spark(spark, data, m, spark_settings.shuffle_partitions)
    with step("Building features on Spark"):
        sf = build_features_spark(
            spark,
            ds,
            features,
            peers=bundle.peers if bundle is not None else None,
            partitions=spark_settings.shuffle_partitions,
        )
    out.mkdir(parents=True, exist_ok=True)
    with step("Writing feature tables"):
        for name, frame, key in (
            ("card_features", sf.card, "card_id"),
            ("facility_features", sf.facility, "facility_id"),
            ("claim_flags", sf.claim_flags, "claim_id"),
        ):
            frame.orderBy(key).write.mode("overwrite").parquet(
                str(out.resolve() / f"{name}.parquet")
            )
        (out / "switched_off.json").write_text(
            json.dumps(sf.switched_off, indent=2, sort_keys=True), encoding="utf-8"
        )
    n_card, n_fac = sf.card.count(), sf.facility.count()
    quarantined = sum(c["quarantined"] for c in ds.counts.values())
    Console().print(
        f"{n_card:,} cards x {len(sf.card.columns) - 1} features, "
        f"{n_fac:,} facilities x {len(sf.facility.columns) - 1} features, "
        f"period {sf.period_start.date()} .. {sf.period_end.date()} -> {out} (Spark "
        f"{spark_settings.master}; {quarantined:,} rows quarantined)"
        + (f"; {len(sf.switched_off)} features switched off" if sf.switched_off else "")
    )


def _partitioned(ds: Dataset, bundle: Bundle, partition_rows: int) -> FeatureSet:
    """Features with the bundle's peers, in partitions; the partitions' claim flags
    gathered into one claim_flags table (one row per claim, a column per signal)."""
    import dataclasses

    import numpy as np
    import pandas as pd

    from claimguard.features.lookup import positions
    from claimguard.features.partitioned import build_partitioned
    from claimguard.features.prepare import period_of
    from claimguard.scoring.evidence import flag_columns

    claims = ds.claims
    strengths: dict[str, np.ndarray] = {}

    def gather(entity: str, flags: pd.DataFrame, rows: np.ndarray) -> None:
        at = rows[positions(flags["claim_id"], claims["claim_id"].iloc[rows])]
        for col in flag_columns(flags):
            column = strengths.setdefault(col, np.zeros(len(claims), dtype=np.float32))
            column[at] = np.maximum(column[at], flags[col].to_numpy(dtype=np.float32))

    fs = build_partitioned(
        claims,
        ds.claim_lines,
        ds.cards,
        ds.facilities,
        peers=bundle.peers,
        settings=bundle.settings.features,
        period=period_of(claims),
        partition_rows=partition_rows,
        on_flags=gather,
    )
    flags = claims[["claim_id", "card_id", "facility_id"]].reset_index(drop=True)
    for col, values in strengths.items():
        flags[col] = values
    return dataclasses.replace(fs, claim_flags=flags)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command("features")(features)
