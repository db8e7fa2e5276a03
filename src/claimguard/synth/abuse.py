"""Planted abuse, each scenario in a strong and a subtle variant.

Abuse is planted the way it happens, not as a marker: a borrowed card shows
care that does not fit its holder; a hoarder refills faster than the drugs can
be taken; a sick-leave mill bills near-empty visits with certificates; phantom
visits use the facility's own registered cards once each; an overloaded doctor
"examines" far more patients a day than a person can. Subtle variants are
small departures that a peer comparison can still find; strong ones are blunt.

Card scenarios are chosen (and the card registry changed: death, expiry)
before normal care is generated, so normal care respects them; facility
scenarios are chosen once normal volumes are known.

``strength`` (``Population.abuse_strength``) scales how blunt the planted abuse is:
counts of extra claims, cost multipliers, admission shares. At 1.0 every helper
returns its input unchanged, so the default output is exactly the historical one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from claimguard.synth import catalog as cat
from claimguard.synth.blocks import INP, SC, Block, any_minutes, block, concat, outpatient_minutes
from claimguard.synth.calendar import Calendar
from claimguard.synth.care import acute_conditions, working
from claimguard.synth.population import NO_DAY, Cards, Facilities, Picker

_MILD = cat.condition_array("p_inpatient") < 0.15
_SICK_DX = np.array([cat.DX_INDEX[c] for c in ("M54.5", "J06.9", "R51", "A09", "K29.7")])
_THIN_DX = np.array(
    [cat.DX_INDEX[c] for c in ("J06.9", "M54.5", "K29.7", "R51", "A09", "I10", "L23.9")]
)
_SEVERE_DX = np.array([cat.DX_INDEX[c] for c in ("J18.9", "I63.9", "K80.2", "N39.0", "A90")])


@dataclass
class Plan:
    """Chosen entities per scenario: indices and strong(True)/subtle(False) flags."""

    cards: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    facilities: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _more(x: Any, s: float, lo: int = 1) -> Any:
    """A count scaled by the abuse strength (at least ``lo``); unchanged at 1.0."""
    if s == 1.0:
        return x
    return np.maximum(lo, np.round(np.asarray(x, dtype=np.float64) * s)).astype(np.int64)


def _mult(x: Any, s: float) -> Any:
    """A multiplier whose departure from 1 is scaled by the abuse strength."""
    if s == 1.0:
        return x
    return 1.0 + (np.asarray(x, dtype=np.float64) - 1.0) * s


def _scale(x: float, s: float) -> float:
    """A rate scaled by the abuse strength; unchanged at 1.0."""
    return x if s == 1.0 else x * s


def _share(p: float, s: float) -> float:
    """A share scaled by the abuse strength, capped at 1."""
    return p if s == 1.0 else min(1.0, p * s)


def _strong(k: int) -> np.ndarray:
    s = np.zeros(k, bool)
    s[: (k + 1) // 2] = True
    return s


def _choose(rng: np.random.Generator, mask: np.ndarray, k: int, used: np.ndarray) -> np.ndarray:
    pool = np.flatnonzero(mask & ~used)
    out = rng.choice(pool, min(k, len(pool)), replace=False) if len(pool) else pool
    used[out] = True
    return np.sort(out)


def choose_cards(
    rng: np.random.Generator, cards: Cards, cal: Calendar, k: int, used: np.ndarray
) -> Plan:
    """Pick abusive cards per scenario and change the registry where the scenario needs it."""
    age = cards.age_years()
    ok = (cards.death == NO_DAY) & (cards.valid_from <= 0) & (cards.valid_to >= cal.n_days)
    plan = Plan()
    male = cards.sex == 0
    k2 = (k + 1) // 2
    # borrowed: strong holders are men, older women or children; subtle are young adults/teens
    strong_pool = ok & (
        (male & (age >= 20) & (age < 80)) | (~male & (age >= 58)) | ((age >= 3) & (age < 11))
    )
    subtle_pool = ok & (((age >= 18) & (age < 32)) | ((age >= 8) & (age < 16)))
    s = _choose(rng, strong_pool, k2, used)
    t = _choose(rng, subtle_pool, k - k2, used)
    plan.cards["borrowed_card"] = (
        np.concatenate([s, t]),
        np.r_[np.ones(len(s), bool), np.zeros(len(t), bool)],
    )
    chronic = ok & cards.managed & (age >= 40) & (age < 80)
    plan.cards["medicine_hoarding"] = _with_variants(_choose(rng, chronic, k, used))
    plan.cards["overlapping_care"] = _with_variants(
        _choose(rng, ok & (age >= 20) & (age < 85), k, used)
    )
    dead = _with_variants(_choose(rng, ok & (age >= 60) & cards.managed, k, used))
    idx, strong = dead
    cards.death[idx] = np.where(
        strong, -rng.integers(30, 150, len(idx)), rng.integers(0, max(1, cal.n_days // 2), len(idx))
    )
    plan.cards["post_death"] = dead
    inel = _with_variants(_choose(rng, ok & (age >= 18) & (age < 70), k, used))
    idx, strong = inel
    cards.valid_to[idx] = np.where(
        strong, -rng.integers(20, 150, len(idx)), rng.integers(0, max(1, cal.n_days - 8), len(idx))
    )
    cards.valid_from[idx] = np.minimum(cards.valid_from[idx], cards.valid_to[idx] - 364)
    plan.cards["ineligible"] = inel
    plan.cards["split_billing"] = _with_variants(_choose(rng, ok & (age >= 2), k, used))
    return plan


def _with_variants(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return idx, _strong(len(idx))


def _seq(
    rng: np.random.Generator, counts: np.ndarray, first: np.ndarray, gap_lo: int, gap_hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-entity sequences: (entity position repeated, day) with random gaps."""
    counts = np.maximum(counts, 1)
    rep = np.repeat(np.arange(len(counts)), counts)
    csum = np.cumsum(rng.integers(gap_lo, gap_hi + 1, len(rep)))
    start = np.cumsum(counts) - counts
    within = csum - np.repeat(csum[start], counts) if len(rep) else csum
    return rep, first[rep] + within


