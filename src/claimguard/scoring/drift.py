"""Drift: is the scored month still like the month the model was trained on?

Why: an isolation forest trained on last year's prices or facility list silently
turns every new facility or price rise into an "anomaly". Before anyone acts on a
queue, the batch compares each feature's distribution with the training histogram
(population stability index, PSI) and counts claims at facilities or with
diagnoses the model never saw. Above the configured limits it warns, and with
``--fail-on-drift`` the job exits 3 so a scheduler can hold the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from claimguard.settings import DriftSettings

log = logging.getLogger(__name__)

EPS = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two share vectors over the same bins.

    Shares are floored at a small epsilon so an empty bin does not give infinity.
    Rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted.
    """
    e = np.clip(np.asarray(expected, dtype="float64"), EPS, None)
    a = np.clip(np.asarray(actual, dtype="float64"), EPS, None)
    e = e / e.sum()
    a = a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the bins of ``edges`` (first and last bins are open-ended).

    ``edges`` has n+1 entries for n bins, as ``numpy.histogram`` returns them; values
    below the first or above the last edge count in the outermost bins. NaN is ignored.
    """
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    n_bins = len(edges) - 1
    if n_bins < 1 or len(v) == 0:
        return np.zeros(max(n_bins, 0))
    idx = np.searchsorted(np.asarray(edges, dtype="float64")[1:-1], v, side="right")
    counts = np.bincount(idx, minlength=n_bins).astype("float64")
    return np.asarray(counts / counts.sum())


def _hist_columns(stats: pd.DataFrame) -> tuple[str, str] | None:
    """Columns holding per-feature histogram edges and shares (lists), e.g. bin_edges/bin_shares."""
    if {"bin_edges", "bin_shares"} <= set(stats.columns):
        return "bin_edges", "bin_shares"

    def listy(col: object) -> bool:
        first = stats[col].dropna()
        return len(first) > 0 and isinstance(first.iloc[0], list | tuple | np.ndarray)

    edge = [c for c in stats.columns if "edge" in str(c) and listy(c)]
    share = [c for c in stats.columns if ("share" in str(c) or "freq" in str(c)) and listy(c)]
    if not edge or not share:
        return None
    return str(edge[0]), str(share[0])


def feature_bins(features: pd.DataFrame, stats: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Per feature, the training histogram's shares and the counts of ``features`` in its
    bins, stacked as ``[expected, counts]`` (2 x bins).

    Why counts: they add up over partitions, so a distributed engine sums the per-partition
    arrays and gets the PSI of the whole table (:func:`psi_from_bins`).
    """
    if stats is None or stats.empty:
        return {}
    cols = _hist_columns(stats)
    if cols is None:
        return {}
    edge_col, share_col = cols
    out: dict[str, np.ndarray] = {}
    for name in features.columns:  # loop over a few dozen features
        if name not in stats.index:
            continue
        edges = np.asarray(stats.at[name, edge_col], dtype="float64")
        expected = np.asarray(stats.at[name, share_col], dtype="float64")
        if edges.ndim != 1 or len(edges) != len(expected) + 1 or len(expected) < 2:
            continue
        v = features[name].to_numpy(dtype="float64", na_value=np.nan)
        v = v[np.isfinite(v)]
        idx = np.searchsorted(edges[1:-1], v, side="right")
        counts = np.bincount(idx, minlength=len(expected)).astype("float64")
        out[str(name)] = np.vstack([expected, counts])
    return out


def psi_from_bins(bins: dict[str, np.ndarray]) -> dict[str, float]:
    """PSI per feature from :func:`feature_bins` (counts possibly summed over partitions)."""
    out: dict[str, float] = {}
    for name, (expected, counts) in bins.items():
        if counts.sum() == 0:
            continue
        out[name] = round(psi(expected, counts / counts.sum()), 4)
    return out


def feature_psi(features: pd.DataFrame, stats: pd.DataFrame | None) -> dict[str, float]:
    """PSI per feature of ``features`` against the training histograms in ``stats``."""
    return psi_from_bins(feature_bins(features, stats))


def unseen_share(values: pd.Series, seen: Collection[str] | None) -> float | None:
    """Share of rows whose value was never seen in training (None when unknown)."""
    if seen is None or len(values) == 0:
        return None
    known = pd.Index(pd.Series(list(seen), dtype="string"))
    if isinstance(values.dtype, pd.CategoricalDtype):  # count per code, look codes up once
        codes = np.asarray(values.cat.codes)
        counts = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories))
        if counts.sum() == 0:
            return None
        unseen = ~pd.Index(values.cat.categories.astype("string")).isin(known)
        return round(float(counts[unseen].sum() / counts.sum()), 4)
    present = values.astype("string").dropna()
    if len(present) == 0:
        return None
    return round(float((~present.isin(known)).mean()), 4)


def drift_report(
    features: dict[str, pd.DataFrame],
    stats: dict[str, pd.DataFrame],
    claims: pd.DataFrame,
    *,
    seen_facilities: Collection[str] | None,
    seen_diagnoses: Collection[str] | None,
    limits: DriftSettings,
) -> dict[str, Any]:
    """The drift section of run.json and the evaluation report."""
    per_type = {e: feature_psi(frame, stats.get(e)) for e, frame in features.items()}
    return drift_summary(
        per_type,
        unseen_share(claims["facility_id"], seen_facilities),
        unseen_share(claims["primary_dx"], seen_diagnoses),
        limits,
    )


def drift_summary(
    per_type: dict[str, dict[str, float]],
    unseen_fac: float | None,
    unseen_dx: float | None,
    limits: DriftSettings,
) -> dict[str, Any]:
    """The drift section from PSI per entity type and feature and the unseen shares
    (computed locally by :func:`drift_report`, or from summed bins by the Spark engine)."""
    drifted: list[str] = []
    n_checked = 0
    for entity_type, values in per_type.items():
        n_checked += len(values)
        drifted += [f"{entity_type}.{f}" for f, v in values.items() if v > limits.psi_limit]
    share = len(drifted) / n_checked if n_checked else None
    problems = []
    if share is not None and share > limits.max_drifted_feature_share:
        problems.append(
            f"{len(drifted)} of {n_checked} features have PSI above {limits.psi_limit} "
            f"({share:.0%} > {limits.max_drifted_feature_share:.0%})"
        )
    if unseen_fac is not None and unseen_fac > limits.unseen_share_limit:
        problems.append(
            f"{unseen_fac:.1%} of claims are at facilities unseen in training "
            f"(limit {limits.unseen_share_limit:.0%})"
        )
    if unseen_dx is not None and unseen_dx > limits.unseen_share_limit:
        problems.append(
            f"{unseen_dx:.1%} of claims have a primary diagnosis unseen in training "
            f"(limit {limits.unseen_share_limit:.0%})"
        )
    top = sorted(
        ((f"{et}.{f}", v) for et, vals in per_type.items() for f, v in vals.items()),
        key=lambda kv: -kv[1],
    )[:10]
    return {
        "drifted": bool(problems),
        "problems": problems,
        "psi": per_type,
        "features_checked": n_checked,
        "drifted_features": sorted(drifted),
        "drifted_feature_share": None if share is None else round(share, 4),
        "top_psi": dict(top),
        "unseen_facility_share": unseen_fac,
        "unseen_diagnosis_share": unseen_dx,
        "limits": limits.model_dump(),
    }
