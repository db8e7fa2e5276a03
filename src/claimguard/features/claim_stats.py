"""Per-claim, per-card and per-facility statistics of the prepared claims: the values
whose peer means :mod:`claimguard.features.peers` fits, and the facility volumes and
doctor-days the facility features compare with them.

Why apart from the peer tables: these are plain functions of one period's claims (no
fitted state), used both when fitting peers and when computing features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from claimguard.features import items, windows
from claimguard.features.encode import UNKNOWN_AGE_BAND
from claimguard.features.prepare import INPATIENT, OUTPATIENT, REGISTRATION_UNKNOWN, Prepared


def treatment_vnd(p: Prepared) -> np.ndarray | None:
    """Amount billed beyond the exam (and bed days): from lines, else drug + supply cost."""
    if p.lines is not None:
        return p.lines.treatment_vnd
    if p.drug_cost is not None:
        supply = p.supply_cost if p.supply_cost is not None else np.zeros(p.n)
        return np.asarray(np.nan_to_num(p.drug_cost) + np.nan_to_num(supply))
    return None


def outside_home(p: Prepared) -> np.ndarray:
    """1.0 for a visit, without referral, outside the card's home province; NaN if unknown."""
    claim_prov = p.fac_prov[p.fac]
    home = p.home_prov[p.card]
    known = (home >= 0) & (claim_prov >= 0)
    return np.where(known, ((home != claim_prov) & ~p.referred).astype(np.float64), np.nan)


def away_from_registered(p: Prepared) -> np.ndarray:
    """1.0 for a visit, without referral, away from the registered facility; NaN if unknown."""
    known = p.registered != REGISTRATION_UNKNOWN
    away = (p.registered != p.fac) & ~p.referred
    return np.where(known, away.astype(np.float64), np.nan)


def claim_stat_values(p: Prepared, near_zero_vnd: float) -> dict[str, np.ndarray]:
    """Per-claim values whose peer means are fitted (NaN = not applicable / unknown)."""
    out: dict[str, np.ndarray] = {"cost": p.cost}
    treat = treatment_vnd(p)
    if treat is not None:
        out["thin"] = (treat < near_zero_vnd).astype(np.float64)
    inpatient = p.visit_type == INPATIENT
    if p.has("claims.visit_type"):
        out["inpatient"] = inpatient.astype(np.float64)
    if p.has("claims.discharge_time"):
        stay = (p.discharge_s - p.admit_s) / 86_400.0
        out["stay_days"] = np.where(inpatient, stay, np.nan)
    if p.has("facilities.province", "cards.province"):
        out["outside_home"] = outside_home(p)
    if p.has("cards.registered_facility_id|claims.registered_facility_id"):
        out["away"] = away_from_registered(p)
    if p.has("claims.sick_leave_days"):
        out["sick_leave"] = (np.nan_to_num(p.sick_days) > 0).astype(np.float64)
    if p.lines is not None:
        for name, cls in (
            ("lab_test", items.LAB_TEST),
            ("imaging", items.IMAGING),
            ("drug", items.DRUG),
            ("supply", items.SUPPLY),
        ):
            out[name] = p.lines.counts[:, cls].astype(np.float64)
    return out


def card_stat_values(p: Prepared) -> dict[str, np.ndarray]:
    """Per-card values whose peer means are fitted."""
    return {"visits": windows.group_count(p.card, p.n_cards)}


def doctor_days(p: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Outpatient examinations per (facility, doctor, day).

    Returns (facility code, doctor code, exams) per doctor-day and, per claim, the exams
    of its doctor-day (0 for claims without doctor or not outpatient); None without doctors.
    """
    m = (p.doctor >= 0) & (p.visit_type == OUTPATIENT)
    if not m.any():
        return None
    n_doc = int(p.doctor.max()) + 1
    span = int(p.day.max()) - int(p.day.min()) + 1
    key = (p.fac[m].astype(np.int64) * n_doc + p.doctor[m]) * span + (p.day[m] - p.day.min())
    uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    fac_of = (uniq // (n_doc * span)).astype(np.int64)
    doc_of = ((uniq // span) % n_doc).astype(np.int64)
    per_claim = np.zeros(p.n, dtype=np.int64)
    per_claim[m] = counts[inv.reshape(-1)]
    return fac_of, doc_of, counts, per_claim


def busiest_doctor_vs_colleagues(p: Prepared, dd: tuple[np.ndarray, ...] | None) -> np.ndarray:
    """Per facility: the busiest doctor's mean examinations per day worked, divided by the
    median of that figure over the facility's doctors (1 with a single doctor).

    Why: a busy hospital has many busy doctors; a phantom-visit or overload scheme puts
    one doctor far above the colleagues who treat the same patients.
    """
    out = np.ones(p.n_facilities)
    if dd is None:
        return out
    fac_of, doc_of, counts = dd[0], dd[1], dd[2]
    uniq, inv = np.unique(windows.combined_key(fac_of, doc_of), return_inverse=True)
    inv = inv.reshape(-1)
    mean = np.bincount(inv, weights=counts) / np.bincount(inv)
    fac = (uniq >> 32).astype(np.int64)
    order = np.lexsort((mean, fac))
    fac, mean = fac[order], mean[order]
    start = np.searchsorted(fac, np.arange(p.n_facilities))
    size = np.bincount(fac, minlength=p.n_facilities)
    has = size > 0
    lo = start[has] + (size[has] - 1) // 2
    hi = start[has] + size[has] // 2
    median = (mean[lo] + mean[hi]) / 2.0
    busiest = mean[start[has] + size[has] - 1]
    out[has] = busiest / np.maximum(median, 1e-9)
    return out


def facility_volume(p: Prepared) -> dict[str, np.ndarray]:
    """Per-facility claims, distinct cards and cost per day of the period."""
    days = float(max(p.period_days, 1))
    claims = windows.group_count(p.fac, p.n_facilities)
    cards = windows.distinct_per_group(p.fac, p.card, p.n_facilities)
    cost = windows.group_sum(p.cost, p.fac, p.n_facilities)
    return {
        "claims_per_day": claims / days,
        "cards_per_day": cards / days,
        "cost_per_day": cost / days,
    }


def demography_key(p: Prepared, dx3_vocab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group key sex*8+band, peer dx3 index) per claim; group -1 when both unknown."""
    local_to_peer = pd.Index(dx3_vocab).get_indexer(p.dx3_vocab)
    dx = np.where(local_to_peer >= 0, local_to_peer, -1)[p.dx3]
    known = (p.sex != 0) | (p.age_band != UNKNOWN_AGE_BAND)
    group = np.where(known, p.sex.astype(np.int64) * (UNKNOWN_AGE_BAND + 1) + p.age_band, -1)
    return group, dx


def fit_demography(p: Prepared, dx3_vocab: np.ndarray) -> pd.DataFrame:
    """Claim counts per (sex/age group, diagnosis)."""
    group, dx = demography_key(p, dx3_vocab)
    ok = (group >= 0) & (dx >= 0)
    key = group[ok] * (len(dx3_vocab) + 1) + dx[ok]
    uniq, counts = np.unique(key, return_counts=True)
    return pd.DataFrame({"key": uniq, "count": counts})
