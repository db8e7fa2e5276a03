"""Peer context: what a claim, card or facility is *expected* to look like, given its kind.

Why: dialysis three times a week, chemotherapy and central hospitals are heavy but
normal. Each expectation is a mean over training claims that share the drivers of
legitimate cost and frequency: diagnosis (ICD-10 subcategory, category, letter),
facility tier, visit type and age band. Estimates are shrunk level by level from
everyone down to the finest group, each group weighted n / (n + min_peer_group_size),
so small groups borrow from their coarser peers instead of being noisy.
The fitted tables are small, picklable, and stored in the model bundle.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from claimguard.features import clinical, items, windows
from claimguard.features.prepare import (
    INPATIENT,
    OUTPATIENT,
    UNKNOWN_AGE_BAND,
    UNKNOWN_TIER,
    Prepared,
    prepare,
)
from claimguard.settings import FeatureSettings

# Components of a peer key and their radix (dx3/dx4 radix depend on the vocabularies).
_RADIX = {"chap": 27, "tier": UNKNOWN_TIER + 1, "vt": 4, "age": UNKNOWN_AGE_BAND + 1, "ndx": 4}

LEVELS: dict[str, tuple[tuple[str, ...], ...]] = {
    # Each family is a chain from the finest group to everyone, every level nested in
    # the next, so shrinking level by level never mixes tiers back in once dropped last.
    # Claim stats that depend on the visit type (cost, services per visit, sick leave):
    "claim": (
        ("dx4", "tier", "vt", "age"),
        ("dx4", "tier", "vt"),
        ("dx3", "tier", "vt"),
        ("chap", "tier", "vt"),
        ("tier", "vt"),
        ("vt",),
        (),
    ),
    # claim stats about the visit type itself (admission) or inpatient only (stay length)
    "admission": (
        ("dx4", "tier", "age"),
        ("dx4", "tier"),
        ("dx3", "tier"),
        ("chap", "tier"),
        ("tier",),
        (),
    ),
    # card stats, keyed on the card's main diagnosis, age band and how many distinct
    # diagnoses it has (several chronic conditions legitimately mean more visits)
    "card": (
        ("dx4", "age", "ndx"),
        ("dx4", "age"),
        ("dx3", "age"),
        ("chap", "age"),
        ("age",),
        (),
    ),
}

# stat name -> level family
CLAIM_STATS: dict[str, str] = {
    "cost": "claim",
    "lab_test": "claim",
    "imaging": "claim",
    "drug": "claim",
    "supply": "claim",
    "sick_leave": "claim",
    "inpatient": "admission",
    "stay_days": "admission",
    "thin": "claim",
    "outside_home": "claim",
    "away": "claim",
}
CARD_STATS: dict[str, str] = {"visits": "card"}
TIER_STATS = ("claims_per_day", "cards_per_day", "cost_per_day")
DEMOGRAPHY_PRIOR = 20.0  # pseudo-claims pulling a small demographic group to the overall mix


@dataclass
class PeerTables:
    """Fitted expectations. ``stats[name]`` has columns level, key, n, mean.

    ``dx_demography`` counts claims per (sex, age band, diagnosis) for how typical a
    diagnosis is for the card holder; ``facility_ids`` and ``diagnoses`` are the
    training vocabularies (for drift checks).
    """

    dx3_vocab: np.ndarray
    dx4_vocab: np.ndarray
    min_group_size: int
    stats: dict[str, pd.DataFrame] = field(default_factory=dict)
    tier_stats: pd.DataFrame = field(default_factory=pd.DataFrame)
    dx_demography: pd.DataFrame = field(default_factory=pd.DataFrame)
    facility_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    diagnoses: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def has(self, stat: str) -> bool:
        return stat in self.stats and len(self.stats[stat]) > 0


# ----------------------------------------------------------------------------- keys
#
# Every level of a family is a function of its finest level (dx3 and the ICD letter are
# functions of dx4), so claims are grouped ONCE by the finest key and all coarser levels,
# fits and lookups work on the (small) table of distinct finest groups.

_FINEST = {family: levels[0] for family, levels in LEVELS.items()}
_DENSE_LIMIT = 1 << 24  # finest key spaces up to this size are grouped with bincount


def _dx_maps(peers: PeerTables) -> tuple[np.ndarray, np.ndarray]:
    """For each extended dx4 code: its dx3 code and ICD letter.

    Extended dx4 codes: 0..n4-1 the fitted subcategories, n4 unknown, n4+1+k an unknown
    subcategory of the known category k (so it still meets its dx3 peers).
    """
    n3 = len(peers.dx3_vocab)
    d3_of_4 = pd.Index(peers.dx3_vocab).get_indexer([str(v)[:3] for v in peers.dx4_vocab])
    d3 = np.concatenate([np.where(d3_of_4 >= 0, d3_of_4, n3), [n3], np.arange(n3)])
    letters = np.concatenate(
        [np.asarray(peers.dx3_vocab, dtype=object), np.array([""], dtype=object)]
    )
    chap = clinical.chapter_of(letters)[d3]
    return d3.astype(np.int64), chap.astype(np.int64)


def _radix(peers: PeerTables) -> dict[str, int]:
    n4, n3 = len(peers.dx4_vocab), len(peers.dx3_vocab)
    return {**_RADIX, "dx3": n3 + 1, "dx4": n4 + 1 + n3}


def _components(p: Prepared, peers: PeerTables, per: str) -> dict[str, np.ndarray]:
    """Finest peer-key components of each claim (per='claim') or card (per='card')."""
    n4 = len(peers.dx4_vocab)
    d4 = pd.Index(peers.dx4_vocab).get_indexer(p.dx4_vocab)
    d3 = pd.Index(peers.dx3_vocab).get_indexer([str(v)[:3] for v in p.dx4_vocab])
    ext = np.where(d4 >= 0, d4, np.where(d3 >= 0, n4 + 1 + d3, n4)).astype(np.int64)
    if per == "claim":
        return {
            "dx4": ext[p.dx4],
            "tier": p.tier,
            "vt": np.where(p.vt >= 0, p.vt, 3),
            "age": p.age_band,
        }
    main = np.maximum(windows.group_mode(p.card, p.dx4, p.n_cards), 0)
    first = p.card_start[:-1]
    ndx = np.minimum(windows.distinct_per_group(p.card, p.dx3, p.n_cards), 4) - 1
    return {
        "dx4": ext[main],
        "age": p.age_band[first] if p.n else np.zeros(0, np.int8),
        "ndx": np.maximum(ndx, 0).astype(np.int64),
    }


def _key(comp: dict[str, np.ndarray], level: tuple[str, ...], radix: dict[str, int]) -> np.ndarray:
    n = len(next(iter(comp.values())))
    key = np.zeros(n, dtype=np.int64)
    for name in level:
        key = key * radix[name] + comp[name].astype(np.int64)
    return key


def _decode(
    key: np.ndarray, level: tuple[str, ...], radix: dict[str, int]
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    rest = key.astype(np.int64)
    for name in reversed(level):
        out[name] = rest % radix[name]
        rest = rest // radix[name]
    return out


def _group(key: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys sorted, index of each row's key) — bincount when the space is small."""
    if space <= _DENSE_LIMIT:
        present = np.bincount(key, minlength=space) > 0
        uniq = np.flatnonzero(present).astype(np.int64)
        pos = np.full(space, -1, dtype=np.int32)
        pos[uniq] = np.arange(len(uniq), dtype=np.int32)
        return uniq, pos[key]
    uniq, inv = np.unique(key, return_inverse=True)
    return uniq, inv.reshape(-1)