@dataclass(frozen=True)
class _Plant:
    """What planting one card scenario needs (the arguments of :func:`card_claims`)."""

    rng: np.random.Generator
    plan: Plan
    cards: Cards
    cal: Calendar
    pick: Picker
    strength: float
    all_mismatch: bool


def _plant_borrowed_card(ctx: _Plant) -> list[Block]:
    """borrowed_card: someone else treated on the card (diagnoses that do not fit the holder,
    strong cases far from home)."""
    rng, plan, cards = ctx.rng, ctx.plan, ctx.cards
    cal, pick, strength = ctx.cal, ctx.pick, ctx.strength
    all_mismatch = ctx.all_mismatch
    nd = cal.n_days
    idx, strong = plan.cards["borrowed_card"]
    cnt = np.where(strong, rng.integers(3, 6, len(idx)), rng.integers(1, 3, len(idx)))
    rep = np.repeat(np.arange(len(idx)), _more(cnt, strength))
    c = idx[rep]
    st = strong[rep]
    age = cards.age_years()[c]
    male = cards.sex[c] == 0
    n = len(c)
    female_dx = np.array([cat.DX_INDEX[x] for x in ("Z34.9", "O80", "N76.0", "N92.0", "Z34.9")])
    adult_dx = np.array([cat.DX_INDEX[x] for x in ("I10", "E11.9", "M17.9", "J44.9", "I25.9")])
    soft_adult = np.array([cat.DX_INDEX[x] for x in ("I25.9", "M17.9", "J44.9", "I10")])
    soft_teen = np.array([cat.DX_INDEX[x] for x in ("I10", "E11.9", "K80.2", "M17.9")])
    pregnancy = np.array([cat.DX_INDEX[x] for x in ("Z34.9", "O80", "Z34.9", "O82")])
    hard = np.where(
        age < 12,
        adult_dx[rng.integers(0, 5, n)],
        np.where(male, female_dx[rng.integers(0, 5, n)], pregnancy[rng.integers(0, 4, n)]),
    )
    soft = np.where(age < 17, soft_teen[rng.integers(0, 4, n)], soft_adult[rng.integers(0, 4, n)])
    soft = np.where(~male & (age >= 25) & (rng.random(n) < 0.3), cat.DX_INDEX["N95.1"], soft)
    soft = np.where(male & (age >= 25) & (rng.random(n) < 0.3), cat.DX_INDEX["N40"], soft)
    first_of_card = np.r_[True, rep[1:] != rep[:-1]] if n else np.zeros(0, bool)
    mismatch = st & (first_of_card | (rng.random(n) < _share(0.7, strength)))
    borrower = acute_conditions(rng, np.full(n, 3), np.ones(n, np.int8))
    far = st & (rng.random(n) < _share(0.85, strength))
    if all_mismatch:  # pregnancy or childbirth on a man, prostate disease on a woman
        hard = np.where(male, pregnancy[rng.integers(0, 4, n)], cat.DX_INDEX["N40"])
        mismatch = st
        far = st
    dx = np.where(st, np.where(mismatch, hard, borrower), soft)
    prov = np.where(far, rng.integers(0, len(cat.PROVINCES), n), cards.prov[c])
    if all_mismatch:  # always another province than the holder's
        other = (cards.prov[c] + 1 + rng.integers(0, len(cat.PROVINCES) - 1, n)) % len(
            cat.PROVINCES
        )
        prov = np.where(st, other, prov)
    tier = np.where(
        rng.random(n) < 0.5,
        cat.DISTRICT,
        np.where(rng.random(n) < 0.5, cat.PRIVATE, cat.PROVINCIAL),
    )
    f = pick.pick(rng, prov.astype(np.int16), tier)
    f = np.where(f < 0, pick.pick(rng, cards.prov[c], cat.DISTRICT), f)
    inp = np.isin(dx, [cat.DX_INDEX["O80"], cat.DX_INDEX["O82"]])
    return [
        block(n, card=c, fac=f, day=rng.choice(nd, n, p=cal.weight), minute=np.where(inp, any_minutes(rng, n), outpatient_minutes(rng, n)),
              los=np.where(inp, np.where(dx == cat.DX_INDEX["O82"], rng.integers(4, 7, n), rng.integers(1, 4, n)), 0), vtype=np.where(inp, INP, 0), dx=dx, dur=rng.integers(10, 60, n),
              scen=SC["borrowed_card"], ent=c)
    ]  # fmt: skip


