"""The final score: the forest, the weighed evidence and the hard facts in one formula.

The final score (quoted in the README and the model card)::

    S_forest = -log10(1 - forest)                  forest = training CDF, 0..1
    E_g      = clip(max_{i in g} S_i - floor, 0, cap)   g = one signal's items
    S        = S_forest + w * sum_g E_g             w = model.evidence_weight
    T        = 1000 * H + min(S, 999)              H = hard-fact claims beyond tolerance
    score    = T / (1 + T)

Every term is non-negative and the map is monotone in each, so more evidence never lowers
a score; an entity with a hard fact (score >= 0.999) ranks above every entity without
one, and among hard facts the one showing more claims ranks first. Items of one signal
(two views of split billing, say) count once, by the strongest. ``S`` is in log10 units:
S = 3 means "as surprising as a one-in-a-thousand event" and gives score 0.75. Summing
surprisals treats the signals as independent evidence (Fisher's method without the
calibration); ``floor`` (``model.evidence_floor``, 1: rarer than one in ten) keeps the
many slightly-high signals of any busy entity from adding up to one strong one, and
``cap`` (``model.evidence_cap``, 6: one in a million) stops one signal whose tail model is
wrong from deciding alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from claimguard.model.evidence import FittedEvidence

HARD_SCALE = 1000.0  # T = HARD_SCALE * H + min(S, HARD_SCALE - 1)
FOREST_FLOOR = 1e-6  # 1 - forest is floored here: S_forest <= 6


@dataclass(frozen=True)
class EvidenceSettings:
    """The knobs of the combination (``settings.model``), passed as one value."""

    weight: float = 1.0
    cap: float = 6.0
    fire_level: float = 3.0
    floor: float = 1.0


def weigh(
    X: pd.DataFrame, items: Sequence[FittedEvidence], cfg: EvidenceSettings
) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """(evidence surprisal ``w * sum over signals of min(max S_i, cap)``, hard-fact claims H,
    fired names as JSON)."""
    n = len(X)
    per_signal: dict[str, np.ndarray] = {}
    hard = np.zeros(n)
    fired = np.zeros((n, len(items)), dtype=bool)
    for j, item in enumerate(items):
        s, h, fired[:, j] = item.evaluate(X, cfg.fire_level)
        sig = item.spec.signal
        per_signal[sig] = np.maximum(per_signal[sig], s) if sig in per_signal else s
        hard += h
    total = np.zeros(n)
    for s in per_signal.values():  # one term per signal: two views of one pattern count once
        total += np.clip(s - cfg.floor, 0.0, cfg.cap)
    names = np.array([i.name for i in items], dtype=object)
    hits = np.full(n, "[]", dtype=object)
    rows = np.flatnonzero(fired.any(axis=1)) if cfg.weight > 0 else np.zeros(0, np.int64)
    # JSON lists only for the (few) rows where something fired: a loop over those rows
    hits[rows] = [json.dumps(list(names[fired[i]])) for i in rows]
    w = cfg.weight
    return w * total, (hard if w > 0 else np.zeros(n)), pd.Series(hits, index=X.index)


def forest_surprisal(forest: np.ndarray) -> np.ndarray:
    """-log10(1 - forest): the forest's training-CDF score as evidence (0..6)."""
    f = np.clip(np.asarray(forest, dtype=np.float64), 0.0, 1.0 - FOREST_FLOOR)
    return -np.log10(1.0 - f)


def combine(forest: np.ndarray, evidence: np.ndarray, hard: np.ndarray) -> np.ndarray:
    """The final 0..1 score (module docstring): monotone in forest, evidence and hard."""
    s = forest_surprisal(forest) + np.asarray(evidence, dtype=np.float64)
    t = HARD_SCALE * np.asarray(hard, dtype=np.float64) + np.minimum(s, HARD_SCALE - 1.0)
    return np.asarray(t / (1.0 + t))
