"""Per-card features: how one insurance card was used in the period, against its peers.

Every function takes the :class:`~claimguard.features.prepare.Prepared` claims of some
cards (sorted by card, then admit time) and returns one value per card; nothing needs
another card's claims, so the same code runs per partition of cards. Per-claim
evidence strengths (``claim_flags``) are returned beside the features.
"""

from __future__ import annotations

import numpy as np

from claimguard.features import clinical, windows
from claimguard.features.claim_stats import away_from_registered, outside_home
from claimguard.features.encode import DAY_S
from claimguard.features.peers import PeerTables, dx_atypicality, expected_card
from claimguard.features.prepare import Prepared
from claimguard.settings import FeatureSettings

Arrays = dict[str, np.ndarray]

EARLY_REFILL_SHARE = 0.75  # a refill with > 25% of the previous dispensing left is early


def same_visit_sizes(p: Prepared) -> np.ndarray:
    """For each claim, how many claims the same facility billed the same card that day."""
    if p.n == 0:
        return np.zeros(0, dtype=np.int64)
    span = int(p.day.max()) - int(p.day.min()) + 1
    if p.n_cards * p.n_facilities * span < 2**62:
        key = (p.card.astype(np.int64) * p.n_facilities + p.fac) * span + (p.day - p.day.min())
        return windows.run_sizes(key)
    key = windows.combined_key(p.card, p.fac)
    pair = np.unique(key, return_inverse=True)[1].reshape(-1)
    return windows.run_sizes(windows.combined_key(pair, p.day - p.day.min()))


def visits(p: Prepared, peers: PeerTables, flags: Arrays) -> Arrays:
    """Visit counts in the period, busiest 7/30 days, and visits against peers."""
    nc = p.n_cards
    count = windows.group_count(p.card, nc)
    c7 = windows.forward_window_counts(p.card, p.day, 7)
    c30 = windows.forward_window_counts(p.card, p.day, 30)
    expected = np.maximum(np.nan_to_num(expected_card(peers, p, "visits"), nan=1.0), 1.0)
    # evidence only where the busiest 30 days from this claim exceed what peers make
    flags["visit_frequency"] = np.maximum(c30 / expected[p.card] - 1.0, 0.0).astype(np.float32)
    return {
        "card_visits_count": count,
        "card_max_visits_7d_count": windows.sorted_group_max(c7, p.card_start),
        "card_max_visits_30d_count": windows.sorted_group_max(c30, p.card_start),
        "card_visits_ratio_to_peers": count / expected,
    }


def facilities_and_places(p: Prepared, expected: dict[str, np.ndarray], flags: Arrays) -> Arrays:
    """Distinct facilities and provinces; visits outside the home province or away from the
    registered facility (without referral) beyond what the same care typically shows.
    """
    nc = p.n_cards
    out: Arrays = {}
    n_fac = windows.distinct_per_group(p.card, p.fac, nc)
    out["card_distinct_facilities_count"] = n_fac
    main = windows.group_mode(p.card, p.fac, nc)
    flags["multi_facility"] = np.where(p.fac != main[p.card], n_fac[p.card], 0).astype(np.float32)
    if p.has("facilities.province"):
        claim_prov = p.fac_prov[p.fac]
        out["card_distinct_provinces_count"] = windows.distinct_per_group(p.card, claim_prov, nc)
    for stat, name in (
        ("outside_home", "card_outside_home_province_excess_count"),
        ("away", "card_away_from_registered_excess_count"),
    ):
        if stat not in expected:
            continue
        actual = outside_home(p) if stat == "outside_home" else away_from_registered(p)
        known = np.isfinite(actual)
        excess = np.where(known, actual - np.nan_to_num(expected[stat], nan=0.0), 0.0)
        out[name] = windows.group_sum(excess, p.card, nc)
        if stat == "outside_home":
            flags["geography"] = np.maximum(excess, 0.0).astype(np.float32)
    return out