def _plant_medicine_hoarding(ctx: _Plant) -> list[Block]:
    """medicine_hoarding: refills far faster than the 30 days they cover, at several places."""
    rng, plan, cards = ctx.rng, ctx.plan, ctx.cards
    cal, pick, strength = ctx.cal, ctx.pick, ctx.strength
    nd = cal.n_days
    idx, strong = plan.cards["medicine_hoarding"]
    months = nd / 30.4
    cnt = np.where(
        strong,
        np.maximum(3, np.round(months * rng.integers(5, 9, len(idx)))),
        np.maximum(2, np.round(months * 1.5)),
    ).astype(np.int64)
    cnt = _more(cnt, strength)
    first = rng.integers(0, 6, len(idx)) + np.where(strong, 0, rng.integers(0, 8, len(idx)))
    rep_s, day_s = _seq(rng, cnt, first, 3, 6)
    rep_t, day_t = _seq(rng, cnt, first, 15, 21)
    rep = rep_s
    day = np.where(strong[rep_s], day_s, day_t)
    c = idx[rep]
    n = len(c)
    home = cards.prov[c]
    choice = rng.choice(
        [cat.DISTRICT, cat.PRIVATE, cat.PROVINCIAL, cat.COMMUNE], n, p=[0.4, 0.35, 0.15, 0.1]
    )
    f = pick.pick(rng, home, choice)
    # the subtle variant keeps one extra place for all its extra refills
    one = pick.pick(rng, cards.prov[idx], cat.PRIVATE)
    one = np.where(one < 0, pick.pick(rng, cards.prov[idx], cat.DISTRICT), one)
    f = np.where(strong[rep], f, one[rep])
    f = np.where(f < 0, cards.reg_fac[c], f)
    first_dx = cat.CHRONIC_DX[np.argmax(cards.chronic[c], axis=1)]
    keep = working(cal, day) < nd
    b = block(n, card=c, fac=f, day=working(cal, day), minute=outpatient_minutes(rng, n), dur=rng.integers(8, 30, n),
              dx=first_dx, refill=30, scen=SC["medicine_hoarding"], ent=c)  # fmt: skip
    return [b.take(np.flatnonzero(keep))]


