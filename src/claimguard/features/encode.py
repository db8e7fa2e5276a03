"""Encodings shared by the claim preparation: ids to int32 codes, times to seconds and
days, enums and provinces to small codes, age bands.

Why: the string work is done once per distinct value (Arrow hash kernels, factorize on
categories), so the features that follow only see integer and float arrays
(docs/contract.md section 6).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DAY_S = 86_400
NO_DAY_LO = np.iinfo(np.int32).min  # "no day" where a missing day must compare as earliest
NO_DAY_HI = np.iinfo(np.int32).max  # "no day" where a missing day must compare as latest
NAT_S = np.iinfo(np.int64).min  # a missing time in seconds
AGE_EDGES = np.array([0.0, 1.0, 6.0, 16.0, 40.0, 60.0, 75.0], dtype=np.float32)
UNKNOWN_AGE_BAND = len(AGE_EDGES)


def present(df: pd.DataFrame | None, col: str) -> bool:
    return df is not None and col in df.columns and bool(df[col].notna().any())


def _arrow(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """An Arrow string array of an id column (zero-copy for pandas' Arrow strings)."""
    if not (pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype)):
        s = s.astype("string")
    if hasattr(s.array, "__arrow_array__"):  # Arrow-backed: keep its chunks, no copy
        return s.array.__arrow_array__()
    return pa.array(s, from_pandas=True)


def codes_in(values: pd.Series, vocab: Any) -> np.ndarray:
    """Position of each value in ``vocab`` (-1 when absent or null), via an Arrow hash join.

    A categorical column is joined on its categories only, then expanded by its codes.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32)
    if isinstance(vocab, np.ndarray):
        vset = pa.array(np.asarray(vocab, dtype=object), type=pa.large_string())
    else:  # a pandas Series or string array: zero-copy for Arrow strings
        vset = _arrow(pd.Series(vocab, copy=False)).cast(pa.large_string())
    if isinstance(vset, pa.ChunkedArray):
        vset = vset.combine_chunks()
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = pd.Series(values.cat.categories)
        on_cats = codes_in(cats, vocab) if len(cats) else np.zeros(0, dtype=np.int32)
        codes = values.cat.codes.to_numpy()
        return np.append(on_cats, np.int32(-1)).astype(np.int32)[codes]
    idx = pc.index_in(_arrow(values).cast(pa.large_string()), value_set=vset)
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int32)


def factorize(s: pd.Series, sort: bool = False, as_object: bool = True) -> tuple[np.ndarray, Any]:
    """(int32 codes, -1 = missing; distinct values) of a string or categorical column,
    without materialising a categorical's strings. ``as_object=False`` keeps millions of
    distinct ids as a pandas string array instead of Python objects.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        # work on the categories: drop unused ones, sort them if asked, remap the codes
        codes = s.cat.codes.to_numpy().astype(np.int32)
        cats = np.asarray(s.cat.categories.astype("string"), dtype=object)
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cats)) > 0)
        if sort:
            used = used[np.argsort(cats[used].astype(str), kind="stable")]
        remap = np.full(len(cats) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        out = cats[used]
        return remap[codes], out if as_object else pd.array(out, dtype="string")
    if not pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_object_dtype(s.dtype):
        s = s.astype("string")
    codes, uniq = pd.factorize(s.array, sort=sort, use_na_sentinel=True)
    return codes.astype(np.int32), np.asarray(uniq, dtype=object) if as_object else uniq


def release_arrow_memory() -> None:
    """Hand the blocks Arrow's allocator keeps after hash joins back to the system, so
    the numpy work that follows can use that memory (Arrow would only reuse it itself).
    """
    pa.default_memory_pool().release_unused()


def seconds(s: pd.Series) -> np.ndarray:
    """Seconds since the epoch (int64); missing = INT64 min."""
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    return s.to_numpy(dtype="datetime64[s]").view(np.int64)


def days(s: pd.Series, missing: int) -> np.ndarray:
    sec = seconds(s)
    return np.where(sec == NAT_S, missing, sec // DAY_S).astype(np.int32)


def enum_codes(s: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Codes of an enum column against the canonical order (-1 = missing/unknown)."""
    if isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == list(values):
        return s.cat.codes.to_numpy().astype(np.int8)
    cat = pd.Categorical(s.astype("string"), categories=list(values))
    return np.asarray(cat.codes, dtype=np.int8)


def norm_province(values: pd.Series) -> pd.Series:
    """Province labels comparable across tables: stripped, upper-case, digits zero-padded."""
    s = values.astype("string").str.strip().str.upper()
    digits = s.str.fullmatch(r"\d+").fillna(False)
    s = s.where(~digits, s.str.zfill(2))
    return s.where(s.str.len() > 0)


def province_codes(values: pd.Series, vocab: dict[str, int]) -> np.ndarray:
    """int32 code of each normalised province label in ``vocab`` (grown as needed; -1 =
    missing). Normalises the distinct values only: a registry has millions of rows.
    """
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    norm = norm_province(pd.Series(uniq, dtype="string"))
    labels = norm.astype(object).where(norm.notna(), None)
    table = [vocab.setdefault(v, len(vocab)) if isinstance(v, str) else -1 for v in labels]
    return np.append(np.asarray(table, dtype=np.int32), np.int32(-1))[codes]


def province_from_card_number(card_ids: Any) -> pd.Series:
    """The 2-digit province inside a 15-character Vietnamese card number (chars 4-5)."""
    s = pd.Series(card_ids, dtype="string").str.strip()
    prov = s.str[3:5]
    ok = (s.str.len() == 15) & prov.str.fullmatch(r"\d\d").fillna(False)
    return prov.where(ok)


def age_band(age: np.ndarray) -> np.ndarray:
    """Age band code 0..6 (edges 0,1,6,16,40,60,75), UNKNOWN_AGE_BAND when unknown."""
    band = np.searchsorted(AGE_EDGES, age, side="right") - 1
    return np.where(np.isfinite(age) & (age >= 0), band, UNKNOWN_AGE_BAND).astype(np.int8)