def overlapping_care(p: Prepared, flags: Arrays) -> Arrays:
    """Claims starting while an earlier stay of the card at another facility is still open.

    The earlier stay compared with is the one of the card ending last so far; overlap
    days are the shared time rounded up to whole days (a visit inside a stay = 1 day).
    """
    nc = p.n_cards
    prev = windows.previous_max_end(p.card, p.discharge_s)
    has = prev >= 0
    pv = np.where(has, prev, 0)
    ov = has & (p.admit_s < p.discharge_s[pv]) & (p.fac[pv] != p.fac)
    shared = np.minimum(p.discharge_s, p.discharge_s[pv]) - p.admit_s
    days = np.where(ov, np.maximum(np.ceil(shared / DAY_S), 1.0), 0.0)
    flag = days.astype(np.float32)
    np.maximum.at(flag, pv[ov], flag[ov])
    flags["overlapping_care"] = flag
    return {
        "card_overlapping_stays_count": windows.group_sum(ov, p.card, nc),
        "card_overlap_days": windows.group_sum(days, p.card, nc),
    }


def split_billing(p: Prepared, sizes: np.ndarray, flags: Arrays) -> Arrays:
    """Extra claims on a day on which the same facility already billed the card."""
    flags["split_billing"] = (sizes - 1).astype(np.float32)
    extra = 1.0 - 1.0 / sizes
    return {
        "card_same_day_same_facility_claims_count": np.round(
            windows.group_sum(extra, p.card, p.n_cards), 6
        )
    }


def drug_supply(p: Prepared, flags: Arrays) -> Arrays:
    """Days of drug supplied per drug class against the period; stock on hand at refills.

    The stock at a refill is the largest, over earlier dispensings k of the same class,
    of (days supplied from k up to this refill) - (days elapsed since k): what the
    holder would still have if every earlier dispensing were taken as prescribed.
    """
    nc = p.n_cards
    lines = p.lines
    if lines is None or lines.drug_pos is None or lines.drug_class is None:
        return {}
    assert lines.drug_days is not None
    # dispensings arrive sorted by claim position, i.e. by (card, time): a stable sort on
    # (card, class) gives each card's classes in time order
    cc = windows.combined_key(p.card[lines.drug_pos], lines.drug_class)
    srt = np.argsort(cc, kind="stable")
    cc, pos = cc[srt], lines.drug_pos[srt]
    dd = lines.drug_days[srt].astype(np.float64)
    del srt
    first = np.ones(len(cc), dtype=bool)
    first[1:] = cc[1:] != cc[:-1]
    inv = np.cumsum(first) - 1
    card_of_class = (cc[first] >> 32).astype(np.int64)
    card = (cc >> 32).astype(np.int32)
    del cc
    per_class = np.bincount(inv, weights=dd)
    ratio = windows.group_max(per_class / max(p.period_days, 1), card_of_class, nc)
    # stock on hand at each refill (grouped prefix minimum via a per-group offset)
    cum = np.cumsum(dd) - dd
    cum -= np.maximum.accumulate(np.where(first, cum, -np.inf))
    y = cum - p.day[pos]
    del cum
    big = float(np.abs(y).max() + 1.0) if len(y) else 1.0
    y -= inv * big
    del inv
    prev_min = np.empty_like(y)
    prev_min[:1] = np.inf
    prev_min[1:] = np.minimum.accumulate(y)[:-1]
    stock = np.where(first, 0.0, np.maximum(y - prev_min, 0.0))
    del y, prev_min
    prev_days = np.zeros(len(dd))
    prev_days[1:] = dd[:-1]
    early = ~first & (stock > (1.0 - EARLY_REFILL_SHARE) * prev_days)
    del prev_days, dd
    flag = np.zeros(p.n, dtype=np.float32)
    np.maximum.at(flag, pos, stock.astype(np.float32))
    flags["drug_oversupply"] = flag
    return {
        "card_drug_days_supplied_ratio": ratio,
        "card_drug_stockpile_days": windows.group_max(stock, card, nc),
        "card_early_refill_count": windows.group_sum(early, card, nc),
    }


