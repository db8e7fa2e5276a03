"""Peer groups: the fitted peer tables, the chains of peer levels, and claims (or cards)
grouped by their finest peer key.

Why: every level of a family is a function of its finest level, so claims are grouped
once and all coarser levels, fits and lookups work on the small table of distinct
groups; :mod:`claimguard.features.peers` fits and applies expectations with these.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from claimguard.features import clinical, windows
from claimguard.features.encode import UNKNOWN_AGE_BAND
from claimguard.features.prepare import UNKNOWN_TIER, Prepared

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


class Vocabularies(Protocol):
    """The training diagnosis vocabularies peer keys are coded against (PeerTables has them)."""

    @property
    def dx3_vocab(self) -> np.ndarray: ...

    @property
    def dx4_vocab(self) -> np.ndarray: ...


# ----------------------------------------------------------------------------- keys
#
# Every level of a family is a function of its finest level (dx3 and the ICD letter are
# functions of dx4), so claims are grouped ONCE by the finest key and all coarser levels,
# fits and lookups work on the (small) table of distinct finest groups.

_FINEST = {family: levels[0] for family, levels in LEVELS.items()}
_DENSE_LIMIT = 1 << 24  # finest key spaces up to this size are grouped with bincount


def _dx_maps(peers: Vocabularies) -> tuple[np.ndarray, np.ndarray]:
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


def _radix(peers: Vocabularies) -> dict[str, int]:
    n4, n3 = len(peers.dx4_vocab), len(peers.dx3_vocab)
    return {**_RADIX, "dx3": n3 + 1, "dx4": n4 + 1 + n3}


def components(p: Prepared, peers: Vocabularies, per: str) -> dict[str, np.ndarray]:
    """Finest peer-key components of each claim (per='claim') or card (per='card')."""
    n4 = len(peers.dx4_vocab)
    d4 = pd.Index(peers.dx4_vocab).get_indexer(p.dx4_vocab)
    d3 = pd.Index(peers.dx3_vocab).get_indexer([str(v)[:3] for v in p.dx4_vocab])
    ext = np.where(d4 >= 0, d4, np.where(d3 >= 0, n4 + 1 + d3, n4)).astype(np.int64)
    if per == "claim":
        return {
            "dx4": ext[p.dx4],
            "tier": p.tier,
            "vt": np.where(p.visit_type >= 0, p.visit_type, 3),
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


class Groups:
    """Rows grouped by the finest key of a family, with the groups' level keys."""

    def __init__(self, comp: dict[str, np.ndarray], family: str, peers: Vocabularies) -> None:
        self.radix = _radix(peers)
        finest = _FINEST[family]
        space = int(np.prod([self.radix[c] for c in finest], dtype=np.float64))
        self.uniq, self.inv = _group(_key(comp, finest, self.radix), space)
        g = _decode(self.uniq, finest, self.radix)
        d3, chap = _dx_maps(peers)
        g["dx3"], g["chap"] = d3[g["dx4"]], chap[g["dx4"]]
        self.level_keys = [_key(g, level, self.radix) for level in LEVELS[family]]

    @classmethod
    def from_keys(cls, keys: np.ndarray, family: str, peers: Vocabularies) -> Groups:
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
        return np.asarray(est[self.inv])
