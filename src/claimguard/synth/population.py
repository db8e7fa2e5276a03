"""The insured population and the facility network, as compact NumPy arrays.

Facilities: every province has one or two provincial hospitals, district
hospitals, commune health stations and private clinics in proportion to its
population; central hospitals sit in Hanoi, Ho Chi Minh City and Hue. Counts
grow with the number of claims per month so that facilities keep realistic
monthly volumes. Cards: ages from Vietnam's population pyramid, beneficiary
group by age (children under 6 ``TE``, pupils ``HS``, employees ``DN``, ...),
registration at a primary-care facility of the home province, validity
periods, deaths. Days are integers counted from the first generated day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from claimguard.synth import catalog as cat

NO_DAY = 1_000_000  # "never" for death days and open validity


@dataclass
class Facilities:
    """Facility arrays indexed 0..n-1 (ids are built from province and number)."""

    prov: np.ndarray  # province index
    tier: np.ndarray  # catalog tier index
    kind: np.ndarray  # 0 hospital, 1 clinic, 2 health_station
    beds: np.ndarray
    weight: np.ndarray  # attractiveness within its tier and province
    number: np.ndarray  # 3-digit number within province
    doctors: np.ndarray | None = None  # filled once volumes are known
    doctor_offset: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.prov)


@dataclass
class Cards:
    """Card arrays indexed 0..n-1."""

    prov: np.ndarray
    birth: np.ndarray  # birth day (days from start, negative)
    sex: np.ndarray  # 0 M, 1 F
    group: np.ndarray  # index into catalog.GROUPS
    reg_fac: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    death: np.ndarray  # day of death or NO_DAY
    sin: np.ndarray  # 10-digit social-insurance number
    chronic: np.ndarray  # bool (n, n_chronic)
    managed: np.ndarray  # bool: chronic conditions managed by monthly refills
    _age: np.ndarray | None = None
    _band: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.prov)

    def age_years(self) -> np.ndarray:
        """Age in years on the first day (computed once)."""
        if self._age is None:
            self._age = -self.birth / 365.25
        return self._age

    def band(self) -> np.ndarray:
        """Age band index on the first day (computed once)."""
        if self._band is None:
            self._band = (
                np.searchsorted(cat.AGE_BANDS, self.age_years(), side="right") - 1
            ).astype(np.int8)
        return self._band


class Picker:
    """Weighted random choice of a facility within (province, tier) groups, vectorised.

    Facilities are ordered by group; per group we know where its cumulative
    weight starts and its total, so one ``searchsorted`` picks for many rows.
    """

    def __init__(self, fac: Facilities, tiers: tuple[int, ...] | None = None) -> None:
        ok = np.ones(fac.n, bool) if tiers is None else np.isin(fac.tier, tiers)
        key = fac.prov.astype(np.int64) * 5 + fac.tier
        order = np.argsort(np.where(ok, key, 1 << 40), kind="stable")[: ok.sum()]
        self.order = order
        w = fac.weight[order]
        self.cum = np.cumsum(w)
        k = key[order]
        n_groups = len(cat.PROVINCES) * 5
        start = np.searchsorted(k, np.arange(n_groups), side="left")
        stop = np.searchsorted(k, np.arange(n_groups), side="right")
        before = np.concatenate([[0.0], self.cum])
        self.g_start = before[start]
        self.g_total = before[stop] - before[start]

    def has(self, prov: np.ndarray, tier: np.ndarray | int) -> np.ndarray:
        return np.asarray(self.g_total[prov.astype(np.int64) * 5 + tier] > 0)

    def pick(
        self, rng: np.random.Generator, prov: np.ndarray, tier: np.ndarray | int
    ) -> np.ndarray:
        """A facility index per row; -1 where the group is empty."""
        g = prov.astype(np.int64) * 5 + tier
        target = self.g_start[g] + rng.random(len(g)) * self.g_total[g]
        pos = np.minimum(np.searchsorted(self.cum, target, side="right"), len(self.cum) - 1)
        return np.where(self.g_total[g] > 0, self.order[pos], -1).astype(np.int32)


def make_facilities(rng: np.random.Generator, claims_per_month: float) -> Facilities:
    """Facility network sized so each tier keeps a realistic monthly volume."""
    c = claims_per_month
    pw = cat.PROVINCE_POP / cat.PROVINCE_POP.sum()
    n_prov = len(pw)
    per_tier = {
        cat.PROVINCIAL: np.maximum(1, np.round(pw * max(63, c * 0.22 / 3_000))),
        cat.DISTRICT: np.maximum(1, np.round(pw * max(95, c * 0.38 / 1_600))),
        cat.COMMUNE: np.maximum(2, np.round(pw * max(190, c * 0.2 / 160))),
        cat.PRIVATE: np.maximum(1, np.round(pw * max(63, c * 0.12 / 450))),
    }
    prov_list, tier_list = [], []
    for t, counts in per_tier.items():
        cnt = counts.astype(np.int64)
        prov_list.append(np.repeat(np.arange(n_prov), cnt))
        tier_list.append(np.full(cnt.sum(), t))
    n_central = int(np.clip(round(c / 40_000), 3, 30))
    central_prov = np.array(
        [np.flatnonzero(cat.PROVINCE_CODES == p)[0] for p in cat.CENTRAL_PROVINCES]
    )
    prov_list.insert(
        0,
        central_prov[
            np.arange(n_central) % 3
            if n_central < 6
            else rng.choice(3, n_central, p=[0.5, 0.35, 0.15])
        ],
    )
    tier_list.insert(0, np.full(n_central, cat.CENTRAL))
    prov = np.concatenate(prov_list).astype(np.int16)
    tier = np.concatenate(tier_list).astype(np.int8)
    order = np.lexsort((tier, prov))
    prov, tier = prov[order], tier[order]
    n = len(prov)
    # number within province, starting at 001
    first = np.searchsorted(prov, prov, side="left")
    number = (np.arange(n) - first + 1).astype(np.int32)
    private_hospital = (tier == cat.PRIVATE) & (rng.random(n) < 0.3)
    kind = np.select([tier == cat.COMMUNE, (tier == cat.PRIVATE) & ~private_hospital], [2, 1], 0)
    bed_lo = np.array([600, 300, 80, 3, 0])[tier]
    bed_hi = np.array([2500, 1200, 320, 10, 1])[tier]
    beds = np.floor(bed_lo + rng.random(n) * (bed_hi - bed_lo))
    beds = np.where(private_hospital, np.floor(30 + rng.random(n) * 170), beds)
    weight = rng.lognormal(0.0, 0.45, n) * np.where(private_hospital, 2.0, 1.0)
    return Facilities(prov, tier, kind.astype(np.int8), beds, weight, number)


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ages in years from a pyramid like Vietnam's 2023 census estimate."""
    edges = np.array([0, 6, 18, 30, 40, 50, 60, 70, 80, 95])
    share = np.array([0.085, 0.175, 0.16, 0.165, 0.15, 0.12, 0.085, 0.04, 0.02])
    band = rng.choice(len(share), n, p=share / share.sum())
    return np.asarray(edges[band] + rng.random(n) * (edges[band + 1] - edges[band]))