def demographic_mismatch(p: Prepared, peers: PeerTables, flags: Arrays) -> Arrays:
    """Diagnoses that cannot fit the holder's sex or age (clinical.DX_RULES), and the
    most atypical diagnosis for the holder's sex and age band (peers.dx_atypicality).
    """
    sex_known = p.sex != clinical.NO_SEX
    wrong_sex = sex_known & (
        ((p.dx_sex == clinical.FEMALE) & (p.sex == clinical.MALE))
        | ((p.dx_sex == clinical.MALE) & (p.sex == clinical.FEMALE))
        | (p.dx_sex == 3)
    )
    age_ok = np.isfinite(p.age)
    wrong_age = age_ok & ((p.age < p.dx_min_age) | (p.age > p.dx_max_age))
    mismatch = wrong_sex | wrong_age
    impossible = impossible_diagnoses(p)
    atypical = dx_atypicality(peers, p)
    flags["demographic_mismatch"] = np.maximum(
        3.0 * mismatch + 2.0 * impossible, np.log10(np.maximum(atypical, 1.0))
    ).astype(np.float32)
    return {
        "card_demographic_mismatch_count": windows.group_sum(mismatch, p.card, p.n_cards),
        "card_impossible_dx_claims_count": windows.group_sum(impossible, p.card, p.n_cards),
        "card_unfitting_main_dx_distinct_count": windows.distinct_per_group(
            p.card, np.where(unfitting_main_diagnoses(p) | impossible, p.dx3, -1), p.n_cards
        ),
        "card_max_dx_atypicality_ratio": windows.sorted_group_max(atypical, p.card_start),
    }


def _contradicts(p: Prepared, need: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per claim: the holder's sex or age is outside a diagnosis' constraint."""
    wrong_sex = ((need == clinical.FEMALE) & (p.sex == clinical.MALE)) | (
        (need == clinical.MALE) & (p.sex == clinical.FEMALE)
    )
    return np.asarray(wrong_sex | (np.isfinite(p.age) & ((p.age < lo) | (p.age > hi))))


def unfitting_main_diagnoses(p: Prepared) -> np.ndarray:
    """Per claim: the *primary* diagnosis does not fit the holder (``clinical.DX_RULES``,
    near-impossible ones included). Secondary codes are left out here: they carry
    comorbidities copied from other records and are noisier."""
    sex, lo, hi = clinical.dx_constraints(p.dx3_vocab)
    return _contradicts(p, sex[p.dx3], lo[p.dx3], hi[p.dx3])


def impossible_diagnoses(p: Prepared) -> np.ndarray:
    """Per claim: the primary diagnosis contradicts the holder's sex or age outright
    (``clinical.impossibility_rules``: the cited table in ``claimguard/data``).

    The holder's sex and birth date come from the enrolment registry when the ``cards``
    table has them (the claim's copy is a data-entry field), else from the claim.
    """
    sex, lo, hi = clinical.dx_constraints(p.dx3_vocab, clinical.impossibility_rules())
    return _contradicts(p, sex[p.dx3], lo[p.dx3], hi[p.dx3])


def eligibility(p: Prepared, flags: Arrays) -> Arrays:
    """Claims outside the card's validity dates, and after the holder's death."""
    outside = (p.day < p.valid_from) | (p.day > p.valid_to)
    dead = p.day > p.death
    flags["eligibility"] = (outside.astype(np.float32) + 2.0 * dead).astype(np.float32)
    nc = p.n_cards
    return {
        "card_outside_validity_claims_count": windows.group_sum(outside, p.card, nc),
        "card_after_death_claims_count": windows.group_sum(dead, p.card, nc),
    }


def cost(p: Prepared, expected_cost: np.ndarray, flags: Arrays) -> Arrays:
    """Cost against the peer-expected cost of the same claims."""
    nc = p.n_cards
    exp = np.nan_to_num(expected_cost, nan=0.0)
    floor = max(float(np.mean(exp)) * 0.01, 1.0) if p.n else 1.0
    flags["cost"] = np.maximum(p.cost / np.maximum(exp, floor) - 1.0, 0.0).astype(np.float32)
    actual = windows.group_sum(p.cost, p.card, nc)
    expected = windows.group_sum(exp, p.card, nc)
    n = windows.group_count(p.card, nc)
    return {
        "card_cost_per_visit_ratio_to_peers": windows.shrunk_ratio(actual, expected, n, 1.0, floor)
    }


def card_features(
    p: Prepared,
    peers: PeerTables,
    settings: FeatureSettings,
    expected: dict[str, np.ndarray],
    sizes: np.ndarray,
) -> tuple[Arrays, Arrays]:
    """All card features (one array per feature, aligned with ``p.card_ids``) and flags."""
    flags: Arrays = {}
    out: Arrays = {}
    out.update(visits(p, peers, flags))
    out.update(facilities_and_places(p, expected, flags))
    out.update(overlapping_care(p, flags))
    out.update(split_billing(p, sizes, flags))
    out.update(drug_supply(p, flags))
    out.update(demographic_mismatch(p, peers, flags))
    out.update(eligibility(p, flags))
    out.update(cost(p, expected["cost"], flags))
    return out, flags