class _Groups:
    """Rows grouped by the finest key of a family, with the groups' level keys."""

    def __init__(self, comp: dict[str, np.ndarray], family: str, peers: PeerTables) -> None:
        self.radix = _radix(peers)
        finest = _FINEST[family]
        space = int(np.prod([self.radix[c] for c in finest], dtype=np.float64))
        self.uniq, self.inv = _group(_key(comp, finest, self.radix), space)
        g = _decode(self.uniq, finest, self.radix)
        d3, chap = _dx_maps(peers)
        g["dx3"], g["chap"] = d3[g["dx4"]], chap[g["dx4"]]
        self.level_keys = [_key(g, level, self.radix) for level in LEVELS[family]]

    @classmethod
    def from_keys(cls, keys: np.ndarray, family: str, peers: PeerTables) -> _Groups:
        """Groups of the given finest keys (partial sums of several partitions merged)."""
        return cls(
            _decode(np.asarray(keys, dtype=np.int64), _FINEST[family], _radix(peers)), family, peers
        )

    def sums(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Count and sum of ``values`` per finest group (NaN rows ignored): mergeable by
        addition, so partitions of the claims can be fitted apart and combined."""
        ok = np.isfinite(values)
        ng = len(self.uniq)
        n = np.bincount(self.inv[ok], minlength=ng).astype(np.float64)
        s = np.bincount(self.inv[ok], weights=values[ok], minlength=ng)
        return n, s

    def fit(self, values: np.ndarray) -> pd.DataFrame:
        """Peer table (level, key, n, mean) of ``values`` (NaN rows ignored)."""
        return self.fit_sums(*self.sums(values))

    def fit_sums(self, n: np.ndarray, s: np.ndarray) -> pd.DataFrame:
        """Peer table (level, key, n, mean) from counts and sums per finest group."""
        frames = []
        for li, lk in enumerate(self.level_keys):
            uk, inv = np.unique(lk, return_inverse=True)
            cnt = np.bincount(inv, weights=n, minlength=len(uk))
            tot = np.bincount(inv, weights=s, minlength=len(uk))
            keep = cnt > 0
            frames.append(
                pd.DataFrame(
                    {"level": li, "key": uk[keep], "n": cnt[keep], "mean": tot[keep] / cnt[keep]}
                )
            )
        return pd.concat(frames, ignore_index=True)

    def lookup(self, table: pd.DataFrame, min_size: int) -> np.ndarray:
        """Expected value per row, shrunk from the coarsest level to the finest.

        Going from everyone towards the finest group, each level's mean is blended with
        the estimate so far: (n * mean + k * estimate) / (n + k), k = min_peer_group_size.
        A big group speaks for itself; a small or unseen one borrows from its coarser peers.
        """
        est = np.full(len(self.uniq), np.nan, dtype=np.float64)
        for li in range(len(self.level_keys) - 1, -1, -1):
            t = table[table["level"] == li]
            if t.empty:
                continue
            keys = t["key"].to_numpy(dtype=np.int64)
            cnt = t["n"].to_numpy(dtype=np.float64)
            means = t["mean"].to_numpy(dtype=np.float64)
            k = self.level_keys[li]
            pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
            found = keys[pos] == k
            n = np.where(found, cnt[pos], 0.0)
            m = np.where(found, means[pos], 0.0)
            prior = np.where(np.isnan(est), 0.0, est)
            weight = np.where(np.isnan(est), 0.0, float(min_size))
            blended = (n * m + weight * prior) / np.maximum(n + weight, 1e-12)
            est = np.where(n + weight > 0, blended, est)
        return est[self.inv]


# ----------------------------------------------------------------------------- fit


def treatment_vnd(p: Prepared) -> np.ndarray | None:
    """Amount billed beyond the exam (and bed days): from lines, else drug + supply cost."""
    if p.lines is not None:
        return p.lines.treatment_vnd
    if p.drug_cost is not None:
        supply = p.supply_cost if p.supply_cost is not None else np.zeros(p.n)
        return np.nan_to_num(p.drug_cost) + np.nan_to_num(supply)
    return None


def outside_home(p: Prepared) -> np.ndarray:
    """1.0 for a visit, without referral, outside the card's home province; NaN if unknown."""
    claim_prov = p.fac_prov[p.fac]
    home = p.home_prov[p.card]
    known = (home >= 0) & (claim_prov >= 0)
    return np.where(known, ((home != claim_prov) & ~p.referred).astype(np.float64), np.nan)


def away_from_registered(p: Prepared) -> np.ndarray:
    """1.0 for a visit, without referral, away from the registered facility; NaN if unknown."""
    known = p.registered != -2
    away = (p.registered != p.fac) & ~p.referred
    return np.where(known, away.astype(np.float64), np.nan)


def claim_stat_values(p: Prepared, near_zero_vnd: float) -> dict[str, np.ndarray]:
    """Per-claim values whose peer means are fitted (NaN = not applicable / unknown)."""
    out: dict[str, np.ndarray] = {"cost": p.cost}
    treat = treatment_vnd(p)
    if treat is not None:
        out["thin"] = (treat < near_zero_vnd).astype(np.float64)
    inpatient = p.vt == INPATIENT
    if p.has("claims.visit_type"):
        out["inpatient"] = inpatient.astype(np.float64)
    if p.has("claims.discharge_time"):
        stay = (p.end_s - p.admit_s) / 86_400.0
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
    m = (p.doctor >= 0) & (p.vt == OUTPATIENT)
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


def _demography_key(p: Prepared, dx3_vocab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group key sex*8+band, peer dx3 index) per claim; group -1 when both unknown."""
    local_to_peer = pd.Index(dx3_vocab).get_indexer(p.dx3_vocab)
    dx = np.where(local_to_peer >= 0, local_to_peer, -1)[p.dx3]
    known = (p.sex != 0) | (p.age_band != UNKNOWN_AGE_BAND)
    group = np.where(known, p.sex.astype(np.int64) * (UNKNOWN_AGE_BAND + 1) + p.age_band, -1)
    return group, dx


def fit_demography(p: Prepared, dx3_vocab: np.ndarray) -> pd.DataFrame:
    """Claim counts per (sex/age group, diagnosis)."""
    group, dx = _demography_key(p, dx3_vocab)
    ok = (group >= 0) & (dx >= 0)
    key = group[ok] * (len(dx3_vocab) + 1) + dx[ok]
    uniq, counts = np.unique(key, return_counts=True)
    return pd.DataFrame({"key": uniq, "count": counts})


def dx_atypicality(peers: PeerTables, p: Prepared) -> np.ndarray:
    """Per claim: how many times rarer its diagnosis is for the holder's sex and age band
    than among all claims (1 = typical; unknown diagnosis or demography = 1).
    """
    out = np.ones(p.n, dtype=np.float64)
    table = peers.dx_demography
    if table.empty or p.n == 0:
        return out
    n_dx = len(peers.dx3_vocab) + 1
    keys = table["key"].to_numpy(dtype=np.int64)
    counts = table["count"].to_numpy(dtype=np.float64)
    n_groups = (UNKNOWN_AGE_BAND + 1) * 3
    per_group = np.bincount(keys // n_dx, weights=counts, minlength=n_groups)
    per_dx = np.bincount(keys % n_dx, weights=counts, minlength=n_dx)
    overall = per_dx / max(per_dx.sum(), 1.0)
    group, dx = _demography_key(p, peers.dx3_vocab)
    ok = np.flatnonzero((group >= 0) & (dx >= 0))
    k = group[ok] * n_dx + dx[ok]
    pos = np.minimum(np.searchsorted(keys, k), max(len(keys) - 1, 0))
    c = np.where(keys[pos] == k, counts[pos], 0.0)
    ov = overall[dx[ok]]
    share = (c + DEMOGRAPHY_PRIOR * ov) / (per_group[group[ok]] + DEMOGRAPHY_PRIOR)
    out[ok] = np.where(ov > 0, ov / np.maximum(share, 1e-12), 1.0)
    return out


def peer_shell(
    dx_raw_vocab: np.ndarray, facility_ids: np.ndarray, min_group_size: int
) -> PeerTables:
    """Unfitted peer tables with the vocabularies of the training claims' distinct primary
    diagnoses and facilities, built as :func:`claimguard.features.prepare.prepare` builds
    them: partitions of the claims then share one key space and their sums can be added."""
    raw = np.asarray(sorted(str(v) for v in dx_raw_vocab), dtype=object)
    dx3 = pd.factorize(np.append(clinical.normalise_dx(raw), ""), sort=True)[1]
    dx4 = pd.factorize(np.append(clinical.normalise_dx(raw, width=4), ""), sort=True)[1]
    peers = PeerTables(
        dx3_vocab=np.asarray(dx3, dtype=object),
        dx4_vocab=np.asarray(dx4, dtype=object),
        min_group_size=min_group_size,
    )
    peers.facility_ids = np.asarray(sorted(str(v) for v in facility_ids), dtype=object)
    peers.diagnoses = raw
    return peers


def shell_of(p: Prepared, min_group_size: int) -> PeerTables:
    """:func:`peer_shell` of one prepared period (its own vocabularies)."""
    peers = PeerTables(
        dx3_vocab=np.asarray(p.dx3_vocab, dtype=object),
        dx4_vocab=np.asarray(p.dx4_vocab, dtype=object),
        min_group_size=min_group_size,
    )
    peers.facility_ids = np.asarray(p.fac_ids, dtype=object)
    peers.diagnoses = np.asarray(p.dx_raw_vocab, dtype=object)
    return peers


@dataclass
class PeerSums:
    """Mergeable parts of a peer fit: sums and counts that add up over partitions of the
    claims by card (every card's claims in one partition).

    ``stats``: stat, key (finest group), n, s. ``demography``: key, count.
    ``volume``: facility_id, tier, claims, cards, cost (distinct cards add up because a
    card is in one partition only).
    """

    stats: pd.DataFrame
    demography: pd.DataFrame
    volume: pd.DataFrame


def peer_sums(p: Prepared, shell: PeerTables, settings: FeatureSettings) -> PeerSums:
    """The :class:`PeerSums` of one partition (``shell``: the whole data's vocabularies)."""
    parts = []
    values = claim_stat_values(p, settings.near_zero_treatment_vnd)
    comp = _components(p, shell, "claim")
    for family in ("claim", "admission"):
        groups = _Groups(comp, family, shell)
        for name, v in values.items():
            if CLAIM_STATS[name] == family:
                n, s = groups.sums(v)
                parts.append(pd.DataFrame({"stat": name, "key": groups.uniq, "n": n, "s": s}))
    del values, comp
    cgroups = _Groups(_components(p, shell, "card"), "card", shell)
    for name, v in card_stat_values(p).items():
        n, s = cgroups.sums(v)
        parts.append(pd.DataFrame({"stat": f"card_{name}", "key": cgroups.uniq, "n": n, "s": s}))
    stats = pd.concat(parts, ignore_index=True)
    stats["stat"] = stats["stat"].astype(object)
    volume = pd.DataFrame(
        {
            "facility_id": np.asarray(p.fac_ids, dtype=object),
            "tier": p.fac_tier.astype(np.int64),
            "claims": windows.group_count(p.fac, p.n_facilities).astype(np.float64),
            "cards": windows.distinct_per_group(p.fac, p.card, p.n_facilities).astype(np.float64),
            "cost": windows.group_sum(p.cost, p.fac, p.n_facilities).astype(np.float64),
        }
    )
    return PeerSums(stats, fit_demography(p, shell.dx3_vocab), volume)


def peers_from_sums(
    shell: PeerTables, sums: PeerSums, period_days: int, min_group_size: int
) -> PeerTables:
    """Fitted peer tables from merged :class:`PeerSums` (rows of one key may repeat)."""
    peers = dataclasses.replace(shell, stats={}, min_group_size=min_group_size)
    demo = sums.demography.groupby("key", sort=True)["count"].sum()
    peers.dx_demography = pd.DataFrame(
        {"key": demo.index.to_numpy(dtype=np.int64), "count": demo.to_numpy(dtype=np.int64)}
    )
    families = {**CLAIM_STATS, **{f"card_{k}": v for k, v in CARD_STATS.items()}}
    for name in pd.unique(sums.stats["stat"]):  # in order of first appearance
        rows = sums.stats[sums.stats["stat"] == name]
        groups = _Groups.from_keys(
            np.unique(rows["key"].to_numpy(dtype=np.int64)), families[name], shell
        )
        at = np.searchsorted(groups.uniq, rows["key"].to_numpy(dtype=np.int64))
        n = np.bincount(
            at, weights=rows["n"].to_numpy(dtype=np.float64), minlength=len(groups.uniq)
        )
        s = np.bincount(
            at, weights=rows["s"].to_numpy(dtype=np.float64), minlength=len(groups.uniq)
        )
        peers.stats[name] = groups.fit_sums(n, s)
    days = float(max(period_days, 1))
    v = sums.volume.groupby("facility_id", sort=True).agg(
        tier=("tier", "first"),
        claims=("claims", "sum"),
        cards=("cards", "sum"),
        cost=("cost", "sum"),
    )
    vol = pd.DataFrame(
        {
            "claims_per_day": v["claims"].to_numpy(dtype=np.float64) / days,
            "cards_per_day": v["cards"].to_numpy(dtype=np.float64) / days,
            "cost_per_day": v["cost"].to_numpy(dtype=np.float64) / days,
            "tier": v["tier"].to_numpy(dtype=np.int8),
        }
    )
    peers.tier_stats = tier_medians(vol, min_group_size)
    return peers


def tier_medians(vol: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """Median facility volume per tier (the overall median for a tier with few facilities)."""
    overall = vol[list(TIER_STATS)].median()
    by_tier = vol.groupby("tier")[list(TIER_STATS)].median()
    size = vol.groupby("tier").size()
    rows = []
    for t in range(UNKNOWN_TIER + 1):
        use_tier = t in by_tier.index and size.get(t, 0) >= min(3, min_size)
        rows.append(by_tier.loc[t] if use_tier else overall)
    return pd.DataFrame(rows, index=pd.RangeIndex(UNKNOWN_TIER + 1, name="tier"))


def fit_from_prepared(p: Prepared, settings: FeatureSettings) -> PeerTables:
    """Fit every expectation the data allows (see :func:`fit_peers`): the partial sums of
    one partition holding all claims, merged (the Spark engine merges many)."""
    shell = shell_of(p, settings.min_peer_group_size)
    return peers_from_sums(
        shell, peer_sums(p, shell, settings), p.period_days, settings.min_peer_group_size
    )


def fit_peers(
    claims: pd.DataFrame,
    claim_lines: pd.DataFrame | None = None,
    cards: pd.DataFrame | None = None,
    facilities: pd.DataFrame | None = None,
    *,
    settings: FeatureSettings,
) -> PeerTables:
    """Fit peer expectations on TRAINING data (store the result in the model bundle)."""
    return fit_from_prepared(prepare(claims, claim_lines, cards, facilities), settings)


# ----------------------------------------------------------------------------- lookup


def expected_claims(peers: PeerTables, p: Prepared) -> dict[str, np.ndarray]:
    """Peer-expected value of every fitted claim stat, for each (sorted) claim."""
    if p.n == 0:
        return {s: np.zeros(0) for s in CLAIM_STATS if s in peers.stats}
    comp = _components(p, peers, "claim")
    out: dict[str, np.ndarray] = {}
    for family in ("claim", "admission"):
        stats = [s for s, f in CLAIM_STATS.items() if f == family and s in peers.stats]
        if stats:
            groups = _Groups(comp, family, peers)
            for s in stats:  # float32: a dozen of these per claim add up on 10M claims
                out[s] = groups.lookup(peers.stats[s], peers.min_group_size).astype(np.float32)
    return out


def expected_card(peers: PeerTables, p: Prepared, stat: str) -> np.ndarray:
    """Expected value of a card stat ('visits') for each card."""
    if p.n == 0:
        return np.zeros(0)
    groups = _Groups(_components(p, peers, "card"), "card", peers)
    return groups.lookup(peers.stats[f"card_{stat}"], peers.min_group_size)


def expected_tier(peers: PeerTables, p: Prepared, stat: str) -> np.ndarray:
    """Median ``stat`` of facilities of the same tier, for each facility."""
    return peers.tier_stats[stat].to_numpy(dtype=np.float64)[p.fac_tier]
