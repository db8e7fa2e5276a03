"""Peer tables of a Spark dataset from mergeable sums (no claim reaches the driver).

Why: every card partition sums counts and values per finest peer group
(:func:`claimguard.features.peers.peer_sums`), Spark adds them up per group, and only
those few thousand sums reach the driver, which turns them into the peer tables
(:func:`claimguard.features.peers.peers_from_sums`) -- the local fit is the same code
with one partition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from claimguard.features.peers import (
    PeerSums,
    PeerTables,
    peer_shell,
    peer_sums,
    peers_from_sums,
)
from claimguard.features.prepare import prepare
from claimguard.settings import FeatureSettings
from claimguard.spark.buckets import BUCKET, KIND, bucketed, split
from claimguard.spark.data import arrow_safe

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        t = split(pdf, names)
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


def fit_peers_spark(
    spark: SparkSession,
    claims: DataFrame,
    lines: DataFrame | None,
    cards: DataFrame | None,
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
    wide, names = bucketed(claims, lines, cards, "card_id", n)
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


__all__ = ["fit_peers_spark"]
