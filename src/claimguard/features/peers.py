"""Peer context: what a claim, card or facility is *expected* to look like, given its kind.

Why: dialysis three times a week, chemotherapy and central hospitals are heavy but
normal. Each expectation is a mean over training claims that share the drivers of
legitimate cost and frequency: diagnosis (3-character ICD-10 category, falling back to
the ICD-10 letter), facility tier, visit type and age band. A group smaller than
``min_peer_group_size`` falls back to the next, coarser level, down to everyone.
The fitted tables are small, picklable, and stored in the model bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from claimguard.features import clinical, items, windows
from claimguard.features.prepare import (
    INPATIENT,
    UNKNOWN_AGE_BAND,
    UNKNOWN_TIER,
    Prepared,
    prepare,
)
from claimguard.settings import FeatureSettings

# Components of a peer key and their radix (dx3 radix depends on the vocabulary).
_RADIX = {"chap": 27, "tier": UNKNOWN_TIER + 1, "vt": 4, "age": UNKNOWN_AGE_BAND + 1}

LEVELS: dict[str, tuple[tuple[str, ...], ...]] = {
    # claim stats that depend on the visit type (cost, services per visit, sick leave)
    "claim": (
        ("dx3", "tier", "vt", "age"),
        ("dx3", "tier", "vt"),
        ("dx3", "vt"),
        ("chap", "tier", "vt"),
        ("chap", "vt"),
        ("tier", "vt"),
        ("vt",),
        (),
    ),
    # claim stats about the visit type itself (admission) or inpatient only (stay length)
    "admission": (
        ("dx3", "tier", "age"),
        ("dx3", "tier"),
        ("dx3",),
        ("chap", "tier"),
        ("chap",),
        ("tier",),
        (),
    ),
    # card stats, keyed on the card's main diagnosis and age band
    "card": (("dx3", "age"), ("dx3",), ("chap", "age"), ("chap",), ("age",), ()),
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
}
CARD_STATS: dict[str, str] = {"visits": "card", "cost_per_visit": "card"}
TIER_STATS = ("claims_per_day", "cards_per_day", "cost_per_day")


@dataclass
class PeerTables:
    """Fitted expectations. ``stats[name]`` has columns level, key, n, mean."""

    dx3_vocab: np.ndarray
    min_group_size: int
    stats: dict[str, pd.DataFrame] = field(default_factory=dict)
    tier_stats: pd.DataFrame = field(default_factory=pd.DataFrame)

    def has(self, stat: str) -> bool:
        return stat in self.stats and len(self.stats[stat]) > 0


# ----------------------------------------------------------------------------- keys


def _components(p: Prepared, dx3_vocab: np.ndarray, per: str) -> dict[str, np.ndarray]:
    """Integer peer-key components of each claim (per='claim') or card (per='card')."""
    vocab_index = pd.Index(dx3_vocab)
    local_to_peer = vocab_index.get_indexer(p.dx3_vocab)
    local_to_peer = np.where(local_to_peer >= 0, local_to_peer, len(dx3_vocab))
    chap_local = clinical.chapter_of(p.dx3_vocab)
    if per == "claim":
        return {
            "dx3": local_to_peer[p.dx3],
            "chap": chap_local[p.dx3],
            "tier": p.tier,
            "vt": np.where(p.vt >= 0, p.vt, 3),
            "age": p.age_band,
        }
    main = np.maximum(windows.group_mode(p.card, p.dx3, p.n_cards), 0)
    first = p.card_start[:-1]
    return {
        "dx3": local_to_peer[main],
        "chap": chap_local[main],
        "age": p.age_band[first] if p.n else np.zeros(0, np.int8),
    }


def _key(comp: dict[str, np.ndarray], level: tuple[str, ...], n_dx3: int) -> np.ndarray:
    n = len(next(iter(comp.values())))
    key = np.zeros(n, dtype=np.int64)
    for name in level:
        radix = n_dx3 + 1 if name == "dx3" else _RADIX[name]
        key = key * radix + comp[name].astype(np.int64)
    return key


# ----------------------------------------------------------------------------- fit


def _fit_stat(
    comp: dict[str, np.ndarray],
    values: np.ndarray,
    levels: tuple[tuple[str, ...], ...],
    n_dx3: int,
    min_size: int,
) -> pd.DataFrame:
    frames = []
    ok = np.isfinite(values)
    for li, level in enumerate(levels):
        key = _key({k: v[ok] for k, v in comp.items()}, level, n_dx3)
        uniq, inv, n = np.unique(key, return_inverse=True, return_counts=True)
        total = np.bincount(inv.reshape(-1), weights=values[ok], minlength=len(uniq))
        keep = n >= min_size if level else np.ones(len(uniq), dtype=bool)
        frames.append(
            pd.DataFrame(
                {"level": li, "key": uniq[keep], "n": n[keep], "mean": total[keep] / n[keep]}
            )
        )
    return pd.concat(frames, ignore_index=True)


def claim_stat_values(p: Prepared) -> dict[str, np.ndarray]:
    """Per-claim values whose peer means are fitted (NaN = not applicable / unknown)."""
    out: dict[str, np.ndarray] = {"cost": p.cost}
    inpatient = p.vt == INPATIENT
    if p.has("claims.visit_type"):
        out["inpatient"] = inpatient.astype(np.float64)
    if p.has("claims.discharge_time"):
        stay = (p.end_s - p.admit_s) / 86_400.0
        out["stay_days"] = np.where(inpatient, stay, np.nan)
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
    visits = windows.group_count(p.card, p.n_cards)
    cost = windows.group_sum(p.cost, p.card, p.n_cards)
    return {"visits": visits, "cost_per_visit": cost / np.maximum(visits, 1)}


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


def fit_from_prepared(p: Prepared, settings: FeatureSettings) -> PeerTables:
    """Fit every expectation the data allows (see :func:`fit_peers`)."""
    vocab = np.asarray(p.dx3_vocab, dtype=object)
    min_size = settings.min_peer_group_size
    peers = PeerTables(dx3_vocab=vocab, min_group_size=min_size)
    comp = _components(p, vocab, "claim")
    for name, values in claim_stat_values(p).items():
        peers.stats[name] = _fit_stat(comp, values, LEVELS[CLAIM_STATS[name]], len(vocab), min_size)
    ccomp = _components(p, vocab, "card")
    for name, values in card_stat_values(p).items():
        peers.stats[f"card_{name}"] = _fit_stat(
            ccomp, values, LEVELS[CARD_STATS[name]], len(vocab), min_size
        )
    vol = pd.DataFrame(facility_volume(p))
    vol["tier"] = p.fac_tier
    overall = vol[list(TIER_STATS)].median()
    by_tier = vol.groupby("tier")[list(TIER_STATS)].median()
    size = vol.groupby("tier").size()
    rows = []
    for t in range(UNKNOWN_TIER + 1):
        use_tier = t in by_tier.index and size.get(t, 0) >= min(5, min_size)
        rows.append(by_tier.loc[t] if use_tier else overall)
    peers.tier_stats = pd.DataFrame(rows, index=pd.RangeIndex(UNKNOWN_TIER + 1, name="tier"))
    return peers


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


def _lookup(
    table: pd.DataFrame, comp: dict[str, np.ndarray], family: str, n_dx3: int
) -> np.ndarray:
    n = len(next(iter(comp.values())))
    out = np.full(n, np.nan, dtype=np.float64)
    for li, level in enumerate(LEVELS[family]):
        missing = np.flatnonzero(np.isnan(out))
        if len(missing) == 0:
            break
        t = table[table["level"] == li]
        if t.empty:
            continue
        keys = t["key"].to_numpy(dtype=np.int64)
        means = t["mean"].to_numpy(dtype=np.float64)
        k = _key({c: v[missing] for c, v in comp.items()}, level, n_dx3)
        pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        found = keys[pos] == k
        out[missing[found]] = means[pos[found]]
    return out


def expected_claim(peers: PeerTables, p: Prepared, stat: str) -> np.ndarray:
    """Expected value of ``stat`` for each (sorted) claim given its peers."""
    comp = _components(p, peers.dx3_vocab, "claim")
    return _lookup(peers.stats[stat], comp, CLAIM_STATS[stat], len(peers.dx3_vocab))


def expected_card(peers: PeerTables, p: Prepared, stat: str) -> np.ndarray:
    """Expected value of a card stat ('visits', 'cost_per_visit') for each card."""
    comp = _components(p, peers.dx3_vocab, "card")
    return _lookup(peers.stats[f"card_{stat}"], comp, "card", len(peers.dx3_vocab))


def expected_tier(peers: PeerTables, p: Prepared, stat: str) -> np.ndarray:
    """Median ``stat`` of facilities of the same tier, for each facility."""
    return peers.tier_stats[stat].to_numpy(dtype=np.float64)[p.fac_tier]
