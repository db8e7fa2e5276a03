"""Card patterns: combinations of claims that show an abuse on their own, not by volume.

Why: the subtle forms of split billing, overlapping care, hoarding and borrowed cards add
only one or two claims to a card. Counted alone (claims, visits, days) they hide among
ordinary cards; what gives them away is how those claims relate to each other:

* **split visit** — two outpatient claims of one card at one facility on one day *for the
  same diagnosis* are one visit billed twice (a second, different complaint on the same
  day is ordinary);
* **back to back** — claims of one card at one facility on one day starting minutes apart:
  one sitting billed as several claims (a genuine revisit needs a new consultation);
* **split stay** — an inpatient admission at the facility that discharged the holder the
  same or the previous day: one hospital stay billed as two admissions (a genuine
  readmission after a discharge a day earlier is rare, and is weighed by how rare it is);
* **visit inside a stay** — an outpatient visit at another facility on a day strictly
  between the admission and discharge days of an inpatient stay: the patient was in a
  hospital bed (admission and discharge days are left out: transfers and follow-ups
  happen then);
* **concurrent supply** — a drug class dispensed while a supply of the same class
  dispensed by *another* facility is still running (a second prescriber for the same
  drugs, the usual way medicines are collected for resale);
* **atypical care away from the registered facility** — the most atypical diagnosis for
  the holder's sex and age band among claims away from the card's registered facility
  (someone else using the card goes where they are not known).

Each function takes the :class:`~claimguard.features.prepare.Prepared` claims (sorted by
card, then admit time), returns one value per card and adds per-claim evidence to
``flags`` (never lowering evidence already there; 1 = one instance of the pattern). Only the card's own claims are needed.
"""

from __future__ import annotations

import numpy as np

from claimguard.features import windows
from claimguard.features.peers import PeerTables, dx_atypicality
from claimguard.features.prepare import INPATIENT, REGISTRATION_UNKNOWN, Prepared

Arrays = dict[str, np.ndarray]


def _raise_flag(flags: Arrays, signal: str, strength: np.ndarray) -> None:
    """Per-claim evidence: the larger of what is there and ``strength``."""
    s = strength.astype(np.float32)
    flags[signal] = np.maximum(flags[signal], s) if signal in flags else s


def split_visits(p: Prepared, sizes: np.ndarray, flags: Arrays) -> Arrays:
    """Extra outpatient claims sharing card, facility, day and primary diagnosis category.

    ``sizes`` = claims per (card, facility, day) (``card.same_visit_sizes``); only groups of
    two or more are re-keyed, so the cost is negligible.
    """
    nc = p.n_cards
    cand = np.flatnonzero((sizes > 1) & (p.visit_type != INPATIENT))
    extra = np.zeros(p.n, dtype=np.float64)
    if len(cand):
        pair = np.unique(windows.combined_key(p.card[cand], p.fac[cand]), return_inverse=True)[1]
        day = p.day[cand].astype(np.int64) - int(p.day[cand].min())
        dx = p.dx3[cand].astype(np.int64)
        sub = day * (int(dx.max()) + 1) + dx
        if int(sub.max()) < 2**31:
            key = windows.combined_key(pair.reshape(-1), sub)
        else:  # a period of many years with a huge vocabulary: re-key densely
            key = windows.combined_key(pair.reshape(-1), np.unique(sub, return_inverse=True)[1])
        n_same = windows.run_sizes(key)
        extra[cand] = np.where(n_same > 1, 1.0 - 1.0 / n_same, 0.0)
    _raise_flag(flags, "split_billing", (extra > 0).astype(np.float32))
    return {"card_same_dx_same_day_claims_count": np.round(windows.group_sum(extra, p.card, nc), 6)}


def back_to_back(p: Prepared, sizes: np.ndarray, minutes: float, flags: Arrays) -> Arrays:
    """Claims at one facility on one day starting within ``minutes`` of the card's previous
    claim there (``features.back_to_back_minutes``): one sitting billed as several claims.

    A genuine same-day revisit (back after a test result, a second complaint) needs a new
    consultation and starts later; only groups of two or more claims are looked at.
    """
    nc = p.n_cards
    cand = np.flatnonzero(sizes > 1)
    hit = np.zeros(p.n, dtype=bool)
    if len(cand):
        order = cand[np.lexsort((p.admit_s[cand], p.day[cand], p.fac[cand], p.card[cand]))]
        same = np.zeros(len(order), dtype=bool)
        same[1:] = (
            (p.card[order[1:]] == p.card[order[:-1]])
            & (p.fac[order[1:]] == p.fac[order[:-1]])
            & (p.day[order[1:]] == p.day[order[:-1]])
        )
        gap = np.zeros(len(order), dtype=np.int64)
        gap[1:] = p.admit_s[order[1:]] - p.admit_s[order[:-1]]
        hit[order] = same & (gap < minutes * 60.0)
    _raise_flag(flags, "split_billing", hit.astype(np.float32))
    return {"card_back_to_back_claims_count": windows.group_sum(hit, p.card, nc)}


