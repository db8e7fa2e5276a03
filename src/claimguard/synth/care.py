"""Legitimate care: who visits where, when, for what.

Chronic patients refill monthly at their registered facility (the elderly with
several conditions at two or three places); dialysis patients come three times
a week, cancer patients every three weeks; pregnant women monthly and then
deliver; everyone else has acute episodes at rates by age (young children
most), mostly at the registered facility, sometimes up the tiers with a
referral, sometimes far from home. Serious cases are admitted with stays that
depend on the diagnosis and tier; some district inpatients are transferred up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from claimguard.synth import catalog as cat
from claimguard.synth.blocks import (
    DAY,
    INP,
    OUT,
    Block,
    any_minutes,
    block,
    concat,
    outpatient_minutes,
)
from claimguard.synth.calendar import Calendar
from claimguard.synth.population import Cards, Facilities, Picker

# Relative acute-visit rate per age band (0-5, 6-17, 18-39, 40-64, 65+).
ACUTE_RATE = np.array([3.2, 1.1, 0.75, 1.0, 1.8])
INPATIENT_SCALE = 3.3
# Chronic refills at commune stations only for conditions they manage.
_COMMUNE_OK = np.isin(cat.DX_CODES, ["I10", "E11.9", "E78.5", "M17.9"])


@dataclass
class Special:
    """Card indices of legitimate heavy users (for traps.csv)."""

    dialysis: np.ndarray
    chemotherapy: np.ndarray
    antenatal: np.ndarray
    elderly_multimorbid: np.ndarray
    frequent_child: np.ndarray


def working(cal: Calendar, day: np.ndarray) -> np.ndarray:
    """Shift days to the same or next working day."""
    return np.asarray(cal.next_working[np.clip(day, 0, len(cal.next_working) - 1)])


def _first_last_chronic(chronic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Primary (first) and last chronic condition (dx codes) of each row, -1 if none."""
    has = chronic.any(axis=1)
    first = cat.CHRONIC_DX[np.argmax(chronic, axis=1)]
    last = cat.CHRONIC_DX[chronic.shape[1] - 1 - np.argmax(chronic[:, ::-1], axis=1)]
    return np.where(has, first, -1).astype(np.int16), np.where(
        has & (last != first), last, -1
    ).astype(np.int16)


def chronic_refills(
    rng: np.random.Generator, cards: Cards, fac: Facilities, cal: Calendar, free: np.ndarray
) -> tuple[Block, np.ndarray]:
    """Monthly refills; elderly multimorbid patients refill at 2-3 places."""
    pick = Picker(fac)
    who = np.flatnonzero(cards.managed & free)
    ch = cards.chronic[who]
    first, last = _first_last_chronic(ch)
    n_cond = ch.sum(axis=1)
    age = cards.age_years()[who]
    multi = (n_cond >= 3) & (age >= 65)
    # stream 1 at the registered facility (district if a commune cannot manage it)
    fac1 = cards.reg_fac[who].copy()
    move = (fac.tier[fac1] == cat.COMMUNE) & ~_COMMUNE_OK[first]
    fac1[move] = pick.pick(rng, cards.prov[who[move]], cat.DISTRICT)
    # extra streams for the multimorbid: last condition at a district/provincial hospital
    m = np.flatnonzero(multi)
    tier2 = np.where(rng.random(len(m)) < 0.5, cat.DISTRICT, cat.PROVINCIAL)
    fac2 = pick.pick(rng, cards.prov[who[m]], tier2)
    m3 = m[(n_cond[m] >= 4) & (rng.random(len(m)) < 0.7)]
    fac3 = pick.pick(rng, cards.prov[who[m3]], cat.PROVINCIAL)
    s_card = np.concatenate([who, who[m], who[m3]])
    s_fac = np.concatenate([fac1, fac2, fac3])
    # the third place treats the second condition (each condition refilled at one place)
    second = cat.CHRONIC_DX[np.argmax(np.cumsum(ch[m3], axis=1) == 2, axis=1)]
    s_dx = np.concatenate([first, last[m], second])
    s_dx2 = np.concatenate([last, first[m], np.full(len(m3), -1, np.int16)])
    s_dx = np.where(s_dx < 0, s_dx2, s_dx)
    s_dx2 = np.where(s_dx2 == s_dx, -1, s_dx2)
    ok = (s_fac >= 0) & (s_dx >= 0)
    s_card, s_fac, s_dx, s_dx2 = s_card[ok], s_fac[ok], s_dx[ok], s_dx2[ok]
    ns = len(s_card)
    supply = np.where(rng.random(ns) < 0.25, 28, 30).astype(np.int16)
    phase = rng.integers(0, 30, ns)
    n_months = int(np.ceil(cal.n_days / 28)) + 1
    rep = np.repeat(np.arange(ns), n_months)
    k = np.tile(np.arange(n_months), ns)
    raw = phase[rep] + k * supply[rep] - rng.integers(0, 3, len(rep))
    day = working(cal, raw)
    keep = (raw >= 0) & (day < cal.n_days) & (rng.random(len(rep)) > 0.06)
    rep, day = rep[keep], day[keep]
    n = len(rep)
    b = block(
        n,
        card=s_card[rep],
        fac=s_fac[rep],
        day=day,
        minute=outpatient_minutes(rng, n),
        dur=rng.integers(10, 40, n),
        dx=s_dx[rep],
        dx2=s_dx2[rep],
        refill=supply[rep],
    )
    return b, who[m]