def _plant_overlapping_care(ctx: _Plant) -> list[Block]:
    """overlapping_care: in care at two facilities at once."""
    rng, plan, cards = ctx.rng, ctx.plan, ctx.cards
    cal, pick, strength = ctx.cal, ctx.pick, ctx.strength
    nd = cal.n_days
    idx, strong = plan.cards["overlapping_care"]
    k = len(idx)
    a = rng.integers(0, max(1, nd - 10), k)
    los_a = _more(np.where(strong, rng.integers(5, 10, k), rng.integers(4, 8, k)), strength, lo=2)
    f1 = pick.pick(
        rng, cards.prov[idx], np.where(rng.random(k) < 0.5, cat.DISTRICT, cat.PROVINCIAL)
    )
    f2 = pick.pick(rng, cards.prov[idx], cat.PRIVATE)
    f2 = np.where((f2 < 0) | (f2 == f1), pick.pick(rng, cards.prov[idx], cat.DISTRICT), f2)
    f1 = np.where(f1 < 0, cards.reg_fac[idx], f1)
    dx_a = _SEVERE_DX[rng.integers(0, len(_SEVERE_DX), k)]
    stay_a = block(
        k,
        card=idx,
        fac=f1,
        day=a,
        minute=any_minutes(rng, k),
        los=los_a,
        vtype=INP,
        dx=dx_a,
        scen=SC["overlapping_care"],
        ent=idx,
    )
    mid = a + 1 + (rng.random(k) * np.maximum(los_a - 2, 1)).astype(np.int64)
    visit_b = block(k, card=idx, fac=f2, day=mid, minute=outpatient_minutes(rng, k), dur=rng.integers(15, 60, k),
                    dx=acute_conditions(rng, cards.band()[idx], cards.sex[idx]), scen=SC["overlapping_care"], ent=idx)  # fmt: skip
    s = np.flatnonzero(strong)
    stay_b = block(len(s), card=idx[s], fac=f2[s], day=a[s] + rng.integers(1, 3, len(s)), minute=any_minutes(rng, len(s)),
                   los=_more(rng.integers(3, 7, len(s)), strength), vtype=INP, dx=_SEVERE_DX[rng.integers(0, len(_SEVERE_DX), len(s))],
                   scen=SC["overlapping_care"], ent=idx[s])  # fmt: skip
    return [stay_a, visit_b, stay_b]


def _plant_post_death(ctx: _Plant) -> list[Block]:
    """post_death: refills and visits billed after the card holder died."""
    rng, plan, cards, cal, strength = ctx.rng, ctx.plan, ctx.cards, ctx.cal, ctx.strength
    nd = cal.n_days
    idx, strong = plan.cards["post_death"]
    death = cards.death[idx]
    cnt = _more(
        np.where(strong, np.maximum(2, np.round(nd / 30.4) + 1), 1).astype(np.int64), strength
    )
    first = np.where(
        strong, rng.integers(0, 10, len(idx)), death + 1 + rng.integers(2, 20, len(idx))
    )
    first = np.minimum(first, nd - 1)
    rep, day = _seq(rng, cnt, first, 25, 30)
    day = working(cal, day)
    c = idx[rep]
    n = len(c)
    pd_b = block(n, card=c, fac=cards.reg_fac[c], day=day, minute=outpatient_minutes(rng, n), dur=rng.integers(8, 30, n),
                 dx=cat.CHRONIC_DX[np.argmax(cards.chronic[c], axis=1)], refill=30, scen=SC["post_death"], ent=c)  # fmt: skip
    return [pd_b.take(np.flatnonzero((day < nd) & (day > cards.death[c])))]


