"""Vectorised coercion of raw columns to the canonical kinds of ``claimguard.schema``.

Why here and not in validation: a value that cannot even be read as its kind
(``"abc"`` as a cost, ``"2024-13-45"`` as a date, ``"X"`` as a sex) must be reported
with the raw value before it turns into a missing value. Each function returns the
coerced column plus a boolean mask of the cells that failed; validation then decides
whether that row is quarantined (required column) or the field nulled (optional).

Canonical dtypes: ids/strings ``str`` (pandas' Arrow-backed string dtype, NaN for
missing), datetimes ``datetime64[ns]``, numbers ``float64``, enums ``category`` with
exactly the listed categories.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claimguard.io.problems import Problem
from claimguard.schema import LOCAL_TIMEZONE, Column, Table

STRING_DTYPE: Final = "str"
DATETIME_DTYPE: Final = "datetime64[ns]"
# datetime64[ns] cannot hold dates outside these; anything beyond is unreadable anyway.
_NS_MIN = pd.Timestamp("1678-01-01")
_NS_MAX = pd.Timestamp("2261-12-31")


def canonical_dtype(col: Column) -> object:
    """The pandas dtype a canonical column has after coercion."""
    if col.kind in ("id", "str"):
        return STRING_DTYPE
    if col.kind in ("datetime", "date"):
        return DATETIME_DTYPE
    if col.kind == "float":
        return "float64"
    return pd.CategoricalDtype(list(col.enum))


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def _no_mask(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


def _categorical_strings(s: pd.Series) -> pd.Series:
    """A categorical column (Parquet dictionary) coerced through its distinct values only:
    categories as ``str``, sorted; empty text missing (see ``io.compact``)."""
    cats, _ = to_string(pd.Series(np.asarray(s.cat.categories, dtype=object)))
    values = pd.Index(cats.dropna().unique()).sort_values()
    lut = np.append(values.get_indexer(cats), -1).astype(np.int32)  # NaN -> -1
    codes = lut[np.asarray(s.cat.codes)]  # code -1 (missing) picks the trailing -1
    dtype = pd.CategoricalDtype(pd.Index(values, dtype=STRING_DTYPE))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=s.index, name=s.name)


def to_string(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Strings stay strings; integers (and integral floats) become digits, never ``1.0``.
    Categoricals stay categoricals (their categories coerced)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return _categorical_strings(s), _no_mask(len(s))
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is np.nan:
        out = s
    elif pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        integral = np.isfinite(v) & (np.floor(v) == v) & (np.abs(v) < 2**63)
        ints = pd.Series(np.where(integral, v, 0).astype("int64"), index=s.index).astype("str")
        out = ints.where(integral, s.astype("str").where(s.notna()))
    elif pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype):
        out = s.astype("str").where(s.notna())
    else:
        out = s.astype("str").where(s.notna()) if s.dtype == object else s.astype("str")
    out = out.astype(STRING_DTYPE)
    lengths = pc.binary_length(pa.array(out.array))
    if len(out) and pc.min(lengths).as_py() == 0:  # only offsets are read: cheap at 10M rows
        out = out.mask((out == "").to_numpy(dtype=bool, na_value=False))
    return out, _no_mask(len(s))


# a time of day followed by an offset: "...08:30Z", "...08:30:00+07:00", "...T0830-0500"
_OFFSET = r"\d{2}:?\d{2}(?::?\d{2}(?:[.,]\d+)?)?\s*(?:Z|z|UTC|[+-]\d{2}(?::?\d{2})?)$"


def to_datetime(
    s: pd.Series,
    formats: list[str] | None = None,
    *,
    date_only: bool = False,
    timezone: str = LOCAL_TIMEZONE,
) -> tuple[pd.Series, np.ndarray]:
    """Parse text with the given formats (else ISO 8601); keep datetimes; naive ns result.

    Naive values are the fund's local time (``timezone``); a value with an offset is
    converted to it, row by row, so one ``+07:00`` or ``Z`` row among plain ones (or a mix
    of offsets) neither stops the run nor keeps another zone's wall-clock time. A value
    whose offset cannot be read is unreadable (its row is quarantined or the field emptied).
    """
    n = len(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert(timezone).dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        parsed = s
        bad = _no_mask(n)
    else:
        text = s if _is_text(s) else s.astype("str").where(s.notna())
        text = text.astype(STRING_DTYPE)
        text = text.mask(text == "")
        offset = pc.fill_null(
            pc.match_substring_regex(pa.array(text.array), _OFFSET), False
        ).to_numpy(zero_copy_only=False)
        parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
        for fmt in formats or ["ISO8601"]:
            todo = parsed.isna() & text.notna()
            if not todo.any():
                break
            for with_offset in (False, True):
                rows = todo & (offset if with_offset else ~offset)
                if not rows.any():
                    continue
                got = pd.to_datetime(text[rows], format=fmt, errors="coerce", utc=with_offset)
                if isinstance(got.dtype, pd.DatetimeTZDtype):
                    got = got.dt.tz_convert(timezone).dt.tz_localize(None)
                parsed = parsed.astype(got.dtype) if got.dtype != parsed.dtype else parsed
                parsed.loc[rows] = got
        bad = (text.notna() & parsed.isna()).to_numpy(dtype=bool)
    if parsed.dtype == DATETIME_DTYPE:  # nanoseconds cannot hold anything out of range
        out_of_range = _no_mask(n)
    else:
        out_of_range = ((parsed < _NS_MIN) | (parsed > _NS_MAX)).to_numpy(
            dtype=bool, na_value=False
        )
    if out_of_range.any():
        parsed = parsed.mask(out_of_range)
        bad = bad | out_of_range
    parsed = parsed.astype(DATETIME_DTYPE)
    if date_only:
        parsed = parsed.dt.normalize()
    return parsed, bad


def to_float(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers as float64; text parsed; non-finite values count as unreadable."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        out = s.astype("float64") if s.dtype != "float64" else s
        bad = _no_mask(len(s))
    else:
        text = s.astype(STRING_DTYPE) if not isinstance(s.dtype, pd.StringDtype) else s
        text = text.mask(text == "")
        out = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = (text.notna() & out.isna()).to_numpy(dtype=bool)
    v = out.to_numpy()
    inf = np.isinf(v)
    if inf.any():
        out = out.mask(inf)
        bad = bad | inf
    return out, bad


def to_category(
    s: pd.Series, categories: tuple[str, ...], values: dict[str, str] | None = None
) -> tuple[pd.Series, np.ndarray]:
    """Map raw codes (through ``values``, then case-insensitively) to the canonical categories.

    Works on the distinct values only (a dictionary), so 10M rows cost one factorize.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.array
    else:
        text = s.astype(STRING_DTYPE) if not _is_text(s) else s
        cat = pd.Categorical(text.astype(STRING_DTYPE))
    codes = np.asarray(cat.codes)
    lookup = {c.lower(): i for i, c in enumerate(categories)}
    vals = values or {}
    lut = np.array(
        [
            lookup.get(str(vals.get(str(c).strip(), str(c).strip())).lower(), -1)
            for c in cat.categories
        ]
        + [-1],
        dtype=np.int8 if len(categories) < 127 else np.int32,
    )
    new_codes = lut[codes]  # code -1 picks the trailing -1
    bad = (codes >= 0) & (new_codes < 0)
    cat_out: Any = pd.Categorical.from_codes(new_codes, categories=list(categories))  # type: ignore[call-overload]
    out = pd.Series(cat_out, index=s.index)
    return out, bad