def dialysis(
    rng: np.random.Generator, cards: Cards, fac: Facilities, cal: Calendar, free: np.ndarray
) -> tuple[Block, np.ndarray]:
    """Haemodialysis three times a week (Mon/Wed/Fri or Tue/Thu/Sat) at a hospital."""
    age = cards.age_years()
    w = np.where(free & (age >= 18), np.where(age >= 40, 2.0, 1.0), 0.0)
    k = max(1, round(cards.n * 0.00033))
    who = rng.choice(cards.n, k, replace=False, p=w / w.sum())
    pick = Picker(fac)
    central_home = np.isin(cat.PROVINCE_CODES[cards.prov[who]], cat.CENTRAL_PROVINCES)
    tier = np.where(central_home & (rng.random(k) < 0.4), cat.CENTRAL, cat.PROVINCIAL)
    f = pick.pick(rng, cards.prov[who], tier)
    f = np.where(f < 0, pick.pick(rng, cards.prov[who], cat.PROVINCIAL), f)
    sched = rng.integers(0, 2, k)
    days = np.arange(cal.n_days)
    wd = cal.weekday[: cal.n_days]
    mwf = days[np.isin(wd, [0, 2, 4])]
    tts = days[np.isin(wd, [1, 3, 5])]
    counts = np.where(sched == 0, len(mwf), len(tts))
    rep = np.repeat(np.arange(k), counts)
    pos = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
    day = np.where(
        sched[rep] == 0, mwf[np.minimum(pos, len(mwf) - 1)], tts[np.minimum(pos, len(tts) - 1)]
    )
    shift = np.array([390, 660, 930])[rng.integers(0, 3, k)]
    n = len(rep)
    vt = np.where(fac.number[f[rep]] % 5 < 2, DAY, OUT)
    b = block(
        n,
        card=who[rep],
        fac=f[rep],
        day=day,
        minute=shift[rep] + rng.integers(0, 20, n),
        dur=rng.integers(230, 260, n),
        vtype=vt,
        dx=cat.DX_INDEX["N18.5"],
        dx2=np.where(rng.random(k) < 0.7, cat.DX_INDEX["I10"], -1)[rep],
        dx3=np.where(rng.random(k) < 0.6, cat.DX_INDEX["D63.8"], -1)[rep],
    )
    return b, who


def chemotherapy(
    rng: np.random.Generator, cards: Cards, fac: Facilities, cal: Calendar, free: np.ndarray
) -> tuple[Block, np.ndarray]:
    """Chemotherapy cycles every 21 days at a central or provincial hospital."""
    age = cards.age_years()
    w = np.where(free & (age >= 30), np.clip(age - 25, 0, 60), 0.0)
    k = max(1, round(cards.n * 0.00015))
    who = rng.choice(cards.n, k, replace=False, p=w / w.sum())
    female = cards.sex[who] == 1
    cancer = np.where(
        female,
        cat.CANCERS_F[rng.integers(0, len(cat.CANCERS_F), k)],
        cat.CANCERS_M[rng.integers(0, len(cat.CANCERS_M), k)],
    )
    pick = Picker(fac)
    central_prov = np.flatnonzero(np.isin(cat.PROVINCE_CODES, cat.CENTRAL_PROVINCES))
    central = pick.pick(rng, rng.choice(central_prov, k), cat.CENTRAL)
    prov_h = pick.pick(rng, cards.prov[who], cat.PROVINCIAL)
    f = np.where((rng.random(k) < 0.45) & (central >= 0), central, prov_h)
    inpatient = rng.random(k) < 0.4
    stay = np.where(inpatient, rng.integers(2, 4, k), 0)
    phase = rng.integers(0, 21, k)
    n_cyc = cal.n_days // 21 + 2
    rep = np.repeat(np.arange(k), n_cyc)
    day = working(cal, phase[rep] + 21 * np.tile(np.arange(n_cyc), k))
    keep = day < cal.n_days
    rep, day = rep[keep], day[keep]
    n = len(rep)
    b = block(
        n,
        card=who[rep],
        fac=f[rep],
        day=day,
        minute=np.where(inpatient[rep], any_minutes(rng, n), outpatient_minutes(rng, n)),
        los=stay[rep],
        dur=rng.integers(180, 360, n),
        vtype=np.where(inpatient[rep], INP, DAY),
        dx=cancer[rep],
        dx2=cat.DX_INDEX["Z51.1"],
    )
    return b, who


