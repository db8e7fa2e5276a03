"""Claims, their lines and their registry rows, bucketed by an entity key for Spark.

Why: every feature function is exact on a set of claims holding *all* claims of its
entities; ``groupBy(bucket).applyInPandas`` hands each bucket's rows of the three tables
to one pandas call as one wide frame (columns prefixed by table), split back here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from claimguard.features.build import USED_COLUMNS
from claimguard.spark.read import SOURCE_FILE, SOURCE_ROW

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

BUCKET = "_cg_bucket"
TAG = "_cg_table"
KIND = "_cg_kind"
PREFIX = {"claims": "c__", "claim_lines": "l__", "cards": "r__"}


def used(frame: DataFrame, table: str) -> DataFrame:
    """The columns the features read, and the source order (ties in time keep file order)."""
    keep = [c for c in frame.columns if c in USED_COLUMNS[table]]
    if table != "cards" and SOURCE_FILE in frame.columns:
        keep += [SOURCE_FILE, SOURCE_ROW]
    return frame.select(*keep)


def bucketed(
    claims: DataFrame, lines: DataFrame | None, cards: DataFrame | None, key: str, n: int
) -> tuple[DataFrame, list[str]]:
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
    assert wide is not None  # claims are always there
    return wide, names


def split(pdf: pd.DataFrame, names: list[str]) -> dict[str, pd.DataFrame | None]:
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


__all__ = ["BUCKET", "KIND", "PREFIX", "TAG", "bucketed", "split", "used"]