def _plant_ineligible(ctx: _Plant) -> list[Block]:
    """ineligible: visits on an expired card."""
    rng, plan, cards = ctx.rng, ctx.plan, ctx.cards
    cal, pick, strength = ctx.cal, ctx.pick, ctx.strength
    nd = cal.n_days
    idx, strong = plan.cards["ineligible"]
    cnt = _more(np.where(strong, rng.integers(2, 5, len(idx)), 1), strength)
    rep = np.repeat(np.arange(len(idx)), cnt)
    c = idx[rep]
    n = len(c)
    vt = cards.valid_to[c]
    day = np.where(strong[rep], rng.integers(0, nd, n), vt + rng.integers(1, 8, n))
    day = working(cal, day)
    f = np.where(rng.random(n) < 0.6, cards.reg_fac[c], pick.pick(rng, cards.prov[c], cat.DISTRICT))
    f = np.where(f < 0, cards.reg_fac[c], f)
    ib = block(n, card=c, fac=f, day=day, minute=outpatient_minutes(rng, n), dur=rng.integers(10, 60, n),
               dx=acute_conditions(rng, cards.band()[c], cards.sex[c]), scen=SC["ineligible"], ent=c)  # fmt: skip
    return [ib.take(np.flatnonzero((day < nd) & (day > vt)))]


def _plant_split_billing(ctx: _Plant) -> list[Block]:
    """split_billing: one visit billed as several same-day claims."""
    rng, plan, cards = ctx.rng, ctx.plan, ctx.cards
    cal, pick, strength = ctx.cal, ctx.pick, ctx.strength
    nd = cal.n_days
    idx, strong = plan.cards["split_billing"]
    occ = _more(np.where(strong, rng.integers(2, 4, len(idx)), 1), strength)
    orep = np.repeat(np.arange(len(idx)), occ)
    oc = idx[orep]
    no = len(oc)
    oday = working(cal, rng.integers(0, nd, no))
    ofac = np.where(
        rng.random(no) < 0.6, cards.reg_fac[oc], pick.pick(rng, cards.prov[oc], cat.DISTRICT)
    )
    ofac = np.where(ofac < 0, cards.reg_fac[oc], ofac)
    odx = acute_conditions(rng, cards.band()[oc], cards.sex[oc])
    parts_n = _more(np.where(strong[orep], rng.integers(3, 5, no), 2), strength, lo=2)
    prep = np.repeat(np.arange(no), parts_n)
    ppos = np.arange(len(prep)) - np.repeat(np.cumsum(parts_n) - parts_n, parts_n)
    n = len(prep)
    gap = np.where(strong[orep][prep], rng.integers(8, 30, n), rng.integers(60, 180, n))
    m0 = np.repeat(outpatient_minutes(rng, no), parts_n)
    minute = np.minimum(m0 + ppos * gap, 1100)
    sb = block(n, card=oc[prep], fac=ofac[prep], day=oday[prep], minute=minute, dur=rng.integers(8, 25, n), dx=odx[prep],
               dmult=np.where(ppos == 0, 0.0, 1.0), tmult=np.where(ppos == 0, 1.0, 0.0), thin=ppos >= 2,
               scen=SC["split_billing"], ent=oc[prep])  # fmt: skip
    return [sb.take(np.flatnonzero(oday[prep] < nd))]


_CARD_PLANTS = (
    _plant_borrowed_card,
    _plant_medicine_hoarding,
    _plant_overlapping_care,
    _plant_post_death,
    _plant_ineligible,
    _plant_split_billing,
)


