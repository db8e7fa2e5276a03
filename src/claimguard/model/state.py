"""Bundle state as skops-safe values: pandas frames and indexes as plain numpy arrays
(rebuilt exactly: dtypes, index, names), the peer tables as a tagged dict of them.

Why: the bundle payload may hold only trusted types (docs/security.md), so no pandas
object and no pickle goes into it; ``encode`` and ``decode`` are exact inverses.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, cast

import numpy as np
import pandas as pd


def _array_state(values: pd.Index | pd.Series) -> dict[str, Any]:
    """One column or index as numpy arrays and plain values (no pandas objects)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "kind": "category",
            "codes": pd.Categorical(values, dtype=dtype).codes,
            "categories": _array_state(dtype.categories),
            "ordered": bool(dtype.ordered),
        }
    if isinstance(dtype, pd.StringDtype):
        na = dtype.na_value
        return {
            "kind": "string",
            "storage": str(dtype.storage),
            "na_nan": isinstance(na, float) and np.isnan(na),
            "values": values.to_numpy(dtype=object),
        }
    if isinstance(dtype, np.dtype):
        return {"kind": "numpy", "values": values.to_numpy()}
    raise TypeError(f"a column of dtype {dtype} cannot be stored in a model bundle")


def _array(state: dict[str, Any]) -> Any:
    kind = state["kind"]
    if kind == "numpy":
        return np.asarray(state["values"])
    if kind == "string":
        na = np.nan if state["na_nan"] else pd.NA
        strings = pd.StringDtype(storage=state["storage"], na_value=na)
        return pd.array(np.asarray(state["values"], dtype=object), dtype=strings)
    if kind == "category":
        cats = pd.Index(_array(state["categories"]))
        categorical = pd.CategoricalDtype(cats, ordered=bool(state["ordered"]))
        return pd.Categorical.from_codes(np.asarray(state["codes"]), dtype=categorical)
    raise ValueError(f"unknown column kind {kind!r}")


def _index_state(index: pd.Index) -> dict[str, Any]:
    if isinstance(index, pd.MultiIndex):
        raise TypeError("a MultiIndex cannot be stored in a model bundle")
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": index.name}
    return {"values": _array_state(index), "name": index.name}


def _index(state: dict[str, Any]) -> pd.Index:
    if "range" in state:
        start, stop, step = state["range"]
        return pd.RangeIndex(start, stop, step, name=state["name"])
    values = _array(state["values"])
    dtype = getattr(values, "dtype", None)
    return cast("pd.Index", pd.Index(values, dtype=dtype, name=state["name"]))


def _frame_state(df: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as plain arrays, rebuilt exactly (dtypes, index, names) by ``_frame``."""
    return {
        "__frame__": True,
        "columns": _index_state(df.columns),
        "index": _index_state(df.index),
        "data": [_array_state(df.iloc[:, j]) for j in range(df.shape[1])],
    }


def _frame(state: dict[str, Any]) -> pd.DataFrame:
    index = _index(state["index"])
    cols = []
    for col in state["data"]:
        values = _array(col)
        cols.append(pd.Series(values, index=index, dtype=values.dtype, copy=False))
    df = pd.DataFrame(dict(enumerate(cols)), index=index)
    df.columns = _index(state["columns"])
    return df


def encode(obj: Any) -> Any:
    """Frames (also inside dicts and the peer tables) as ``_frame_state``; the rest as is."""
    from claimguard.features.peers import PeerTables

    if isinstance(obj, pd.DataFrame):
        return _frame_state(obj)
    if isinstance(obj, PeerTables):
        return {"__peers__": {f.name: encode(getattr(obj, f.name)) for f in fields(obj)}}
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj


def decode(obj: Any) -> Any:
    from claimguard.features.peers import PeerTables

    if isinstance(obj, dict):
        if obj.get("__frame__") is True:
            return _frame(obj)
        if set(obj) == {"__peers__"}:
            return PeerTables(**{k: decode(v) for k, v in obj["__peers__"].items()})
        return {k: decode(v) for k, v in obj.items()}
    return obj