def split_stays(p: Prepared, flags: Arrays) -> Arrays:
    """Inpatient admissions starting at most one day after the card's previous inpatient
    discharge at the same facility (not before it: that is an overlapping stay).

    The previous stay is the card's last earlier-admitted inpatient claim (a running
    maximum of row numbers, no pairwise join).
    """
    nc = p.n_cards
    inpatient = p.visit_type == INPATIENT
    hit = np.zeros(p.n, dtype=bool)
    if p.n > 1 and int(inpatient.sum()) > 1:
        rows = np.where(inpatient, np.arange(p.n), -1)
        last = np.maximum.accumulate(rows)  # last inpatient row at or before each row
        prev = np.full(p.n, -1, dtype=np.int64)
        prev[1:] = last[:-1]
        has = inpatient & (prev >= 0)
        pv = np.where(has, prev, 0)
        gap = p.day.astype(np.int64) - p.discharge_day[pv].astype(np.int64)
        hit = (
            has
            & (p.card[pv] == p.card)
            & (p.fac[pv] == p.fac)
            & (p.admit_s >= p.discharge_s[pv])
            & (gap <= 1)
        )
        strength = hit.astype(np.float32)
        np.maximum.at(strength, pv[hit], 1.0)  # the first half of the stay is evidence too
        _raise_flag(flags, "split_billing", strength)
    return {"card_split_stay_admissions_count": windows.group_sum(hit, p.card, nc)}


def visits_inside_stays(p: Prepared, flags: Arrays) -> Arrays:
    """Outpatient/day-care claims at another facility strictly inside an inpatient stay.

    The stay compared with is the card's earlier-admitted inpatient stay that is discharged
    last (one prefix maximum, no pairwise join).
    """
    nc = p.n_cards
    inpatient = p.visit_type == INPATIENT
    if p.n == 0 or not inpatient.any():
        return {"card_visits_inside_other_stay_count": np.zeros(nc)}
    lo = int(p.discharge_day.min())
    end_rel = np.where(inpatient, p.discharge_day.astype(np.int64) - lo + 1, 0)
    prev = windows.previous_max_end(p.card, end_rel)
    has = prev >= 0
    pv = np.where(has, prev, 0)
    inside = (
        has
        & inpatient[pv]
        & ~inpatient
        & (p.fac != p.fac[pv])
        & (p.day > p.day[pv])
        & (p.day < p.discharge_day[pv])
    )
    strength = inside.astype(np.float32)
    np.maximum.at(strength, pv[inside], 1.0)  # the stay is evidence too
    _raise_flag(flags, "overlapping_care", strength)
    return {"card_visits_inside_other_stay_count": windows.group_sum(inside, p.card, nc)}


def concurrent_supply(p: Prepared, flags: Arrays) -> Arrays:
    """Most days of a drug class still on hand, from another facility's dispensing, when
    the card is dispensed that class again (0 = never two prescribers at once).

    A dispensing's supply runs from its admit day for its days supplied. For each
    dispensing the earlier one of the same card and class whose supply ends last is
    compared (one prefix maximum per (card, class)).
    """
    nc = p.n_cards
    lines = p.lines
    if lines is None or lines.drug_pos is None or lines.drug_class is None:
        return {}
    assert lines.drug_days is not None
    pos = lines.drug_pos
    if len(pos) == 0:
        return {"card_concurrent_supply_days": np.zeros(nc)}
    # dispensings are in claim order, i.e. (card, time); a stable sort on (card, class)
    # keeps time order within each class
    cc = windows.combined_key(p.card[pos], lines.drug_class)
    srt = np.argsort(cc, kind="stable")
    cc, pos = cc[srt], pos[srt]
    grp = np.cumsum(np.r_[True, cc[1:] != cc[:-1]]) - 1
    start = p.day[pos].astype(np.int64)
    end = start + np.ceil(lines.drug_days[srt].astype(np.float64)).astype(np.int64)
    prev = windows.previous_max_end(grp, end - int(end.min()))
    has = prev >= 0
    pv = np.where(has, prev, 0)
    conc = has & (start < end[pv]) & (p.fac[pos] != p.fac[pos[pv]])
    strength = np.zeros(p.n, dtype=np.float32)
    left = np.where(conc, end[pv] - start, 0).astype(np.float32)
    np.maximum.at(strength, pos, left)
    _raise_flag(flags, "drug_oversupply", strength)
    return {"card_concurrent_supply_days": windows.group_max(left, p.card[pos], nc)}


def atypical_away(p: Prepared, peers: PeerTables, flags: Arrays) -> Arrays:
    """Largest diagnosis atypicality (``peers.dx_atypicality``) at a facility other than the
    card's registered one (1 = typical, also when the registered facility is unknown).
    """
    nc = p.n_cards
    known = p.registered != REGISTRATION_UNKNOWN
    away = known & (p.fac != p.registered)
    atyp = np.where(away, dx_atypicality(peers, p), 1.0)
    _raise_flag(flags, "demographic_mismatch", np.log10(np.maximum(atyp, 1.0)))
    return {"card_max_dx_atypicality_away_ratio": windows.group_max(atyp, p.card, nc, 1.0)}


def card_patterns(
    p: Prepared, peers: PeerTables, sizes: np.ndarray, flags: Arrays, back_to_back_minutes: float
) -> Arrays:
    """Every pattern feature the data allows (aligned with ``p.card_ids``)."""
    out: Arrays = {}
    out.update(split_visits(p, sizes, flags))
    out.update(back_to_back(p, sizes, back_to_back_minutes, flags))
    if p.has("claims.discharge_time"):
        out.update(split_stays(p, flags))
        out.update(visits_inside_stays(p, flags))
    if p.has("claim_lines.days_supply"):
        out.update(concurrent_supply(p, flags))
    if p.has("cards.registered_facility_id|claims.registered_facility_id"):
        out.update(atypical_away(p, peers, flags))
    return out


__all__ = [
    "atypical_away",
    "back_to_back",
    "card_patterns",
    "concurrent_supply",
    "split_stays",
    "split_visits",
    "visits_inside_stays",
]