def card_claims(
    rng: np.random.Generator,
    plan: Plan,
    cards: Cards,
    fac: Facilities,
    cal: Calendar,
    strength: float = 1.0,
    all_mismatch: bool = False,
) -> Block:
    """New claims for every planted card scenario.

    ``strength`` scales how blunt the abuse is (1.0 = the historical output);
    ``all_mismatch`` makes every strong borrowed-card visit far from home with a
    diagnosis impossible for the holder's sex.
    """
    ctx = _Plant(rng, plan, cards, cal, Picker(fac), strength, all_mismatch)
    return concat([b for plant in _CARD_PLANTS for b in plant(ctx)])


FACILITY_TIERS = {
    "overbilling": (cat.DISTRICT, cat.PROVINCIAL, cat.PRIVATE),
    "admission_inflation": (cat.DISTRICT, cat.PROVINCIAL, cat.PRIVATE),
    "sick_leave_mill": (cat.PRIVATE, cat.DISTRICT),
    "phantom_visits": (cat.COMMUNE, cat.PRIVATE),
    "doctor_overload": (cat.DISTRICT, cat.PROVINCIAL, cat.PRIVATE),
}


def choose_facilities(
    rng: np.random.Generator, fac: Facilities, volume: np.ndarray, k: int, used: np.ndarray
) -> Plan:
    """Pick abusive facilities per scenario among those with a real caseload."""
    plan = Plan()
    for name, tiers in FACILITY_TIERS.items():
        mask = np.isin(fac.tier, tiers) & (volume >= max(20, np.quantile(volume, 0.3)))
        if name == "admission_inflation":
            mask &= fac.kind == 0
        plan.facilities[name] = _with_variants(_choose(rng, mask, k, used))
    return plan


def modify_facility_claims(
    rng: np.random.Generator, plan: Plan, b: Block, fac: Facilities, strength: float = 1.0
) -> None:
    """Over-billing and admission inflation change the facility's own normal claims in place."""
    s = strength
    idx, strong = plan.facilities["overbilling"]
    for f, st in zip(idx, strong, strict=True):  # a handful of facilities
        rows = np.flatnonzero((b.fac == f) & (b.scen < 0))
        rows = rows if st else rows[rng.random(len(rows)) < _share(0.65, s)]
        m = len(rows)
        b.tmult[rows] *= _mult(rng.uniform(2.3, 3.2, m) if st else rng.uniform(1.6, 2.0, m), s)
        b.smult[rows] *= _mult(2.5 if st else 1.5, s)
        b.dmult[rows] *= _mult(1.4 if st else 1.15, s)
        b.scen[rows] = SC["overbilling"]
        b.ent[rows] = f
    idx, strong = plan.facilities["admission_inflation"]
    for f, st in zip(idx, strong, strict=True):
        here = (b.fac == f) & (b.scen < 0)
        cand = np.flatnonzero(here & (b.vtype == 0) & _MILD[b.dx] & (b.refill == 0))
        conv = cand[rng.random(len(cand)) < _share(0.35 if st else 0.12, s)]
        m = len(conv)
        b.vtype[conv] = INP
        b.los[conv] = rng.integers(3, 8, m) if st else rng.integers(2, 5, m)
        b.minute[conv] = any_minutes(rng, m)
        longer = np.flatnonzero(here & (b.vtype == INP) & ~np.isin(np.arange(len(b)), conv))
        b.los[longer] += _more(3 if st else 1, s)
        rows = np.concatenate([conv, longer])
        b.scen[rows] = SC["admission_inflation"]
        b.ent[rows] = f


