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
from typing import Any

import numpy as np
import pandas as pd

from claimguard.features.build import FLAG_SIGNALS, USED_COLUMNS, build_features
from claimguard.features.catalog import features_for
from claimguard.features.peers import (
    PeerSums,
    PeerTables,
    peer_shell,
    peer_sums,
    peers_from_sums,
)
from claimguard.features.prepare import period_of, prepare
from claimguard.settings import FeatureSettings
from claimguard.spark.data import SOURCE_FILE, SOURCE_ROW, SparkDataset, arrow_safe

log = logging.getLogger(__name__)

BUCKET = "_cg_bucket"
TAG = "_cg_table"
KIND = "_cg_kind"
META = "_cg_meta"
ID = "_cg_id"
PREFIX = {"claims": "c__", "claim_lines": "l__", "cards": "r__"}
ENTITY_KEY = {"card": "card_id", "facility": "facility_id"}
FLAG_IDS = ("claim_id", "card_id", "facility_id")


@dataclass
class SparkFeatures:
    """Feature tables as Spark DataFrames (``card_id`` / ``facility_id`` column first)."""

    card: Any
    facility: Any
    claim_flags: Any
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    peers: PeerTables
    switched_off: dict[str, list[str]] = field(default_factory=dict)
    # per entity type the claim flags of its own pass (FLAG_IDS + one column per signal),
    # as the local partitioned build hands them to evidence selection
    flags: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- partitions


def _used(frame: Any, table: str) -> Any:
    """The columns the features read, and the source order (ties in time keep file order)."""
    keep = [c for c in frame.columns if c in USED_COLUMNS[table]]
    if table != "cards" and SOURCE_FILE in frame.columns:
        keep += [SOURCE_FILE, SOURCE_ROW]
    return frame.select(*keep)


def _bucketed(
    claims: Any, lines: Any | None, cards: Any | None, key: str, n: int
) -> tuple[Any, list[str]]:
    """One wide frame per bucket: claims (by ``key``'s hash), their lines, the registry rows
    of the cards they name; columns prefixed by table, ``TAG`` names the table."""
    from pyspark.sql import functions as F

    c = claims.withColumn(BUCKET, F.pmod(F.xxhash64(key), F.lit(n)))
    parts = [c]
    if lines is not None:
        parts.append(lines.join(c.select("claim_id", BUCKET), "claim_id", "inner"))
    if cards is not None:
        if key == "card_id":  # same hash of the same id: no join needed
            parts.append(cards.withColumn(BUCKET, F.pmod(F.xxhash64("card_id"), F.lit(n))))
        else:  # a card's registry row goes to every facility bucket that saw the card
            seen = c.select("card_id", BUCKET).distinct()
            parts.append(cards.join(seen, "card_id", "inner"))
    names = ["claims", "claim_lines", "cards"] if lines is not None else ["claims", "cards"]
    if cards is None:
        names = names[:-1]
    wide = None
    for name, part in zip(names, parts, strict=True):
        pre = PREFIX[name]
        renamed = part.select(
            F.col(BUCKET),
            F.lit(name).alias(TAG),
            *[F.col(f"`{col}`").alias(pre + col) for col in part.columns if col != BUCKET],
        )
        wide = renamed if wide is None else wide.unionByName(renamed, allowMissingColumns=True)
    return wide, names


def _split(pdf: pd.DataFrame, names: list[str]) -> dict[str, pd.DataFrame | None]:
    """The bucket's tables back as pandas frames (prefixes stripped, file order restored)."""
    out: dict[str, pd.DataFrame | None] = {}
    for name in ("claims", "claim_lines", "cards"):
        if name not in names:
            out[name] = None
            continue
        pre = PREFIX[name]
        cols = [c for c in pdf.columns if c.startswith(pre)]
        sub = pdf.loc[pdf[TAG] == name, cols]
        sub.columns = [c[len(pre) :] for c in cols]
        if SOURCE_FILE in sub.columns:
            sub = sub.sort_values([SOURCE_FILE, SOURCE_ROW], kind="stable")
            sub = sub.drop(columns=[SOURCE_FILE, SOURCE_ROW])
        out[name] = sub.reset_index(drop=True)
    return out


def _sums_schema() -> str:
    return (
        f"{KIND} string, stat string, key long, n double, s double, count long, "
        "facility_id string, tier long, claims double, cards double, cost double"
    )


def _sums_fn(
    names: list[str],
    facilities: pd.DataFrame | None,
    shell: PeerTables,
    settings: FeatureSettings,
    period: tuple[pd.Timestamp, pd.Timestamp],
) -> Any:
    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        t = _split(pdf, names)
        claims = t["claims"]
        assert claims is not None
        p = prepare(claims, t["claim_lines"], t["cards"], facilities, period, dispensings=False)
        sums = peer_sums(p, shell, settings)
        parts = [
            sums.stats.assign(**{KIND: "stat"}),
            sums.demography.assign(**{KIND: "demo"}),
            sums.volume.assign(**{KIND: "vol"}),
        ]
        out = pd.concat(parts, ignore_index=True)
        for c in ("key", "count", "tier"):
            out[c] = out[c].astype("Int64")
        cols = [f.split(" ")[0] for f in _sums_schema().split(", ")]
        return arrow_safe(out[cols])

    return run


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
        t = _split(pdf, names)
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


