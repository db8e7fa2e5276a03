"""What the :class:`~claimguard.synth.variants.Population` knobs do to the generated care.

Each function implements one knob on the integer-coded blocks, vectorised; ``generate``
calls a function only when its knob is away from the default, with a random stream of
its own, so the default output is untouched. Everything added here is legitimate care
(labelled normal) that happens to look like one of the planted abuse patterns:

* travellers make most acute visits in another province (borrowed card, geography);
* rare diagnoses are atypical for age and sex but possible (borrowed card, demographics);
* same-day revisits are a second claim at the same place on the same day (split billing);
* admission-day visits touch a hospital stay at its edges (overlapping care);
* busy clinics see many patients per doctor, within the cap (doctor overload).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from claimguard.synth import catalog as cat
from claimguard.synth.blocks import DAY, INP, OUT, Block, block
from claimguard.synth.population import Cards, Facilities, Picker
from claimguard.synth.variants import split_column

BUSY_CAP = 62  # busy clinics stay below the 65 examinations per doctor per day
_DAY_KEY = np.int64(4096)  # (facility, day) keys: days stay below 4096

# Rare but clinically possible diagnoses: (code, sex 0 M / 1 F / -1 any, min age, max age).
RARE_DIAGNOSES: tuple[tuple[str, int, float, float], ...] = (
    ("C50.9", 0, 40, 85),  # breast cancer in a man
    ("M10.9", 1, 18, 45),  # gout in a young woman
    ("M81.9", -1, 25, 40),  # osteoporosis in a young adult
    ("I10", -1, 12, 18),  # hypertension in a teenager
    ("E11.9", -1, 12, 18),  # type 2 diabetes in a teenager
    ("K80.2", -1, 12, 18),  # gallstones in a teenager
    ("M17.9", -1, 18, 30),  # knee osteoarthritis in a young adult (after an injury)
    ("I25.9", -1, 25, 38),  # ischaemic heart disease in a young adult
    ("J44.9", -1, 30, 40),  # COPD in a young adult
    ("N95.1", 1, 32, 40),  # early menopause
)
# Provinces that draw migrant workers and students (Hanoi, Hai Phong, Da Nang,
# Binh Duong, Dong Nai, Ho Chi Minh City).
_HUBS = np.flatnonzero(np.isin(cat.PROVINCE_CODES, ["01", "31", "48", "74", "75", "79"]))


def busy_clinics(
    rng: np.random.Generator, fac: Facilities, busy: np.ndarray, share: float
) -> np.ndarray:
    """Choose the legitimately busy clinics and make them draw 3-5x the patients."""
    if share <= 0:
        return np.zeros(0, np.int64)
    ok = np.isin(fac.tier, [cat.DISTRICT, cat.COMMUNE, cat.PRIVATE])
    ok[busy] = False
    cand = np.flatnonzero(ok)
    k = min(len(cand), max(1, round(share * fac.n)))
    w = fac.weight[cand]  # the popular ones become the busy ones
    chosen = np.sort(rng.choice(cand, k, replace=False, p=w / w.sum()))
    fac.weight[chosen] *= rng.uniform(3.0, 5.0, k)
    return chosen


def restaff_busy(fac: Facilities, b: Block, busy: np.ndarray) -> None:
    """Enough doctors at busy clinics that no doctor-day exceeds ``BUSY_CAP`` visits."""
    assert fac.doctors is not None
    sel = np.isin(b.fac, busy) & (b.vtype != INP)
    key = b.fac[sel].astype(np.int64) * _DAY_KEY + b.day[sel]
    u, cnt = np.unique(key, return_counts=True)
    peak = np.zeros(fac.n, np.int64)
    np.maximum.at(peak, (u // _DAY_KEY).astype(np.int64), cnt)
    need = np.ceil(peak[busy] / BUSY_CAP).astype(np.int32)
    fac.doctors[busy] = np.maximum(fac.doctors[busy], need)
    fac.doctor_offset = (np.cumsum(fac.doctors) - fac.doctors).astype(np.int32)


def spread_doctors(fac: Facilities, b: Block, busy: np.ndarray) -> None:
    """At busy clinics patients go to the doctors in turn (even loads, within the cap)."""
    assert fac.doctors is not None and fac.doctor_offset is not None
    sel = np.flatnonzero(np.isin(b.fac, busy) & (b.vtype != INP))
    s = sel[np.lexsort((b.minute[sel], b.day[sel], b.fac[sel]))]
    key = b.fac[s].astype(np.int64) * _DAY_KEY + b.day[s]
    first = np.r_[True, key[1:] != key[:-1]] if len(s) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(s)), 0)) if len(s) else first
    pos = np.arange(len(s)) - start
    f = b.fac[s]
    b.doctor[s] = (fac.doctor_offset[f] + pos % fac.doctors[f]).astype(np.int32)


def travellers(rng: np.random.Generator, cards: Cards, share: float) -> np.ndarray:
    """Per card the province where it works or studies (-1 = stays home).

    ``share`` of all cards, taken among people aged 16-50; the place is a big city or
    industrial province most of the time, never the home province.
    """
    n = cards.n
    age = cards.age_years()
    pool = (age >= 16) & (age < 50)
    p = min(1.0, share * n / max(1, int(pool.sum())))
    go = pool & (rng.random(n) < p)
    n_prov = len(cat.PROVINCES)
    anywhere = rng.choice(n_prov, n, p=cat.PROVINCE_POP / cat.PROVINCE_POP.sum())
    work = np.where(rng.random(n) < 0.6, _HUBS[rng.integers(0, len(_HUBS), n)], anywhere)
    other = (cards.prov + 1 + rng.integers(0, n_prov - 1, n)) % n_prov
    work = np.where(work == cards.prov, other, work)
    return np.where(go, work, -1).astype(np.int16)


def travelled(b: Block, cards: Cards, fac: Facilities, travel: np.ndarray) -> np.ndarray:
    """Traveller cards with a normal visit outside their home province (for traps)."""
    rows = (b.scen < 0) & (travel[b.card] >= 0) & (fac.prov[b.fac] != cards.prov[b.card])
    return np.unique(b.card[rows])


def _acute_outpatient(b: Block, n_special: int) -> np.ndarray:
    idx = np.arange(len(b))
    return np.flatnonzero(
        (idx >= n_special) & (b.vtype == OUT) & (b.refill == 0) & (b.scen < 0) & (b.fac >= 0)
    )


def _visit_key(card: np.ndarray, fac: np.ndarray, day: np.ndarray) -> np.ndarray:
    return (card.astype(np.int64) << 26) | (fac.astype(np.int64) << 10) | day.astype(np.int64)


def rare_diagnoses(
    rng: np.random.Generator,
    b: Block,
    n_special: int,
    cards: Cards,
    fac: Facilities,
    share: float,
) -> np.ndarray:
    """Give ``share`` of the cards with care one acute visit with a rare, possible diagnosis.

    The visit moves to a district or provincial hospital of the home province when it
    was at the registered facility (a breast cancer in a man is treated at the
    provincial hospital, as day care). Changes ``b`` in place; returns the rows changed.
    """
    rows = _acute_outpatient(b, n_special)
    cards_with_care = len(np.unique(b.card))
    first = rows[np.unique(b.card[rows], return_index=True)[1]]
    c = b.card[first]
    age = cards.age_years()[c]
    sex = cards.sex[c]
    rule_sex = np.array([r[1] for r in RARE_DIAGNOSES])
    lo = np.array([r[2] for r in RARE_DIAGNOSES])
    hi = np.array([r[3] for r in RARE_DIAGNOSES])
    fits = (
        ((rule_sex[None, :] < 0) | (rule_sex[None, :] == sex[:, None]))
        & (age[:, None] >= lo[None, :])
        & (age[:, None] < hi[None, :])
    )
    # the same number of cards per diagnosis (otherwise the most common fit would dominate)
    k = round(share * cards_with_care)
    quota = np.diff(np.round(np.linspace(0, k, len(RARE_DIAGNOSES) + 1))).astype(np.int64)
    free = np.ones(len(first), bool)
    picks, rules = [], []
    for j in rng.permutation(len(RARE_DIAGNOSES)):  # ten diagnoses, not rows
        pool = np.flatnonzero(fits[:, j] & free)
        got = rng.choice(pool, min(quota[j], len(pool)), replace=False)
        free[got] = False
        picks.append(got)
        rules.append(np.full(len(got), j))
    pick = np.concatenate(picks).astype(np.int64)
    rule = np.concatenate(rules).astype(np.int64)
    k = len(pick)
    r = first[pick]
    codes = np.array([cat.DX_INDEX[x[0]] for x in RARE_DIAGNOSES], dtype=np.int16)
    dx = codes[rule]
    b.dx[r] = dx
    b.dx2[r] = np.where(b.dx2[r] == dx, -1, b.dx2[r])
    b.dx3[r] = np.where(b.dx3[r] == dx, -1, b.dx3[r])
    cancer = dx == cat.DX_INDEX["C50.9"]
    b.vtype[r] = np.where(cancer, DAY, OUT)
    b.dur[r] = np.where(cancer, rng.integers(180, 300, k), b.dur[r])
    # treated at a hospital rather than the registered facility
    at_home = b.fac[r] == cards.reg_fac[b.card[r]]
    tier = np.where(cancer | (rng.random(k) < 0.5), cat.PROVINCIAL, cat.DISTRICT)
    moved = Picker(fac).pick(rng, cards.prov[b.card[r]], tier)
    old = b.fac[r].copy()
    b.fac[r] = np.where(at_home & (moved >= 0), moved, old)
    # never two normal claims of a card at one place on one day (that is split billing)
    key = _visit_key(b.card, b.fac, b.day)
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    b.fac[r] = np.where(cnt[inv[r]] > 1, old, b.fac[r])
    return r


def same_day_revisits(
    rng: np.random.Generator, b: Block, n_special: int, share: float
) -> tuple[Block, np.ndarray]:
    """Second claims, same card, facility, day and diagnosis, after a test result.

    Returns the new claims and the rows of the first visits they follow.
    """
    rows = _acute_outpatient(b, n_special)
    pick = rows[rng.random(len(rows)) < share]
    gap = rng.integers(60, 181, len(pick))
    minute = b.minute[pick].astype(np.int64) + b.dur[pick] + gap
    fits = minute <= 1050
    pick, minute = pick[fits], minute[fits]
    m = len(pick)
    new = b.take(pick)
    new.minute = minute.astype(np.int16)
    new.dur = rng.integers(8, 25, m).astype(np.int16)
    new.tmult = np.full(m, 0.25, np.float32)  # the tests were done at the first visit
    new.smult = np.full(m, 0.5, np.float32)
    new.thin = np.zeros(m, bool)
    new.sick = np.zeros(m, np.int16)
    new.ref_from = np.full(m, -1, np.int32)
    new.doctor = np.full(m, -1, np.int32)
    return new, pick


def admission_day_visits(
    rng: np.random.Generator, b: Block, cards: Cards, fac: Facilities, share: float
) -> Block:
    """Outpatient visits elsewhere on a stay's admission day (before) or discharge day (after).

    Before admission: the clinic visit that sent the patient to hospital; after
    discharge: the follow-up at the registered facility. Same diagnosis as the stay.
    """
    stays = np.flatnonzero((b.vtype == INP) & (b.los > 0) & ~b.died & (b.scen < 0))
    pick = stays[rng.random(len(stays)) < share]
    m = len(pick)
    dur = rng.integers(10, 40, m)
    before = b.minute[pick].astype(np.int64) - dur - rng.integers(30, 150, m)
    on_admit = (rng.random(m) < 0.5) & (before >= 420)
    day = np.where(on_admit, b.day[pick], b.day[pick] + b.los[pick].astype(np.int32))
    minute = np.where(on_admit, before, 725 + rng.integers(0, 240, m))
    c = b.card[pick]
    f = cards.reg_fac[c]
    other = Picker(fac).pick(rng, cards.prov[c], np.where(on_admit, cat.PRIVATE, cat.DISTRICT))
    f = np.where(f == b.fac[pick], other, f)
    keep = np.flatnonzero((f >= 0) & (f != b.fac[pick]))
    pick = pick[keep]
    k = len(keep)
    return block(
        k,
        card=c[keep],
        fac=f[keep],
        day=day[keep],
        minute=minute[keep],
        dur=dur[keep],
        dx=b.dx[pick],
        dx2=b.dx2[pick],
    )


def not_seen(b: Block, new: Block) -> Block:
    """``new`` without visits of a card at a place and day ``b`` (or ``new``) already has."""
    have = _visit_key(b.card, b.fac, b.day)
    key = _visit_key(new.card, new.fac, new.day)
    first = np.zeros(len(new), bool)
    first[np.unique(key, return_index=True)[1]] = True
    return new.take(np.flatnonzero(first & ~np.isin(key, have)))


def outside_stays(b: Block, new: Block) -> Block:
    """``new`` without visits that fall inside a hospital stay of the same card in ``b``.

    Inside: a day strictly between admission and discharge, the admission day after the
    admission time, or the discharge day before noon (inpatients leave by 11:30).
    """
    stays = np.flatnonzero((b.vtype == INP) & (b.los > 0))
    order = np.argsort(b.card[stays], kind="stable")
    s_idx = stays[order]
    s_card = b.card[s_idx]
    lo = np.searchsorted(s_card, new.card, side="left")
    hi = np.searchsorted(s_card, new.card, side="right")
    cnt = hi - lo
    rep = np.repeat(np.arange(len(new)), cnt)
    pos = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
    s = s_idx[pos]
    admit = b.day[s].astype(np.int64)
    out = admit + b.los[s]
    d = new.day[rep].astype(np.int64)
    m = new.minute[rep].astype(np.int64)
    inside = (
        ((d > admit) & (d < out))
        | ((d == admit) & (m + new.dur[rep] > b.minute[s]))
        | ((d == out) & (m < 725))
    )
    bad = np.bincount(rep[inside], minlength=len(new)) > 0
    return new.take(np.flatnonzero(~bad))


def noise_masks(rng: np.random.Generator, n: int, share: float) -> dict[str, np.ndarray] | None:
    """Which claims get which data-entry slip (independently, ``share`` each)."""
    if share <= 0:
        return None
    names = ("patient_sex", "patient_birth_date", "registered_facility_id", "secondary_dx")
    return {name: rng.random(n) < share for name in names}


def wrong_birth(rng: np.random.Generator, birth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Birth days with typing slips where ``mask``: a year or a decade off, or some days."""
    out = birth.astype(np.int64)
    rows = np.flatnonzero(mask)
    k = len(rows)
    kind = rng.integers(0, 3, k)
    sign = np.where(rng.random(k) < 0.5, -1, 1)
    delta = np.select(
        [kind == 0, kind == 1],
        [sign * 365 * rng.integers(1, 4, k), sign * 3652],
        sign * rng.integers(1, 60, k),
    )
    out[rows] = np.minimum(out[rows] + delta, -1)  # still born before the period
    return out


def drop_columns(
    tables: dict[str, pd.DataFrame], absent: tuple[str, ...]
) -> dict[str, pd.DataFrame]:
    """The tables without the ``absent`` optional columns (``table.column`` or claims names)."""
    out = dict(tables)
    for name in absent:
        table, column = split_column(name)
        out[table] = out[table].drop(columns=[column])
    return out
