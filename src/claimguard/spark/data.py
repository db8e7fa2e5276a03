"""Read a dataset with Spark and validate it with the SAME rules as the local path.

Why: the validation rules live once, in :mod:`claimguard.io.validation` (called through
:func:`claimguard.io.load._canonical`: mapping, coercion, checks). Spark only puts the
rows that a rule compares with each other in one partition and calls that function
there: claims by claim id (duplicates), lines by their claim id next to the valid and
quarantined claim ids of the same bucket (orphans), cards and facilities by their key.
Every partition returns one tagged frame -- valid rows, quarantine rows, quarantined
keys and its row counts -- which is split into two Spark DataFrames on the way out,
so rows in = valid + quarantined holds table by table, as in
:func:`claimguard.io.load.load_dataset`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from claimguard.io.load import _canonical
from claimguard.io.mapping import Mapping, TableMapping
from claimguard.io.rawtable import RawTable
from claimguard.io.validation import Checked, SourceFiles, empty_frame
from claimguard.schema import LOCAL_TIMEZONE, QUARANTINE_COLUMNS, TABLES, Table
from claimguard.spark.read import (
    NESTED,
    SOURCE_FILE,
    SOURCE_ROW,
    SparkTable,
    _local,
    read_dataset,
    read_table,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, GroupedData, SparkSession

log = logging.getLogger(__name__)

BUCKET = "_cg_bucket"
KIND = "_cg_kind"  # valid | quarantine | key | count
ROWS_IN = "_cg_rows_in"
ROWS_QUARANTINED = "_cg_rows_quarantined"
Q = "q_"  # prefix of the quarantine columns in the tagged frame
PARENT_KIND = "_cg_parent"  # valid | key (a quarantined claim id)


@dataclass
class SparkDataset:
    """Validated tables (Spark DataFrames of canonical columns plus SOURCE_FILE and
    SOURCE_ROW: where each row came from, so partitions can restore the file order), the
    quarantine, the counts."""

    tables: dict[str, DataFrame]
    quarantine: DataFrame
    counts: dict[str, dict[str, int]]

    @property
    def claims(self) -> DataFrame:
        return self.tables["claims"]


# ----------------------------------------------------------------------------- partitions


def _raw_frame(pdf: pd.DataFrame, table: SparkTable) -> RawTable:
    """The RawTable the local reader would have made of these rows (file, then row order)."""
    pdf = pdf.sort_values([SOURCE_FILE, SOURCE_ROW], kind="stable").reset_index(drop=True)
    codes, names = pd.factorize(pdf[SOURCE_FILE].map(_local, na_action="ignore"))
    source_row = pdf[SOURCE_ROW].to_numpy(dtype=np.int64) + 1  # 1-based, as the local reader
    nested = {
        c: pdf[NESTED + c].to_numpy(dtype=bool, na_value=False)
        for c in table.nested
        if NESTED + c in pdf.columns
    }
    drop = [c for c in pdf.columns if c.startswith("_cg_")]
    frame = pdf.drop(columns=drop)
    for col, tz in table.nanos.items():
        if col in frame.columns:
            t = pd.to_datetime(frame[col], unit="ns")
            frame[col] = t.dt.tz_localize("UTC") if tz else t
    for col in table.aware:  # Spark hands UTC instants over as naive UTC (session zone UTC)
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col]).dt.tz_localize("UTC")
    raw = RawTable(
        table.name, frame, SourceFiles([str(n) for n in names], codes.astype(np.int32)), source_row
    )
    raw.nested = nested
    return raw


def _spark_type(kind: str) -> str:
    if kind in ("datetime", "date"):
        return "timestamp_ntz"
    if kind == "float":
        return "double"
    return "string"


def _plain(df: pd.DataFrame, columns: list[str], table: Table) -> pd.DataFrame:
    """Validated columns as Arrow-friendly pandas: text as object with None, times naive."""
    out = {}
    n = len(df)
    for name in columns:
        kind = table.column(name).kind
        if name not in df.columns:
            out[name] = pd.Series([None] * n, dtype=object if kind != "float" else "float64")
            continue
        s = df[name]
        if kind == "float":
            out[name] = s.astype("float64")
        elif kind in ("datetime", "date"):
            out[name] = pd.to_datetime(s).astype("datetime64[ns]")
        else:
            out[name] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def _kept_sources(checked: Checked, raw: RawTable) -> tuple[np.ndarray, np.ndarray]:
    """(source file, source row) of each valid row: the raw rows in order, less those the
    quarantine removed (validation keeps the order of the rows it keeps)."""
    files = raw.source_file.at(np.arange(len(raw.source_row)))
    q = checked.quarantine
    gone = q[q["action"] == "quarantined"]
    removed = pd.MultiIndex.from_arrays(
        [gone["source_file"].astype(object), gone["source_row"].astype(np.int64)]
    )
    at = pd.MultiIndex.from_arrays([files.astype(object), raw.source_row.astype(np.int64)])
    keep = ~at.isin(removed)
    if int(keep.sum()) != len(checked.valid):  # a bug, not bad data
        raise AssertionError(f"{raw.name}: {int(keep.sum())} kept rows, {len(checked.valid)} valid")
    return files[keep], raw.source_row[keep] - 1


def _tagged(checked: Checked, columns: list[str], table: Table, raw: RawTable) -> pd.DataFrame:
    """One frame of a partition's results: valid rows (with where each came from),
    quarantine rows, quarantined keys, row counts."""
    valid = _plain(checked.valid, columns, table)
    valid[SOURCE_FILE], valid[SOURCE_ROW] = _kept_sources(checked, raw)
    valid[KIND] = "valid"
    q = checked.quarantine.rename(columns={c: Q + c for c in QUARANTINE_COLUMNS})
    q[KIND] = "quarantine"
    parts = [valid, q]
    if checked.keys_quarantined is not None and len(checked.keys_quarantined) and table.key:
        keys = pd.DataFrame({table.key: checked.keys_quarantined.astype(object).to_numpy()})
        keys[KIND] = "key"
        parts.append(keys)
    parts.append(
        pd.DataFrame(
            {
                KIND: ["count"],
                ROWS_IN: [checked.rows_in],
                ROWS_QUARANTINED: [checked.rows_quarantined],
            }
        )
    )
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    for c in (ROWS_IN, ROWS_QUARANTINED, Q + "source_row", SOURCE_ROW):
        if c not in out.columns:
            out[c] = pd.NA
        out[c] = out[c].astype("Int64")
    return out


def _tagged_schema(columns: list[str], table: Table) -> str:
    parts = [f"`{c}` {_spark_type(table.column(c).kind)}" for c in columns]
    parts += [f"`{Q}{c}` {'long' if c == 'source_row' else 'string'}" for c in QUARANTINE_COLUMNS]
    parts += [f"`{SOURCE_FILE}` string", f"`{SOURCE_ROW}` long"]
    parts += [f"`{KIND}` string", f"`{ROWS_IN}` long", f"`{ROWS_QUARANTINED}` long"]
    return ", ".join(parts)


def _reorder(df: pd.DataFrame, schema: str) -> pd.DataFrame:
    """Columns in the schema's order (applyInPandas matches by name, but all must exist)."""
    names = [p.split("`")[1] for p in schema.split(", ")]
    for n in names:
        if n not in df.columns:
            df[n] = None
    return arrow_safe(df[names])


def arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as object arrays with None: PySpark's Arrow writer takes no chunked
    (Arrow-backed) pandas strings."""
    out = df.copy(deep=False)
    for c in out.columns:
        s = out[c]
        if isinstance(s.dtype, pd.StringDtype | pd.CategoricalDtype) or s.dtype == object:
            out[c] = s.astype(object).where(s.notna(), None)
    return out


def _check_bucket(
    table: SparkTable,
    tm: TableMapping,
    timezone: str,
    columns: list[str],
    schema: str,
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    canon = TABLES[table.name]
    table = table.spec()

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        raw = _raw_frame(pdf, table)
        checked = _canonical(raw, tm, timezone=timezone)
        return _reorder(_tagged(checked, columns, canon, raw), schema)

    return run


def _check_lines(
    table: SparkTable,
    tm: TableMapping,
    timezone: str,
    columns: list[str],
    schema: str,
) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    canon = TABLES[table.name]
    table = table.spec()

    def run(lines: pd.DataFrame, parents: pd.DataFrame) -> pd.DataFrame:
        if lines.empty:
            return _reorder(pd.DataFrame({KIND: pd.Series([], dtype=object)}), schema)
        ids = parents["claim_id"].astype("string")
        is_valid = (parents[PARENT_KIND] == "valid").to_numpy()
        parent = Checked(
            valid=pd.DataFrame({"claim_id": ids[is_valid].reset_index(drop=True)}),
            quarantine=empty_frame(),
            rows_in=0,
            rows_quarantined=0,
            keys_quarantined=ids[~is_valid].reset_index(drop=True),
        )
        raw = _raw_frame(lines, table)
        checked = _canonical(raw, tm, parent=parent, timezone=timezone)
        return _reorder(_tagged(checked, columns, canon, raw), schema)

    return run


def _valid_columns(table: SparkTable, tm: TableMapping, timezone: str) -> list[str]:
    """The canonical columns validation yields for this input (mapping applied): found
    by running the local function on the table's first rows on the driver."""
    sample = table.df.limit(50).toPandas()
    checked = _canonical(_raw_frame(sample, table), tm, timezone=timezone)
    return [c for c in TABLES[table.name].names if c in checked.valid.columns]


