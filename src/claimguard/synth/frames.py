"""Integer codes to canonical tables: ids and codes become strings exactly once.

String columns are built with pyarrow (``take`` from small dictionaries,
zero-padded numbers joined element-wise) and handed to pandas without copies,
so ten million claims need no Python-level string work.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claimguard import schema


def strings(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """A pandas string (``str``) column from a pyarrow string array, zero-copy."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pd.Series(pd.array(arr, dtype="str"))


def dictionary(values: np.ndarray | list[str]) -> pa.Array:
    """A pyarrow string array to ``take_arrow`` from."""
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def take_arrow(d: pa.Array, idx: np.ndarray) -> pa.Array:
    """``d[idx]`` as a pyarrow array; negative indices give nulls."""
    idx = np.asarray(idx)
    ind = pa.array(np.maximum(idx, 0).astype(np.int64), mask=idx < 0)
    return d.take(ind)


def take(values: np.ndarray | list[str], idx: np.ndarray) -> pd.Series:
    """Strings ``values[idx]``; negative indices give missing values."""
    return strings(take_arrow(dictionary(values), idx))


def chunked_strings(chunks: list[pa.Array]) -> pd.Series:
    """A pandas string column from arrow chunks without concatenating them."""
    return pd.Series(pd.array(pa.chunked_array(chunks, type=chunks[0].type), dtype="str"))


def padded(numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings of non-negative integers."""
    return pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()),
        width=width,
        padding="0",
    )


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise concatenation of string arrays (and scalar strings)."""
    return pc.binary_join_element_wise(*parts, sep)


def join_codes(dictionary: np.ndarray, a: np.ndarray, b: np.ndarray, sep: str = ";") -> pd.Series:
    """``dictionary[a];dictionary[b]`` skipping negatives; missing when both are negative."""
    d = pa.array(np.asarray(dictionary, dtype=object), type=pa.string())
    sa = d.take(pa.array(np.maximum(a, 0).astype(np.int64), mask=a < 0))
    sb = d.take(pa.array(np.maximum(b, 0).astype(np.int64), mask=b < 0))
    j = pc.binary_join_element_wise(sa, sb, sep, null_handling="skip")
    j = pc.if_else(pc.equal(j, ""), pa.scalar(None, pa.string()), j)
    return strings(j)


def category(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Series:
    """A categorical column with exactly the schema's categories."""
    dtype = pd.CategoricalDtype(list(categories))
    return pd.Series(pd.Categorical.from_codes(np.asarray(codes, dtype=np.int8), dtype=dtype))


def days_to_dates(
    start: pd.Timestamp, days: np.ndarray, missing: np.ndarray | None = None
) -> pd.Series:
    """Midnight datetimes ``start + days`` (NaT where ``missing``)."""
    return _times(start, days, 86_400 * 10**9, missing)


def minutes_to_times(start: pd.Timestamp, minutes: np.ndarray, inplace: bool = False) -> pd.Series:
    """Datetimes ``start + minutes`` (``inplace``: reuse an int64 ``minutes`` buffer)."""
    return _times(start, minutes, 60 * 10**9, None, inplace)


def _times(
    start: pd.Timestamp,
    n: np.ndarray,
    unit_ns: int,
    missing: np.ndarray | None,
    inplace: bool = False,
) -> pd.Series:
    # one int64 buffer, converted in place: no timedelta temporaries on 50M rows
    ns = n if inplace and n.dtype == np.int64 else np.array(n, dtype=np.int64)
    ns *= unit_ns
    ns += pd.Timestamp(start).as_unit("ns").value
    if missing is not None:
        ns[missing] = np.iinfo(np.int64).min  # NaT
    return pd.Series(ns.view("datetime64[ns]"), copy=False)


def ordered(df: pd.DataFrame, table: schema.Table) -> pd.DataFrame:
    """Columns in schema order."""
    return df[[c for c in table.names if c in df.columns]]
