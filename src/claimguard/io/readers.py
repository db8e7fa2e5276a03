"""Reading one table file (Parquet or CSV) into raw columns, or failing with a clear error.

Why a separate step: whole-file problems (missing, empty, not a table) must stop the
command with one paragraph naming the file, the problem and the fix, while row-level
problems must reach the quarantine with their row number. Parquet keeps its own types and
is coerced later; CSV files are read by claimguard.io.csvread.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from claimguard.errors import InputFileError
from claimguard.io.compact import DICTIONARY_COLUMNS
from claimguard.io.csvread import read_csv
from claimguard.io.csvsafe import restore
from claimguard.io.rawtable import RawTable, check_file
from claimguard.io.validation import SourceFiles

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".parquet", ".csv")


PARQUET_GROUP_BYTES = 2 << 30  # decode at most this much (uncompressed) at a time


def _column_groups(pf: pq.ParquetFile) -> list[list[str]]:
    """Top-level columns in groups of bounded uncompressed size.

    Why: decoding a 30M-row table at once needs its decode buffers on top of the
    result; a group at a time keeps the peak near the result's own size while each
    group still decodes on all cores.
    """
    md = pf.metadata
    sizes: dict[str, int] = {}
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        for j in range(rg.num_columns):
            col = rg.column(j)
            top = col.path_in_schema.split(".")[0]
            sizes[top] = sizes.get(top, 0) + col.total_uncompressed_size
    groups: list[list[str]] = [[]]
    used = 0
    for name in pf.schema_arrow.names:
        size = sizes.get(name, 0)
        if groups[-1] and used + size > PARQUET_GROUP_BYTES:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += size
    return [g for g in groups if g]


def read_parquet(path: Path, table: str) -> RawTable:
    """Read a Parquet file with its own types (coercion to canonical kinds comes later)."""
    check_file(path, table)
    pool = pa.default_memory_pool()
    columns: dict[str, pd.Series] = {}
    try:
        # repetitive codes decoded straight into dictionaries (no string per row)
        schema = pq.read_schema(path)
        wanted = set(DICTIONARY_COLUMNS.get(table, ()))
        dictionary = [
            f.name
            for f in schema
            if f.name in wanted and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        ]
        pf = pq.ParquetFile(path, read_dictionary=dictionary)
        n = pf.metadata.num_rows
        nested_types = {f.name for f in schema if pa.types.is_nested(f.type)}
        nested: dict[str, np.ndarray] = {}
        for group in _column_groups(pf):
            tbl = pf.read(columns=group)
            for name in set(group) & nested_types:  # never stringified as "[1 2]"
                col = tbl.column(name)
                nested[name] = np.asarray(
                    pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool
                )
                tbl = tbl.set_column(
                    tbl.schema.get_field_index(name), name, pa.nulls(len(col), pa.string())
                )
            part = tbl.to_pandas(ignore_metadata=True, split_blocks=True, self_destruct=True)
            del tbl
            pool.release_unused()  # hand decode buffers back to the OS
            for name in group:
                columns[name] = part[name]
            del part
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(
            f"the {table} file is not a readable Parquet table ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="re-export it as Parquet, or save it as UTF-8 CSV with a header row "
            "and a .csv name",
        ) from None
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n), copy=False)
    raw = RawTable(table, frame, SourceFiles([str(path)]), np.arange(1, n + 1))
    raw.nested = nested
    return raw


def read_table_file(path: Path, table: str) -> RawTable:
    """Read ``path`` by its suffix (``.parquet`` or ``.csv``)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return read_parquet(path, table)
    if suffix in (".csv", ".txt"):
        return read_csv(path, table)
    raise InputFileError(
        f"the {table} file has an unsupported type '{suffix}'",
        where=str(path),
        fix="use .parquet or .csv (UTF-8, header row), or an XML 130 .xml file",
    )


def read_labels(path: Path) -> pd.DataFrame:
    """labels.csv as text columns (extra columns kept)."""
    check_file(path, "labels")
    try:
        # labels written by claimguard are neutralised against spreadsheet formulas
        return restore(pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""]))
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFileError(
            f"labels.csv cannot be read ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="save it as UTF-8 CSV with columns entity_type, entity_id, scenario",
        ) from None