def _groups(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Beneficiary group by age: one searchsorted over per-age cumulative weights."""
    lo = np.array([g[2] for g in cat.GROUPS])
    hi = np.array([g[3] for g in cat.GROUPS])
    w = np.array([g[4] for g in cat.GROUPS])
    ages = np.arange(121)
    p = np.where((lo <= ages[:, None]) & (ages[:, None] <= hi), w, 0.0)
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + ages[:, None]).ravel()  # row a holds a + cumulative share: increasing overall
    ai = np.minimum(age.astype(np.int64), 120)
    pos = np.searchsorted(flat, ai + rng.random(len(age)), side="right")
    return np.asarray(np.minimum(pos - ai * len(w), len(w) - 1).astype(np.int8))


def make_cards(rng: np.random.Generator, n: int, fac: Facilities, n_days: int, seed: int) -> Cards:
    """The insured population: ``n`` cards registered at primary-care facilities."""
    pw = cat.PROVINCE_POP / cat.PROVINCE_POP.sum()
    prov = rng.choice(len(pw), n, p=pw).astype(np.int16)
    age = _ages(rng, n)
    birth = -np.ceil(age * 365.25).astype(np.int32) - 1
    age = -birth / 365.25  # exact age at the first day, consistent with the birth date
    sex = (rng.random(n) < 0.505 + 0.1 * (age > 65)).astype(np.int8)
    group = _groups(rng, age)
    # registration: commune station, district hospital, private clinic or provincial hospital
    reg_tier = rng.choice(
        [cat.COMMUNE, cat.DISTRICT, cat.PRIVATE, cat.PROVINCIAL], n, p=[0.45, 0.42, 0.06, 0.07]
    )
    reg_fac = Picker(fac).pick(rng, prov, reg_tier)
    missing = reg_fac < 0
    reg_fac[missing] = Picker(fac).pick(rng, prov[missing], cat.DISTRICT)
    # validity: mostly covering the period; some lapse inside it, some start inside it
    u = rng.random(n)
    valid_from = -rng.integers(1, 330, n).astype(np.int32)
    valid_to = (n_days + rng.integers(1, 365, n)).astype(np.int32)
    lapse = u < 0.025
    valid_to[lapse] = rng.integers(0, n_days, lapse.sum())
    new = (u > 0.99) & (age > 1)
    valid_from[new] = rng.integers(1, n_days, new.sum())
    valid_to[new] = valid_from[new] + 364
    # deaths: monthly hazard by age, some before the period (card still in the registry)
    hazard = np.where(age > 80, 0.006, np.where(age > 65, 0.002, np.where(age > 40, 3e-4, 5e-5)))
    months = n_days / 30.4
    d = rng.random(n)
    death = np.full(n, NO_DAY, np.int32)
    during = d < hazard * months
    before = (d >= hazard * months) & (d < hazard * (months + 6))
    death[during] = rng.integers(0, n_days, during.sum())
    death[before] = -rng.integers(1, 180, before.sum())
    # 10-digit social-insurance numbers: a fixed affine permutation, unique and scattered
    base = np.int64(rng.integers(0, 10**9))
    sin = (np.arange(n, dtype=np.int64) * np.int64(7_919_123_457) + base + seed) % np.int64(10**10)
    band = np.searchsorted(cat.AGE_BANDS, age, side="right") - 1
    chronic = np.empty((n, len(cat.CHRONIC)), bool)
    for j in range(len(cat.CHRONIC)):  # ten conditions, one column at a time (memory)
        chronic[:, j] = rng.random(n) < cat.CHRONIC_PREV[j][band]
    managed = chronic.any(axis=1) & (rng.random(n) < 0.45)
    return Cards(
        prov, birth, sex, group, reg_fac, valid_from, valid_to, death, sin, chronic, managed
    )