def pregnancy(
    rng: np.random.Generator, cards: Cards, fac: Facilities, cal: Calendar, free: np.ndarray
) -> tuple[Block, np.ndarray]:
    """Antenatal visits about monthly, then a delivery (normal or caesarean)."""
    age = cards.age_years()
    women = np.flatnonzero(free & (cards.sex == 1) & (age >= 18) & (age <= 42))
    window = cal.n_days + 240
    p = 0.065 * window / 365
    who = women[rng.random(len(women)) < p]
    k = len(who)
    due = rng.integers(0, window, k)
    pick = Picker(fac)
    anc_fac = np.where(
        rng.random(k) < 0.55, cards.reg_fac[who], pick.pick(rng, cards.prov[who], cat.DISTRICT)
    )
    anc_fac = np.where(anc_fac < 0, cards.reg_fac[who], anc_fac)
    rep = np.repeat(np.arange(k), 7)
    kk = np.tile(np.arange(1, 8), k)
    raw = due[rep] - 30 * kk + rng.integers(-3, 4, len(rep))
    day = working(cal, raw)
    keep = (raw >= 0) & (day < cal.n_days) & (day < due[rep])
    rep, day = rep[keep], day[keep]
    n = len(rep)
    anc = block(
        n,
        card=who[rep],
        fac=anc_fac[rep],
        day=day,
        minute=outpatient_minutes(rng, n),
        dur=rng.integers(20, 60, n),
        dx=cat.DX_INDEX["Z34.9"],
    )
    d = np.flatnonzero(due < cal.n_days)
    tier = rng.choice([cat.DISTRICT, cat.PROVINCIAL, cat.PRIVATE], len(d), p=[0.55, 0.37, 0.08])
    dfac = pick.pick(rng, cards.prov[who[d]], tier)
    dfac = np.where(dfac < 0, pick.pick(rng, cards.prov[who[d]], cat.PROVINCIAL), dfac)
    caes = rng.random(len(d)) < 0.32
    dx = np.where(caes, cat.DX_INDEX["O82"], cat.DX_INDEX["O80"])
    los = np.where(caes, rng.integers(4, 7, len(d)), rng.integers(1, 4, len(d)))
    deliv = block(
        len(d),
        card=who[d],
        fac=dfac,
        day=due[d],
        minute=any_minutes(rng, len(d)),
        los=los,
        vtype=INP,
        dx=dx,
        dx2=cat.DX_INDEX["Z34.9"],
        ref_from=np.where(rng.random(len(d)) < 0.3, anc_fac[d], -1),
    )
    return concat([anc, deliv]), who


def terminal(rng: np.random.Generator, cards: Cards, fac: Facilities, cal: Calendar) -> Block:
    """A final hospital stay ending in death for some of those who die in the period."""
    who = np.flatnonzero(
        (cards.death >= 0) & (cards.death < cal.n_days) & (cards.age_years() >= 40)
    )
    who = who[rng.random(len(who)) < 0.5]
    k = len(who)
    los = rng.integers(1, 10, k)
    day = np.maximum(cards.death[who] - los, 0)
    pick = Picker(fac)
    tier = np.where(rng.random(k) < 0.6, cat.PROVINCIAL, cat.DISTRICT)
    f = pick.pick(rng, cards.prov[who], tier)
    opts = np.array([cat.DX_INDEX[c] for c in ("I63.9", "J18.9", "I21.9", "C34.9", "C22.0")])
    return block(
        k,
        card=who,
        fac=np.where(f < 0, cards.reg_fac[who], f),
        day=day,
        minute=any_minutes(rng, k),
        los=cards.death[who] - day,
        vtype=INP,
        dx=opts[rng.integers(0, len(opts), k)],
        died=True,
    )


