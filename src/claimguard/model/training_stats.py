"""Training statistics per feature: the reference that reasons and drift compare with.

Why: a reason says "3.2x the training median", and drift (PSI) compares a scored
period's histogram shares with the training ones; both read these tables from the bundle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

_HIST_BINS = 10


def feature_stats(X: pd.DataFrame, bins: int = _HIST_BINS) -> pd.DataFrame:
    """Training statistics per feature: median, p90, p99, missing share, histogram.

    Histogram edges are training quantiles (deduplicated), so each bin holds a
    comparable share; drift (PSI) compares a scored period's shares with ``bin_shares``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for name in X.columns:  # a loop over a few dozen features
        v = X[name].to_numpy(dtype=np.float64, na_value=np.nan)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            rows[str(name)] = {
                "median": np.nan,
                "p90": np.nan,
                "p99": np.nan,
                "missing_share": 1.0,
                "bin_edges": [],
                "bin_shares": [],
            }
            continue
        q = np.quantile(v, [0.5, 0.9, 0.99])
        edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)))
        if len(edges) < 2:
            edges = np.array([edges[0], edges[0] + 1.0])
        inner = edges[1:-1]
        counts = np.bincount(
            np.searchsorted(inner, v, side="right"), minlength=len(edges) - 1
        ).astype(np.float64)
        rows[str(name)] = {
            "median": float(q[0]),
            "p90": float(q[1]),
            "p99": float(q[2]),
            "missing_share": float(1.0 - len(v) / max(len(X), 1)),
            "bin_edges": [float(e) for e in edges],
            "bin_shares": [float(c) for c in counts / counts.sum()],
        }
    return pd.DataFrame.from_dict(rows, orient="index")