def _by_key_buckets(table: SparkTable, tm: TableMapping, key: str | None, n: int) -> GroupedData:
    """The table grouped in ``n`` buckets of its key's hash: every copy of a key lands in
    one bucket, so duplicates are found per bucket. No key column: one bucket (validation
    then names the missing column)."""
    from pyspark.sql import functions as F

    sources = tm.sources(key) if key else []
    key_col = sources[0] if sources else key
    frame = table.df
    if key_col is not None and key_col in frame.columns:
        frame = frame.withColumn(BUCKET, F.pmod(F.xxhash64(key_col), F.lit(n)))
    else:
        frame = frame.withColumn(BUCKET, F.lit(0))
    return frame.groupBy(BUCKET)


def _counted(name: str, table: SparkTable, out: DataFrame) -> dict[str, int]:
    """Rows in, valid and quarantined of one validated table; they must add up."""
    from pyspark.sql import functions as F

    agg = (
        out.groupBy()
        .agg(
            F.sum(ROWS_IN).alias("in"),
            F.sum(ROWS_QUARANTINED).alias("quarantined"),
            F.sum((F.col(KIND) == "valid").cast("long")).alias("valid"),
        )
        .collect()[0]
    )
    c = {k: int(agg[k] or 0) for k in ("in", "valid", "quarantined")}
    total = table.df.count()
    if c["in"] != total or c["in"] != c["valid"] + c["quarantined"]:
        raise AssertionError(f"{name}: rows in {total}, counted {c}: they do not add up")
    return c


def validate(
    spark: SparkSession,
    raws: dict[str, SparkTable],
    mapping: Mapping | None = None,
    partitions: int | None = None,
) -> SparkDataset:
    """Validate every table on Spark; results are persisted (they are read several times)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    m = mapping or Mapping()
    tz = m.timezone or LOCAL_TIMEZONE
    n = int(partitions or int(str(spark.conf.get("spark.sql.shuffle.partitions"))))
    tables: dict[str, DataFrame] = {}
    quarantine: list[DataFrame] = []
    counts: dict[str, dict[str, int]] = {}
    claims_out = None
    for name in ("claims", "facilities", "cards", "claim_lines"):
        if name not in raws:
            continue
        table = raws[name]
        canon = TABLES[name]
        tm = m.table(name)
        columns = _valid_columns(table, tm, tz)
        schema = _tagged_schema(columns, canon)
        if name == "claim_lines":
            claim_col = tm.sources("claim_id")[0] if tm.sources("claim_id") else "claim_id"
            lines = table.df.withColumn(BUCKET, F.pmod(F.xxhash64(claim_col), F.lit(n)))
            assert claims_out is not None  # claims are validated first
            parents = claims_out.filter(F.col(KIND).isin("valid", "key")).select(
                "claim_id",
                F.col(KIND).alias(PARENT_KIND),
                F.pmod(F.xxhash64("claim_id"), F.lit(n)).alias(BUCKET),
            )
            out = (
                lines.groupBy(BUCKET)
                .cogroup(parents.groupBy(BUCKET))
                .applyInPandas(_check_lines(table, tm, tz, columns, schema), schema)
            )
        else:
            out = _by_key_buckets(table, tm, canon.key, n).applyInPandas(
                _check_bucket(table, tm, tz, columns, schema), schema
            )
        out = out.persist(StorageLevel.MEMORY_AND_DISK)
        if name == "claims":
            claims_out = out
        tables[name] = out.filter(F.col(KIND) == "valid").select(*columns, SOURCE_FILE, SOURCE_ROW)
        quarantine.append(
            out.filter(F.col(KIND) == "quarantine").select(
                *[F.col(Q + c).alias(c) for c in QUARANTINE_COLUMNS]
            )
        )
        counts[name] = _counted(name, table, out)
    q_all = quarantine[0]
    for q in quarantine[1:]:
        q_all = q_all.unionByName(q)
    return SparkDataset(tables, q_all, counts)


def load_dataset_spark(
    spark: SparkSession, root: str, mapping: Mapping | None = None, partitions: int | None = None
) -> SparkDataset:
    """:func:`claimguard.io.load.load_dataset` on Spark: read ``root``, validate, quarantine."""
    return validate(spark, read_dataset(spark, root), mapping, partitions)


__all__ = [
    "SOURCE_FILE",
    "SOURCE_ROW",
    "SparkDataset",
    "SparkTable",
    "load_dataset_spark",
    "read_dataset",
    "read_table",
    "validate",
]
