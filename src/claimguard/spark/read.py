"""Reading a dataset's Parquet tables with Spark (any Hadoop path), rows tagged by source.

Why apart from validation: what Spark can read, and how pandas' nanosecond times and
nested values survive the trip, is independent of the rules applied afterwards
(:mod:`claimguard.spark.data`). Each row keeps its file and Parquet row index, so the
partitions can restore the file order and name rows as the local reader does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claimguard.errors import InputFileError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

TABLE_NAMES = ("claims", "claim_lines", "facilities", "cards")
SOURCE_FILE = "_cg_source_file"
SOURCE_ROW = "_cg_source_row"  # 0-based row within its file (Parquet row index)
NESTED = "_cg_nested__"  # + column: the row held a list or structure there

# Spark reads Parquet TIMESTAMP(NANOS) (pandas' default) only as int64 nanoseconds.
SESSION_CONF = {"spark.sql.legacy.parquet.nanosAsLong": "true"}


@dataclass
class SparkTable:
    """One raw table read by Spark, and how its time columns must be rebuilt in pandas."""

    name: str
    frame: DataFrame | None  # the file's columns + SOURCE_FILE, SOURCE_ROW
    nanos: dict[str, bool] = field(default_factory=dict)  # int64 ns column -> tz-aware (UTC)
    aware: set[str] = field(default_factory=set)  # Spark TIMESTAMP (UTC instants) columns
    nested: list[str] = field(default_factory=list)

    @property
    def df(self) -> DataFrame:
        """The Spark frame (only :meth:`spec` copies, sent to partitions, lack it)."""
        assert self.frame is not None
        return self.frame

    def spec(self) -> SparkTable:
        """This table without its Spark frame: what a partition's function may capture."""
        return SparkTable(self.name, None, dict(self.nanos), set(self.aware), list(self.nested))


def _local(path: str) -> str:
    """``file:/x`` -> ``/x``: local sources are named as the local reader names them."""
    if path.startswith("file://"):
        return path[len("file://") :]
    if path.startswith("file:"):
        return path[len("file:") :]
    return path


def _time_columns(spark_frame: DataFrame) -> tuple[dict[str, bool], set[str]]:
    """Which int64 columns are Parquet TIMESTAMP(NANOS) (read as longs, SESSION_CONF) and
    whether they are UTC instants; which columns are Spark TIMESTAMP (UTC instants).

    The Parquet schema of the first input file says it (pyarrow, any filesystem it knows).
    """
    from pyspark.sql.types import LongType, TimestampType

    aware = {f.name for f in spark_frame.schema.fields if isinstance(f.dataType, TimestampType)}
    longs = [f.name for f in spark_frame.schema.fields if isinstance(f.dataType, LongType)]
    files = spark_frame.inputFiles()
    if not longs or not files:
        return {}, aware
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    first = files[0]
    try:
        if first.startswith("file:"):
            schema = pq.read_schema(_local(first))
        else:
            fs, inner = pafs.FileSystem.from_uri(first)
            schema = pq.read_schema(inner, filesystem=fs)
    except (OSError, pa.ArrowException) as exc:  # a filesystem pyarrow lacks: keep longs
        log.warning("Cannot read the Parquet schema of %s (%s); int64 stays int64", first, exc)
        return {}, aware
    nanos = {}
    for name in longs:
        if name in schema.names:
            t = schema.field(name).type
            if pa.types.is_timestamp(t) and t.unit == "ns":
                nanos[name] = t.tz is not None
    return nanos, aware


def read_table(spark: SparkSession, path: str, name: str) -> SparkTable:
    """A Parquet table (file, folder, glob or any Hadoop path) with its source columns."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    try:
        frame = spark.read.parquet(path)
    except AnalysisException as exc:
        raise InputFileError(
            f"the {name} table cannot be read with Spark ({str(exc).splitlines()[0][:300]})",
            where=path,
            fix="pass a Parquet file, a folder of Parquet files or a glob (any Hadoop path: "
            "file:, hdfs:, s3a:, ...)",
        ) from None
    nanos, aware = _time_columns(frame)
    nested = [
        f.name for f in frame.schema.fields if f.dataType.typeName() in ("array", "map", "struct")
    ]
    cols = []
    for f in frame.schema.fields:
        if f.name in nested:  # emptied here, reported by validation (as the local reader)
            cols.append(F.col(f.name).isNotNull().alias(NESTED + f.name))
            cols.append(F.lit(None).cast("string").alias(f.name))
        else:
            cols.append(F.col(f.name))
    frame = frame.select(
        *cols,
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.col("_metadata.row_index").alias(SOURCE_ROW),
    )
    return SparkTable(name, frame, nanos, aware, nested)


def _exists(spark: SparkSession, path: str) -> bool:
    """True when a Hadoop path (file or folder) exists, through the session's filesystem."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a driver-side session
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(hpath))


def read_dataset(spark: SparkSession, root: str) -> dict[str, SparkTable]:
    """The tables under ``root``: ``<table>.parquet`` (file or folder) or ``<table>/``.

    ``root`` may also be the claims table itself (a Parquet file, folder or glob).
    """
    root = root.rstrip("/")
    found: dict[str, SparkTable] = {}
    for name in TABLE_NAMES:
        for candidate in (f"{root}/{name}.parquet", f"{root}/{name}"):
            if _exists(spark, candidate):
                found[name] = read_table(spark, candidate, name)
                break
    if "claims" not in found:
        if any(ch in root for ch in "*?[") or (_exists(spark, root) and root.endswith(".parquet")):
            found["claims"] = read_table(spark, root, "claims")
        else:
            raise InputFileError(
                "no claims table for Spark (claims.parquet or a claims/ folder of Parquet files)",
                where=root,
                fix="point DATA at a folder holding claims.parquet (file or folder) and "
                "optionally claim_lines, cards, facilities the same way; Spark reads Parquet only",
            )
    return found


__all__ = ["SOURCE_FILE", "SOURCE_ROW", "SparkTable", "read_dataset", "read_table"]
