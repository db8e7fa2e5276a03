"""Card and facility features on Spark: the local feature functions per partition.

Why: :func:`claimguard.features.build.build_features` is exact on any set of claims
that holds *all* claims of its cards (card features) or of its facilities (facility
features), given the period and the peers -- this is what
:mod:`claimguard.features.partitioned` relies on locally. Spark does the same split
with ``groupBy(bucket).applyInPandas``: claims bucketed by a hash of the card id (and,
in a second pass, of the facility id), each line sent along with its claim, each
registry row to the buckets of its card. The facility reference table is small and
goes to every partition whole (broadcast with the function).

Peers, when not taken from a model bundle, are fitted as mergeable sums
(:func:`claimguard.features.peers.peer_sums`): every card partition sums counts and
values per finest peer group, Spark adds them up per group, and only those few
thousand sums reach the driver, which turns them into the peer tables
(:func:`claimguard.features.peers.peers_from_sums`). No claim is collected to the driver.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from claimguard.features.build import FLAG_SIGNALS, USED_COLUMNS, build_features
from claimguard.features.catalog import features_for
from claimguard.features.peers import (
    PeerTables,
)
from claimguard.features.prepare import period_of
from claimguard.settings import FeatureSettings
from claimguard.spark.buckets import BUCKET, KIND, bucketed, split, used
from claimguard.spark.data import SparkDataset, arrow_safe
from claimguard.spark.peers import fit_peers_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

META = "_cg_meta"
ID = "_cg_id"
ENTITY_KEY = {"card": "card_id", "facility": "facility_id"}
FLAG_IDS = ("claim_id", "card_id", "facility_id")


@dataclass
class SparkFeatures:
    """Feature tables as Spark DataFrames (``card_id`` / ``facility_id`` column first)."""

    card: DataFrame
    facility: DataFrame
    claim_flags: DataFrame
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    peers: PeerTables
    switched_off: dict[str, list[str]] = field(default_factory=dict)
    # per entity type the claim flags of its own pass (FLAG_IDS + one column per signal),
    # as the local partitioned build hands them to evidence selection
    flags: dict[str, DataFrame] = field(default_factory=dict)


# ----------------------------------------------------------------------------- partitions


def _features_schema() -> str:
    feats = [s.name for e in ("card", "facility") for s in features_for(e)]
    parts = [f"{KIND} string", f"{ID} string"]
    parts += [f"`{f}` double" for f in feats]
    parts += [f"`{c}` string" for c in FLAG_IDS]
    parts += [f"`flag_{s}` float" for s in FLAG_SIGNALS]
    parts += [f"{META} string"]
    return ", ".join(parts)


def _schema_names(schema: str) -> list[str]:
    return [p.split(" ")[0].strip("`") for p in schema.split(", ")]


def _features_fn(
    names: list[str],
    entity: str,
    facilities: pd.DataFrame | None,
    peers: PeerTables,
    settings: FeatureSettings,
    period: tuple[pd.Timestamp, pd.Timestamp],
) -> Any:
    schema_names = _schema_names(_features_schema())

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        t = split(pdf, names)
        claims = t["claims"]
        assert claims is not None
        fs = build_features(
            claims,
            t["claim_lines"],
            t["cards"],
            facilities,
            peers=peers,
            settings=settings,
            period=period,
            entities=(entity,),
        )
        table = getattr(fs, entity)
        feats = pd.DataFrame(table.to_numpy(dtype=np.float64), columns=list(table.columns))
        feats[ID] = np.asarray(table.index.astype(object))
        feats[KIND] = entity
        parts = [feats]
        flag_cols: list[str] = []
        if fs.claim_flags is not None and len(fs.claim_flags):
            fl = fs.claim_flags
            flag_cols = [c for c in fl.columns if c in FLAG_SIGNALS]
            flags = pd.DataFrame({c: np.asarray(fl[c].astype(object)) for c in FLAG_IDS})
            for c in flag_cols:
                flags[f"flag_{c}"] = fl[c].to_numpy(dtype=np.float32)
            flags[KIND] = "flags"
            parts.append(flags)
        meta = json.dumps({"switched_off": fs.switched_off, "flags": flag_cols})
        parts.append(pd.DataFrame({KIND: ["meta"], META: [meta]}))
        out = pd.concat(parts, ignore_index=True)
        for c in schema_names:
            if c not in out.columns:
                out[c] = None
        return arrow_safe(out[schema_names])

    return run


# ----------------------------------------------------------------------------- driver


def spark_period(claims: DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """:func:`claimguard.features.prepare.period_of` of a Spark claims table (min/max in Spark)."""
    from pyspark.sql import functions as F

    row = claims.agg(F.min("admit_time").alias("lo"), F.max("admit_time").alias("hi")).collect()[0]
    values = [v for v in (row["lo"], row["hi"]) if v is not None]
    return period_of(pd.DataFrame({"admit_time": pd.to_datetime(pd.Series(values, dtype=object))}))


def _facilities(ds: SparkDataset) -> pd.DataFrame | None:
    """The facility reference table, collected: small, sent whole to each partition."""
    if "facilities" not in ds.tables:
        return None
    frame = ds.tables["facilities"]
    return frame.select(*[c for c in frame.columns if c in USED_COLUMNS["facilities"]]).toPandas()


def _tables(
    results: dict[str, DataFrame], metas: dict[str, list[dict[str, Any]]]
) -> tuple[dict[str, DataFrame], dict[str, list[str]]]:
    """Feature tables (id column first) and the switched-off features.

    A feature is in the table when some partition could compute it (the data has its
    columns; partitions that could not give 0, as the local build does for NaN), and
    switched off when no partition could.
    """
    from pyspark.sql import functions as F

    switched_off: dict[str, list[str]] = {}
    tables = {}
    for entity, key in ENTITY_KEY.items():
        offs = [m["switched_off"] for m in metas[entity]]
        present = []
        for f in (s.name for s in features_for(entity)):
            if offs and all(f in o for o in offs):
                switched_off[f] = offs[0][f]
            else:
                present.append(f)
        tables[entity] = results[entity].select(
            F.col(ID).alias(key),
            *[F.coalesce(F.col(f"`{f}`"), F.lit(0.0)).alias(f) for f in present],
        )
    return tables, switched_off


def _flags(
    parts: list[DataFrame], metas: dict[str, list[dict[str, Any]]]
) -> tuple[DataFrame, dict[str, DataFrame]]:
    """Claim flags of both passes (max per claim and signal) and of each pass."""
    from pyspark.sql import functions as F

    metas_all = [m for ms in metas.values() for m in ms]
    signals = sorted({s for m in metas_all for s in m["flags"]}, key=FLAG_SIGNALS.index)
    own = {
        e: part.select(*FLAG_IDS, *[F.col(f"flag_{s}").alias(s) for s in signals])
        for e, part in zip(ENTITY_KEY, parts, strict=True)
    }
    claim_flags = (
        parts[0]
        .unionByName(parts[1])
        .groupBy(*FLAG_IDS)
        .agg(
            *[
                F.max(F.coalesce(F.col(f"flag_{s}"), F.lit(0.0))).cast("float").alias(s)
                for s in signals
            ]
        )
    )
    return claim_flags, own


def build_features_spark(
    spark: SparkSession,
    ds: SparkDataset,
    settings: FeatureSettings,
    *,
    peers: PeerTables | None = None,
    partitions: int | None = None,
) -> SparkFeatures:
    """The feature tables of :func:`claimguard.features.build.build_features` on Spark.

    ``peers`` None = fitted on these claims as mergeable sums (as the local command does
    without ``--model``). Results are Spark DataFrames; the caller writes or collects them.
    """
    from pyspark.sql import functions as F

    n = int(partitions or int(str(spark.conf.get("spark.sql.shuffle.partitions"))))
    claims = used(ds.tables["claims"], "claims")
    lines = used(ds.tables["claim_lines"], "claim_lines") if "claim_lines" in ds.tables else None
    cards = used(ds.tables["cards"], "cards") if "cards" in ds.tables else None
    facilities = _facilities(ds)
    period = spark_period(claims)
    if peers is None:
        peers = fit_peers_spark(spark, claims, lines, cards, facilities, settings, period, n)
    results = {}
    metas: dict[str, list[dict[str, Any]]] = {}
    flag_parts = []
    for entity, key in ENTITY_KEY.items():
        wide, names = bucketed(claims, lines, cards, key, n)
        fn = _features_fn(names, entity, facilities, peers, settings, period)
        out = wide.groupBy(BUCKET).applyInPandas(fn, _features_schema()).persist()
        rows = out.filter(F.col(KIND) == "meta").select(META).collect()
        metas[entity] = [json.loads(r[0]) for r in rows]
        results[entity] = out.filter(F.col(KIND) == entity)
        flag_parts.append(out.filter(F.col(KIND) == "flags"))
    tables, switched_off = _tables(results, metas)
    claim_flags, own = _flags(flag_parts, metas)
    return SparkFeatures(
        card=tables["card"],
        facility=tables["facility"],
        claim_flags=claim_flags,
        period_start=period[0],
        period_end=period[1],
        peers=peers,
        switched_off=switched_off,
        flags=own,
    )


__all__ = ["SparkFeatures", "build_features_spark", "fit_peers_spark", "spark_period"]
