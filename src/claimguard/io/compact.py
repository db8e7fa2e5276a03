"""Store repetitive id and code columns as pandas categoricals (codes + distinct values).

Why: a month of claims repeats a few thousand facility ids, diagnosis codes, doctors
and drug codes tens of millions of times. As Arrow-backed strings each repeat costs
its bytes plus an offset (50M drug codes: 0.77 GB); as a categorical it costs a 1-4
byte code. The feature code factorizes these columns anyway, so nothing downstream
pays to read them this way, and a 10M-claim month fits the 8 GB memory budget.
Unique keys (claim ids, card ids) are left as strings: encoding them saves little and
costs a 10M-entry hash table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Per canonical table: the id/code columns that repeat across rows.
DICTIONARY_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "claims": (
        "facility_id",
        "primary_dx",
        "secondary_dx",
        "registered_facility_id",
        "doctor_id",
        "department_id",
        "referral_from",
    ),
    "claim_lines": ("item_code", "doctor_id"),
    "cards": ("province", "registered_facility_id"),
    "facilities": ("province",),
}


def dictionary_encode(s: pd.Series) -> pd.Series:
    """A string column as a categorical with ``str`` categories (values and NaNs unchanged)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.is_monotonic_increasing and str(cats.dtype) == "str":
            return s
        s = s.astype(object).where(s.notna()).astype("str")  # rare: re-encode below
    arr = pa.array(s.array)
    if not isinstance(arr, pa.ChunkedArray):
        arr = pa.chunked_array([arr])
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    # one dictionary shared by every chunk, so the conversion needs no unification
    enc = pc.dictionary_encode(arr)
    dictionary = enc.chunk(0).dictionary if enc.num_chunks else pa.array([], pa.large_string())
    codes = np.concatenate(
        [c.indices.fill_null(-1).to_numpy() for c in enc.chunks] or [np.zeros(0, np.int32)]
    )
    # sorted categories: the same values give the same dtype whatever the row order
    order = np.asarray(pc.array_sort_indices(dictionary), dtype=np.int64)
    rank = np.empty(len(order) + 1, dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    rank[-1] = -1  # a missing value (code -1) stays missing
    categories = pd.Index(dictionary.take(pa.array(order)).to_pandas(), dtype="str")
    cat = pd.Categorical.from_codes(rank[codes], dtype=pd.CategoricalDtype(categories))
    return pd.Series(cat, index=s.index, name=s.name)


def encode_repetitive(
    frame: pd.DataFrame, table: str, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """``frame`` with its repetitive string columns (``DICTIONARY_COLUMNS[table]``) as
    categoricals; other columns are shared, not copied. The input is not modified."""
    names = tuple(DICTIONARY_COLUMNS.get(table, ()) if columns is None else columns)
    todo = [
        c
        for c in names
        if c in frame.columns and not isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    if not todo:
        return frame
    out = frame.copy(deep=False)
    for c in todo:
        out[c] = dictionary_encode(frame[c])
    return out


def decode_repetitive(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """The inverse of :func:`encode_repetitive`: plain ``str`` columns, for code that
    compares one table's codes with another's (categoricals with different categories
    cannot be compared). The input is not modified."""
    todo = [
        c
        for c in DICTIONARY_COLUMNS.get(table, ())
        if c in frame.columns and isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    if not todo:
        return frame
    out = frame.copy(deep=False)
    for c in todo:
        out[c] = frame[c].astype("str")
    return out