def map_values(s: pd.Series, values: dict[str, str]) -> pd.Series:
    """Translate source codes of a non-enum column through a mapping's value map.

    Looks up each distinct value once (a factorize), not each row.
    """
    codes, uniques = pd.factorize(s.astype(STRING_DTYPE))
    mapped = np.array([values.get(str(u), u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=s.index).astype(STRING_DTYPE)


def coerce_table(
    mapped: pd.DataFrame,
    table: Table,
    values: dict[str, dict[str, str]] | None = None,
    date_formats: dict[str, list[str]] | None = None,
    timezone: str = LOCAL_TIMEZONE,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Coerce every present canonical column; report unreadable cells per column."""
    values = values or {}
    date_formats = date_formats or {}
    out: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    for col in table.columns:
        if col.name not in mapped.columns:
            continue
        s = mapped[col.name]
        if col.kind == "enum":
            c, bad = to_category(s, col.enum, values.get(col.name))
            reason = f"unknown value (allowed: {', '.join(col.enum)})"
        else:
            if col.name in values:
                s = map_values(s, values[col.name])
            if col.kind in ("id", "str"):
                c, bad = to_string(s)
                reason = "unreadable text"
            elif col.kind in ("datetime", "date"):
                fmts = date_formats.get(col.name)
                c, bad = to_datetime(s, fmts, date_only=col.kind == "date", timezone=timezone)
                reason = "unreadable date" + (f" (expected {' or '.join(fmts)})" if fmts else "")
            else:
                c, bad = to_float(s)
                reason = "not a number"
        out[col.name] = c
        if bad.any():
            problems.append(Problem(col.name, bad, reason))
    return pd.DataFrame(out, index=mapped.index, copy=False), problems
