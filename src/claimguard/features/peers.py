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

from claimguard.features import claim_stats, clinical, windows
from claimguard.features.claim_stats import card_stat_values, demography_key, fit_demography
from claimguard.features.encode import UNKNOWN_AGE_BAND
from claimguard.features.peer_groups import Groups, components
from claimguard.features.prepare import (
    UNKNOWN_TIER,
    Prepared,
    prepare,
)
from claimguard.settings import FeatureSettings

# per-claim statistics, also read from here by the monthly features
claim_stat_values = claim_stats.claim_stat_values
doctor_days = claim_stats.doctor_days

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


# ----------------------------------------------------------------------------- fit


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
    group, dx = demography_key(p, peers.dx3_vocab)
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
    comp = components(p, shell, "claim")
    for family in ("claim", "admission"):
        groups = Groups(comp, family, shell)
        for name, v in values.items():
            if CLAIM_STATS[name] == family:
                n, s = groups.sums(v)
                parts.append(pd.DataFrame({"stat": name, "key": groups.uniq, "n": n, "s": s}))
    del values, comp
    cgroups = Groups(components(p, shell, "card"), "card", shell)
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
        groups = Groups.from_keys(
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
    comp = components(p, peers, "claim")
    out: dict[str, np.ndarray] = {}
    for family in ("claim", "admission"):
        stats = [s for s, f in CLAIM_STATS.items() if f == family and s in peers.stats]
        if stats:
            groups = Groups(comp, family, peers)
            for s in stats:  # float32: a dozen of these per claim add up on 10M claims
                out[s] = groups.lookup(peers.stats[s], peers.min_group_size).astype(np.float32)
    return out


def expected_card(peers: PeerTables, p: Prepared, stat: str) -> np.ndarray:
    """Expected value of a card stat ('visits') for each card."""
    if p.n == 0:
        return np.zeros(0)
    groups = Groups(components(p, peers, "card"), "card", peers)
    return groups.lookup(peers.stats[f"card_{stat}"], peers.min_group_size)


def expected_tier(peers: PeerTables, p: Prepared, stat: str) -> np.ndarray:
    """Median ``stat`` of facilities of the same tier, for each facility."""
    return np.asarray(peers.tier_stats[stat].to_numpy(dtype=np.float64)[p.fac_tier])
