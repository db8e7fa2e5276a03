"""Vectorised group and time-window primitives over arrays sorted by (group, time).

Why: a per-card rolling count done with ``groupby().rolling()`` is an order of magnitude
slower than one ``searchsorted`` over a combined (group, day) key (docs/contract.md section 6).
Every function takes integer group codes 0..n_groups-1 and never loops over rows.
"""

from __future__ import annotations

import numpy as np


def combined_key(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """int64 key ordering by (group, value) for non-negative int values < 2**32."""
    return (group.astype(np.int64) << 32) | value.astype(np.int64)


def forward_window_counts(group: np.ndarray, day: np.ndarray, width: int) -> np.ndarray:
    """For rows sorted by (group, day): rows of the same group with day in [day, day+width-1].

    The maximum over a group's rows is the most rows in any window of ``width`` days
    (some busiest window always starts on a row's day).
    """
    if len(day) == 0:
        return np.zeros(0, dtype=np.int32)
    rel = day.astype(np.int64) - int(day.min())
    key = combined_key(group, rel)
    end = np.searchsorted(key, key + width, side="left")
    return (end - np.arange(len(key))).astype(np.int32)


def group_starts(group: np.ndarray, n_groups: int) -> np.ndarray:
    """Start offset of each group in a sorted group array (length n_groups + 1)."""
    return np.searchsorted(group, np.arange(n_groups + 1)).astype(np.int64)


def group_max(
    values: np.ndarray, group: np.ndarray, n_groups: int, empty: float = 0.0
) -> np.ndarray:
    """Maximum of ``values`` per group (any order of rows); ``empty`` for groups without rows."""
    out = np.full(n_groups, -np.inf, dtype=np.float64)
    if len(values):
        np.maximum.at(out, group, values.astype(np.float64))
    out[np.isneginf(out)] = empty
    return out


def sorted_group_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Maximum per group for rows sorted by group with every group non-empty."""
    if len(values) == 0:
        return np.zeros(len(starts) - 1, dtype=np.float64)
    return np.maximum.reduceat(values, starts[:-1]).astype(np.float64)


def group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum per group (float64)."""
    return np.bincount(group, weights=values.astype(np.float64), minlength=n_groups)


def group_count(group: np.ndarray, n_groups: int) -> np.ndarray:
    """Rows per group (float64)."""
    return np.bincount(group, minlength=n_groups).astype(np.float64)


def distinct_per_group(group: np.ndarray, value: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of distinct non-negative ``value`` per group (negative values are ignored)."""
    ok = value >= 0
    pairs = sorted_unique(combined_key(group[ok], value[ok]))
    return np.bincount((pairs >> 32).astype(np.int64), minlength=n_groups).astype(np.float64)


def sorted_unique(key: np.ndarray) -> np.ndarray:
    """Distinct values, sorted (sort-based: numpy's hash-based ``unique`` is far slower here)."""
    s = np.sort(key)
    keep = np.ones(len(s), dtype=bool)
    keep[1:] = s[1:] != s[:-1]
    return s[keep]


def run_sizes(key: np.ndarray) -> np.ndarray:
    """For each row, how many rows share its key (any order of rows)."""
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return counts[inverse.reshape(-1)]


def previous_max_end(group: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For rows sorted by (group, start): index of the earlier row of the same group that
    ends last (-1 for a group's first row). Ties resolve to the latest such row.
    """
    n = len(end)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rel = end.astype(np.int64) - int(end.min())
    key = combined_key(group, rel)
    run = np.maximum.accumulate(key)
    idx = np.where(key == run, np.arange(n), -1)
    arg = np.maximum.accumulate(idx)
    prev = np.empty(n, dtype=np.int64)
    prev[0] = -1
    prev[1:] = arg[:-1]
    first = np.ones(n, dtype=bool)
    first[1:] = group[1:] != group[:-1]
    prev[first] = -1
    return prev


def group_mode(group: np.ndarray, value: np.ndarray, n_groups: int) -> np.ndarray:
    """Most frequent non-negative ``value`` per group (ties: the lowest value; -1 if none)."""
    ok = value >= 0
    if not ok.any():
        return np.full(n_groups, -1, dtype=np.int64)
    uniq, counts = np.unique(combined_key(group[ok], value[ok]), return_counts=True)
    g = (uniq >> 32).astype(np.int64)
    v = (uniq & 0xFFFFFFFF).astype(np.int64)
    srt = np.lexsort((v, -counts, g))
    first = np.ones(len(srt), dtype=bool)
    first[1:] = g[srt][1:] != g[srt][:-1]
    out = np.full(n_groups, -1, dtype=np.int64)
    out[g[srt][first]] = v[srt][first]
    return out


def shrunk_ratio(
    actual: np.ndarray,
    expected: np.ndarray,
    n: np.ndarray,
    prior: float = 5.0,
    floor: float = 1e-9,
    min_mass: float = 0.0,
) -> np.ndarray:
    """(actual + m) / (expected + m), m = max(prior * e, min_mass), e = expectation per row.

    Why: a facility with three visits should not reach 10× its peers by chance. The
    prior (a Gamma-Poisson posterior mean) pulls small groups towards 1 (typical) and
    leaves large ones as they are; ``min_mass`` (in events) keeps rare events, such as
    lab tests at a commune station, from swinging the ratio on two or three counts.
    """
    e = np.maximum(expected / np.maximum(n, 1.0), floor)
    m = np.maximum(prior * e, min_mass)
    return np.asarray((actual + m) / (expected + m))