def spark_period(claims: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """:func:`claimguard.features.prepare.period_of` of a Spark claims table (min/max in Spark)."""
    from pyspark.sql import functions as F

    row = claims.agg(F.min("admit_time").alias("lo"), F.max("admit_time").alias("hi")).collect()[0]
    values = [v for v in (row["lo"], row["hi"]) if v is not None]
    return period_of(pd.DataFrame({"admit_time": pd.to_datetime(pd.Series(values, dtype=object))}))


def fit_peers_spark(
    spark: Any,
    claims: Any,
    lines: Any | None,
    cards: Any | None,
    facilities: pd.DataFrame | None,
    settings: FeatureSettings,
    period: tuple[pd.Timestamp, pd.Timestamp],
    n: int,
) -> PeerTables:
    """Peer tables of the whole data from per-card-partition sums (see module doc)."""
    from pyspark.sql import functions as F

    pdx = [
        r[0]
        for r in claims.select("primary_dx")
        .where(F.col("primary_dx").isNotNull())
        .distinct()
        .collect()
    ]
    fac = [r[0] for r in claims.select("facility_id").distinct().collect()]
    shell = peer_shell(
        np.asarray(pdx, dtype=object), np.asarray(fac, dtype=object), settings.min_peer_group_size
    )
    wide, names = _bucketed(claims, lines, cards, "card_id", n)
    out = wide.groupBy(BUCKET).applyInPandas(
        _sums_fn(names, facilities, shell, settings, period), _sums_schema()
    )
    out = out.persist()
    stats = (
        out.filter(F.col(KIND) == "stat")
        .groupBy("stat", "key")
        .agg(F.sum("n").alias("n"), F.sum("s").alias("s"))
        .toPandas()
    )
    demo = (
        out.filter(F.col(KIND) == "demo")
        .groupBy("key")
        .agg(F.sum("count").alias("count"))
        .toPandas()
    )
    vol = (
        out.filter(F.col(KIND) == "vol")
        .groupBy("facility_id")
        .agg(
            F.first("tier").alias("tier"),
            F.sum("claims").alias("claims"),
            F.sum("cards").alias("cards"),
            F.sum("cost").alias("cost"),
        )
        .toPandas()
    )
    out.unpersist()
    # the local fit's order of stats (first appearance: claim family, admission, cards)
    order = {name: i for i, name in enumerate(_stat_order())}
    stats = stats.sort_values(
        ["stat", "key"], key=lambda s: s.map(order) if s.name == "stat" else s
    ).reset_index(drop=True)
    days = int((period[1].normalize() - period[0].normalize()).days) + 1
    sums = PeerSums(stats, demo, vol.astype({"tier": np.int64}))
    return peers_from_sums(shell, sums, days, settings.min_peer_group_size)


def _stat_order() -> list[str]:
    from claimguard.features.peers import CARD_STATS, CLAIM_STATS

    claim = [s for s, f in CLAIM_STATS.items() if f == "claim"]
    admission = [s for s, f in CLAIM_STATS.items() if f == "admission"]
    return claim + admission + [f"card_{s}" for s in CARD_STATS]


def build_features_spark(
    spark: Any,
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

    n = int(partitions or int(spark.conf.get("spark.sql.shuffle.partitions")))
    claims = _used(ds.tables["claims"], "claims")
    lines = _used(ds.tables["claim_lines"], "claim_lines") if "claim_lines" in ds.tables else None
    cards = _used(ds.tables["cards"], "cards") if "cards" in ds.tables else None
    facilities = None
    if "facilities" in ds.tables:  # a reference table: small, sent whole to each partition
        facilities = (
            ds.tables["facilities"]
            .select(
                *[c for c in ds.tables["facilities"].columns if c in USED_COLUMNS["facilities"]]
            )
            .toPandas()
        )
    period = spark_period(claims)
    if peers is None:
        peers = fit_peers_spark(spark, claims, lines, cards, facilities, settings, period, n)
    results = {}
    metas: dict[str, list[dict[str, Any]]] = {}
    flag_parts = []
    for entity, key in ENTITY_KEY.items():
        wide, names = _bucketed(claims, lines, cards, key, n)
        out = (
            wide.groupBy(BUCKET)
            .applyInPandas(
                _features_fn(names, entity, facilities, peers, settings, period),
                _features_schema(),
            )
            .persist()
        )
        rows = out.filter(F.col(KIND) == "meta").select(META).collect()
        metas[entity] = [json.loads(r[0]) for r in rows]
        results[entity] = out.filter(F.col(KIND) == entity)
        flag_parts.append(out.filter(F.col(KIND) == "flags"))
    # A feature is in the table when some partition could compute it (the data has its
    # columns; partitions that could not give 0, as the local build does for NaN), and
    # switched off when no partition could.
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
    metas_all = [m for ms in metas.values() for m in ms]
    signals = sorted({s for m in metas_all for s in m["flags"]}, key=FLAG_SIGNALS.index)
    own = {
        e: part.select(*FLAG_IDS, *[F.col(f"flag_{s}").alias(s) for s in signals])
        for e, part in zip(ENTITY_KEY, flag_parts, strict=True)
    }
    flags = flag_parts[0].unionByName(flag_parts[1])
    claim_flags = flags.groupBy(*FLAG_IDS).agg(
        *[F.max(F.coalesce(F.col(f"flag_{s}"), F.lit(0.0))).cast("float").alias(s) for s in signals]
    )
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