def facility_claims(
    rng: np.random.Generator,
    plan: Plan,
    cards: Cards,
    fac: Facilities,
    cal: Calendar,
    volume: np.ndarray,
    budget: int,
    strength: float = 1.0,
) -> Block:
    """New claims for sick-leave mills, phantom visits and overloaded doctors.

    ``budget`` caps the claims of one overloaded doctor so small datasets stay
    mostly normal (each overloaded day costs 50-100 claims); ``strength`` scales how
    blunt the abuse is (1.0 = the historical output).
    """
    s = strength
    nd = cal.n_days
    age = cards.age_years()
    ok = (cards.death == NO_DAY) & (cards.valid_from <= 0) & (cards.valid_to >= nd)
    work_days = np.flatnonzero((cal.weekday[:nd] < 5) & ~cal.holiday[:nd])
    parts: list[Block] = []
    employed = ok & np.isin(cards.group, cat.EMPLOYED_GROUPS) & (age >= 20) & (age <= 55)
    idx, strong = plan.facilities["sick_leave_mill"]
    for f, st in zip(idx, strong, strict=True):
        n = int(max(_more(30 if st else 10, s), volume[f] * _scale(0.5 if st else 0.15, s)))
        pool = np.flatnonzero(employed & (cards.prov == fac.prov[f]))
        c = pool[rng.integers(0, len(pool), n)]
        thin = np.ones(n, bool) if st else rng.random(n) < 0.7
        sick = rng.integers(5, 15, n) if st else rng.integers(2, 6, n)
        parts.append(block(n, card=c, fac=f, day=rng.choice(nd, n, p=cal.weight), minute=outpatient_minutes(rng, n), dur=rng.integers(5, 15, n),
                           dx=_SICK_DX[rng.integers(0, len(_SICK_DX), n)], sick=sick, thin=thin, dmult=0.4, tmult=0.2,
                           scen=SC["sick_leave_mill"], ent=f))  # fmt: skip
    idx, strong = plan.facilities["phantom_visits"]
    for f, st in zip(idx, strong, strict=True):
        n = int(max(_more(40 if st else 12, s), volume[f] * _scale(1.0 if st else 0.3, s)))
        pool = np.flatnonzero(ok & (cards.reg_fac == f))
        if len(pool) < n:
            pool = np.concatenate([pool, np.flatnonzero(ok & (cards.prov == fac.prov[f]))])
        c = rng.choice(pool, min(n, len(pool)), replace=False)
        n = len(c)
        if st:  # billed in batches on a few days
            days = rng.choice(work_days, max(1, len(work_days) // 4), replace=False)
            day = days[rng.integers(0, len(days), n)]
        else:
            day = work_days[rng.integers(0, len(work_days), n)]
        emp = np.isin(cards.group[c], cat.EMPLOYED_GROUPS) & (age[c] >= 18) & (age[c] <= 60)
        sick = np.where(emp & (rng.random(n) < (0.4 if st else 0.15)), rng.integers(2, 5, n), 0)
        parts.append(block(n, card=c, fac=f, day=day, minute=outpatient_minutes(rng, n), dur=rng.integers(3, 10, n),
                           dx=_THIN_DX[rng.integers(0, len(_THIN_DX), n)], thin=True, sick=sick, doctor=-2 if st else -1,
                           scen=SC["phantom_visits"], ent=f))  # fmt: skip
    idx, strong = plan.facilities["doctor_overload"]
    for f, st in zip(idx, strong, strict=True):
        n_docs = 1
        days = work_days[rng.random(len(work_days)) < _share(0.7 if st else 0.45, s)]
        days = np.sort(rng.permutation(days)[: max(2, budget // (85 if st else 69))])
        per_day = (
            rng.integers(70, 100, (len(days), n_docs))
            if st
            else rng.integers(62, 76, (len(days), n_docs))
        )
        cnt = per_day.ravel()
        if s != 1.0:  # the load above the cap scales with the strength
            cnt = np.maximum(1, np.round(65 + (cnt - 65) * s)).astype(np.int64)
        day = np.repeat(np.repeat(days, n_docs), cnt)
        doc = np.repeat(np.tile(-2 - np.arange(n_docs), len(days)), cnt)
        n = len(day)
        pool = np.flatnonzero(ok & (cards.prov == fac.prov[f]))
        c = pool[rng.integers(0, len(pool), n)]
        parts.append(block(n, card=c, fac=f, day=day, minute=outpatient_minutes(rng, n), dur=rng.integers(5, 30, n),
                           dx=acute_conditions(rng, cards.band()[c], cards.sex[c]), doctor=doc,
                           scen=SC["doctor_overload"], ent=f))  # fmt: skip
    return concat(parts) if parts else block(0)
