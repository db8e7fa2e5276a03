"""Facility drift for multi-month data: abuse that starts in a labelled month and grows.

Why: early warnings (``claimguard monitor``) must be testable. A few facilities, none
already planted, central or a legitimate busy one, start over-billing (more tests,
supplies and drugs per visit) or inflating admissions (mild outpatient visits billed as
stays) in a month drawn from the second half of the period; the effect is modest in the
first month and grows every month after. Drawn from its own random stream and only for
``DRIFT_MIN_MONTHS`` or more months, so shorter datasets are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from claimguard.synth import catalog as cat
from claimguard.synth.abuse import _MILD
from claimguard.synth.blocks import INP, OUT, Block
from claimguard.synth.calendar import Calendar
from claimguard.synth.population import Facilities

DRIFT_MIN_MONTHS = 6
DRIFT_SHARE = 0.04  # of eligible facilities
MIN_MONTHLY_CLAIMS = 150  # drifting facilities are big enough to be watched
KINDS = ("overbilling", "admission_inflation")
# first-month effect and growth per month after (multiplier on the indicator's level)
FIRST, GROWTH = 0.3, 0.15


@dataclass
class DriftPlan:
    """Drifting facilities, their kind and the index of their first drifted month."""

    facilities: np.ndarray
    kinds: np.ndarray
    start_month: np.ndarray
    month_starts: list[pd.Timestamp]


def _month_of_day(cal: Calendar) -> tuple[np.ndarray, list[pd.Timestamp]]:
    days = cal.start + pd.to_timedelta(np.arange(cal.n_days), unit="D")
    per = days.to_period("M")
    firsts = sorted(set(per))
    code = np.searchsorted(np.array([p.ordinal for p in firsts]), per.asi8)
    return code.astype(np.int64), [p.to_timestamp() for p in firsts]


def plant_drift(
    rng: np.random.Generator,
    b: Block,
    n_special: int,
    fac: Facilities,
    cal: Calendar,
    volume: np.ndarray,
    used: np.ndarray,
) -> DriftPlan | None:
    """Change the chosen facilities' ordinary claims in place from their start month on."""
    month, firsts = _month_of_day(cal)
    n_months = len(firsts)
    if n_months < DRIFT_MIN_MONTHS:
        return None
    tier_ok = np.isin(fac.tier, (cat.DISTRICT, cat.PROVINCIAL, cat.PRIVATE))
    eligible = np.flatnonzero(~used & tier_ok & (volume / n_months >= MIN_MONTHLY_CLAIMS))
    if len(eligible) < 2:
        return None
    k = min(len(eligible), max(4, round(DRIFT_SHARE * len(eligible))))
    chosen = np.sort(rng.choice(eligible, k, replace=False))
    kinds = np.array([KINDS[i % 2] for i in range(k)], dtype=object)
    lo = max(DRIFT_MIN_MONTHS // 2 + 1, n_months // 3)
    start = rng.integers(lo, n_months - 1, k)  # at least two months after the start
    ordinary = np.arange(len(b)) >= n_special
    claim_month = month[np.clip(b.day, 0, cal.n_days - 1)]
    for f, kind, s in zip(chosen, kinds, start, strict=True):
        here = (b.fac == f) & (b.scen < 0) & ordinary
        grow = FIRST + GROWTH * (claim_month - s)
        after = here & (claim_month >= s)
        if kind == "overbilling":
            rows = np.flatnonzero(after)
            mult = (1.0 + grow[rows]).astype(np.float32)
            b.tmult[rows] *= mult
            b.smult[rows] *= mult
            b.dmult[rows] *= mult
            continue
        base = here & (claim_month < s)
        rate = float((b.vtype[base] == INP).mean()) if base.any() else 0.05
        cand = np.flatnonzero(after & (b.vtype == OUT) & _MILD[b.dx] & (b.refill == 0))
        share = np.clip(max(rate, 0.03) * grow[cand] / max(1.0 - rate, 0.5), 0.0, 0.6)
        conv = cand[rng.random(len(cand)) < share]
        b.vtype[conv] = INP
        b.los[conv] = rng.integers(2, 5, len(conv))
    return DriftPlan(chosen, kinds, start, firsts)


def drift_labels(plan: DriftPlan, fac_ids: np.ndarray) -> pd.DataFrame:
    """Label rows (entity_type, entity_id, scenario, variant='drift', start_month)."""
    return pd.DataFrame(
        {
            "entity_type": "facility",
            "entity_id": fac_ids[plan.facilities],
            "scenario": plan.kinds,
            "variant": "drift",
            "start_month": [plan.month_starts[s].strftime("%Y-%m") for s in plan.start_month],
        }
    )