def acute_conditions(rng: np.random.Generator, band: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """A condition per visit from the incidence weights of its age band and sex."""
    w = np.array([c.weight for c in cat.CONDITIONS])  # (N_DX, bands)
    sex_ok = np.array([[c.sex in ("A", "M"), c.sex in ("A", "F")] for c in cat.CONDITIONS])
    out = np.empty(len(band), np.int16)
    for b in range(cat.N_BANDS):
        for s in (0, 1):
            sel = np.flatnonzero((band == b) & (sex == s))
            p = w[:, b] * sex_ok[:, s]
            out[sel] = rng.choice(cat.N_DX, len(sel), p=p / p.sum())
    return out


def _acute_place(
    rng: np.random.Generator,
    cards: Cards,
    fac: Facilities,
    card: np.ndarray,
    severe: np.ndarray,
    travel: np.ndarray | None,
) -> np.ndarray:
    """The facility of each acute episode: registered, district, provincial, private,
    central or another province's, by severity; travellers mostly where they work."""
    n0 = len(card)
    p_mild = [0.5, 0.2, 0.1, 0.14, 0.03, 0.03]
    p_severe = [0.02, 0.4, 0.4, 0.05, 0.11, 0.02]
    where = np.where(severe, rng.choice(6, n0, p=p_severe), rng.choice(6, n0, p=p_mild))
    prov = cards.prov[card]
    away = where == 5
    prov = np.where(
        away, rng.choice(len(cat.PROVINCES), n0, p=cat.PROVINCE_POP / cat.PROVINCE_POP.sum()), prov
    )
    central_prov = np.flatnonzero(np.isin(cat.PROVINCE_CODES, cat.CENTRAL_PROVINCES))
    prov = np.where(where == 4, central_prov[rng.choice(3, n0, p=[0.5, 0.35, 0.15])], prov)
    tier = np.array(
        [cat.COMMUNE, cat.DISTRICT, cat.PROVINCIAL, cat.PRIVATE, cat.CENTRAL, cat.DISTRICT]
    )[where]
    tier = np.where(away & (rng.random(n0) < 0.5), cat.PROVINCIAL, tier)
    if travel is not None:  # travellers: most acute visits where they work or study
        go = (travel[card] >= 0) & (rng.random(n0) < 0.8)
        where = np.where(go, 5, where)
        prov = np.where(go, travel[card], prov)
        there = rng.choice([cat.DISTRICT, cat.PRIVATE, cat.PROVINCIAL], n0, p=[0.4, 0.35, 0.25])
        tier = np.where(go, there, tier)
    f = Picker(fac).pick(rng, prov, tier)
    return np.where((where == 0) | (f < 0), cards.reg_fac[card], f).astype(np.int32)


def _sick_leave_days(
    rng: np.random.Generator, cards: Cards, card: np.ndarray, inp: np.ndarray, los: np.ndarray
) -> np.ndarray:
    """Sick-leave days certified for employed adults: a few days for some outpatients, the
    stay plus recovery for most inpatients."""
    n0 = len(card)
    age = cards.age_years()[card]
    employed = np.isin(cards.group[card], cat.EMPLOYED_GROUPS) & (age >= 18) & (age <= 60)
    sick_out = employed & ~inp & (rng.random(n0) < 0.13)
    sick_in = employed & inp & (rng.random(n0) < 0.6)
    sick = np.where(sick_out, np.clip(1 + rng.poisson(1.4, n0), 1, 7), 0)
    return np.asarray(np.where(sick_in, los + rng.poisson(2.0, n0), sick))


def _follow_ups(
    rng: np.random.Generator, cal: Calendar, main: Block, vtype: np.ndarray, day: np.ndarray
) -> Block:
    """Follow-up visits of some outpatient episodes at the same facility a week later."""
    fu = np.flatnonzero((vtype == OUT) & (rng.random(len(vtype)) < 0.17))
    fday = working(cal, day[fu] + rng.integers(5, 11, len(fu)))
    follow = main.take(fu)
    follow.day = fday
    follow.minute = outpatient_minutes(rng, len(fu))
    follow.sick = np.zeros(len(fu), np.int16)
    follow.ref_from = np.full(len(fu), -1, np.int32)
    return follow


def acute(
    rng: np.random.Generator,
    cards: Cards,
    fac: Facilities,
    cal: Calendar,
    n_visits: int,
    card_weight: np.ndarray,
    travel: np.ndarray | None = None,
) -> Block:
    """Acute episodes (with follow-ups and transfers), about ``n_visits`` visits.

    ``travel`` (per card: the province where it works or studies, -1 = none) sends
    80% of those cards' acute visits there.
    """
    n0 = max(1, int(n_visits / 1.2))
    card = rng.choice(cards.n, n0, p=card_weight / card_weight.sum()).astype(np.int32)
    day = rng.choice(cal.n_days, n0, p=cal.weight).astype(np.int32)
    band = cards.band()[card]
    dx = acute_conditions(rng, band, cards.sex[card])
    severe = cat.condition_array("p_inpatient")[dx] >= 0.5
    f = _acute_place(rng, cards, fac, card, severe, travel)
    ftier = fac.tier[f]
    p_inp = np.clip(
        cat.condition_array("p_inpatient")[dx] * cat.TIER_INPATIENT_FACTOR[ftier] * INPATIENT_SCALE,
        0,
        0.98,
    )
    inp = rng.random(n0) < p_inp
    los_mean = cat.condition_array("los")[dx] * cat.TIER_LOS_FACTOR[ftier]
    los = np.where(
        inp, np.maximum(1, np.round(rng.lognormal(np.log(np.maximum(los_mean, 1)), 0.4))), 0
    )
    daycare = ~inp & (ftier != cat.COMMUNE) & (rng.random(n0) < 0.015)
    vtype = np.where(inp, INP, np.where(daycare, DAY, OUT))
    # admissions happen any day; outpatient visits follow the weekly rhythm
    day = np.where(inp & (rng.random(n0) < 0.5), rng.integers(0, cal.n_days, n0), day)
    minute = np.where(inp, any_minutes(rng, n0), outpatient_minutes(rng, n0))
    # referral from the registered facility when treated higher up
    up = (ftier < cat.DISTRICT) & (fac.tier[cards.reg_fac[card]] >= cat.DISTRICT)
    ref = np.where(up & (rng.random(n0) < 0.6), cards.reg_fac[card], -1)
    first, last = _first_last_chronic(cards.chronic[card])
    dx2 = np.where(rng.random(n0) < 0.6, first, -1)
    dx2 = np.where(dx2 == dx, last, dx2)
    dx3 = np.where((dx2 >= 0) & (last != dx) & (last != dx2) & (rng.random(n0) < 0.5), last, -1)
    sick = _sick_leave_days(rng, cards, card, inp, los)
    main = block(
        n0,
        card=card,
        fac=f,
        day=day,
        minute=minute,
        los=los,
        dur=rng.integers(10, 90, n0),
        vtype=vtype,
        dx=dx,
        dx2=dx2,
        dx3=dx3,
        sick=sick,
        ref_from=ref,
    )
    follow = _follow_ups(rng, cal, main, vtype, day)
    # transfers of serious district inpatients to the provincial hospital on discharge day
    tr = np.flatnonzero(inp & severe & (ftier >= cat.DISTRICT) & (rng.random(n0) < 0.12))
    trans = main.take(tr)
    trans.fac = Picker(fac).pick(rng, cards.prov[card[tr]], cat.PROVINCIAL)
    trans.day = day[tr] + los[tr].astype(np.int32)
    trans.minute = (np.full(len(tr), 720) + rng.integers(0, 240, len(tr))).astype(np.int16)
    trans.los = np.maximum(1, np.round(rng.lognormal(np.log(6), 0.4, len(tr)))).astype(np.int16)
    trans.ref_from = f[tr]
    trans = trans.take(np.flatnonzero(trans.fac >= 0))
    return concat([main, follow, trans])


def acute_weight(cards: Cards, frequent_child: np.ndarray, multimorbid: np.ndarray) -> np.ndarray:
    """Per-card acute visit propensity."""
    w = ACUTE_RATE[cards.band()] * np.exp(0.5 * _noise(cards))
    w[frequent_child] *= 20.0
    w[multimorbid] *= 1.6
    return np.asarray(w)


def _noise(cards: Cards) -> np.ndarray:
    # deterministic per-card frailty from the card's number (no extra random draws)
    return ((cards.sin % 1000) / 1000.0 - 0.5).astype(np.float64)
