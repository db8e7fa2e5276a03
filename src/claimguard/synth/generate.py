"""Synthetic claims with labelled abuse: ``generate`` and ``write_synthetic``.

The population is sized so that an insured person makes about 2.2 visits a
year (Vietnam Social Security: about 174 million insured visits in 2023 for
about 93 million insured people, i.e. ~1.9/person/year); the claim count is
exact. Everything is built with vectorised NumPy on integer codes and turned
into canonical string/datetime columns once, at the end (see ``frames``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from claimguard import schema
from claimguard.errors import UserError
from claimguard.io.compact import encode_repetitive
from claimguard.io.csvsafe import write_csv
from claimguard.memory import release_memory
from claimguard.schema import CARD_SCENARIOS, SCENARIOS
from claimguard.synth import catalog as cat
from claimguard.synth import frames as fr
from claimguard.synth import knobs as kn
from claimguard.synth.abuse import (
    Plan,
    card_claims,
    choose_cards,
    choose_facilities,
    facility_claims,
    modify_facility_claims,
)
from claimguard.synth.blocks import INP, Block, concat
from claimguard.synth.calendar import Calendar, make_calendar
from claimguard.synth.care import (
    acute,
    acute_weight,
    chemotherapy,
    chronic_refills,
    dialysis,
    pregnancy,
    terminal,
)
from claimguard.synth.drift import drift_labels, plant_drift
from claimguard.synth.lines import line_table
from claimguard.synth.population import NO_DAY, Cards, Facilities, make_cards, make_facilities
from claimguard.synth.variants import Population
from claimguard.tables import Dataset

log = logging.getLogger(__name__)

VISITS_PER_INSURED_YEAR = 2.2
MIN_CLAIMS = 2_000


@dataclass
class SyntheticData:
    """Canonical tables plus the ground truth of what was planted."""

    claims: pd.DataFrame
    claim_lines: pd.DataFrame
    facilities: pd.DataFrame
    cards: pd.DataFrame
    labels: pd.DataFrame  # entity_type, entity_id, scenario, variant
    traps: pd.DataFrame  # entity_type, entity_id, kind
    truth_claims: pd.DataFrame  # claim_id, entity_type, entity_id, scenario

    def to_dataset(self) -> Dataset:
        """The tables as a :class:`~claimguard.tables.Dataset` (labels included)."""
        counts = {
            name: {"in": len(df), "valid": len(df), "quarantined": 0}
            for name, df in (
                ("claims", self.claims),
                ("claim_lines", self.claim_lines),
                ("facilities", self.facilities),
                ("cards", self.cards),
            )
        }
        # the in-memory form load_dataset gives: repetitive codes as categoricals
        return Dataset(
            encode_repetitive(self.claims, "claims"),
            encode_repetitive(self.claim_lines, "claim_lines"),
            encode_repetitive(self.facilities, "facilities"),
            encode_repetitive(self.cards, "cards"),
            counts=counts,
            labels=self.labels,
        )


def _check(claims: int, start: str, months: int, abuse_rate: float) -> pd.Timestamp:
    if claims < MIN_CLAIMS:
        raise UserError(
            f"--claims {claims} is too small for a population with planted abuse",
            where="generate",
            fix=f"use at least {MIN_CLAIMS} claims",
        )
    if not 1 <= months <= 24:
        raise UserError(
            f"--months {months} is out of range", where="generate", fix="use 1 to 24 months"
        )
    if not 0.0 <= abuse_rate <= 0.2:
        raise UserError(
            f"--abuse-rate {abuse_rate} is out of range",
            where="generate",
            fix="use a share between 0 and 0.2",
        )
    try:
        return pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise UserError(
            f"--start {start!r} is not a date",
            where="generate",
            fix="give an ISO date such as 2024-01-01",
        ) from exc


def _valid(b: Block, cards: Cards, n_days: int) -> Block:
    """Keep visits inside the period, the card's validity and the holder's life."""
    c = b.card
    end = b.day + b.los
    ok = (
        (b.day >= 0)
        & (b.day < n_days)
        & (b.day >= cards.valid_from[c])
        & (b.day <= cards.valid_to[c])
        & (end <= cards.death[c])
        & (b.fac >= 0)
    )
    return b.take(np.flatnonzero(ok))


def _drop_inside_stays(b: Block, n_special: int) -> tuple[Block, int]:
    """Remove normal visits that fall inside another hospital stay of the same card.

    Independent draws would otherwise put a patient at a clinic while admitted
    elsewhere; that is the overlapping-care abuse pattern and must not occur in
    normal care. Transfers (admitted on the discharge day, with a referral) stay.
    Same-day (zero-night) admissions count as visits. A second claim of the same
    card at the same facility on the same day is dropped too (split billing is abuse).
    Returns the kept rows and how many of them are among the first ``n_special``.
    """
    big = np.int64(1 << 22)
    key = b.card.astype(np.int64) * big + b.day
    order = np.argsort(key, kind="stable")
    ks = key[order]
    stay = np.flatnonzero((b.vtype == INP) & (b.los > 0))
    # a stay covers its card's days [admit day, discharge day)
    lo = np.searchsorted(ks, key[stay], side="left")
    hi = np.searchsorted(ks, key[stay] + b.los[stay], side="left")
    diff = np.zeros(len(b) + 1, np.int64)
    np.add.at(diff, lo, 1)
    np.add.at(diff, hi, -1)
    cover = np.empty(len(b), np.int64)
    cover[order] = np.cumsum(diff)[:-1]
    own = np.zeros(len(b), np.int64)
    own[stay] = 1
    keep = cover - own <= 0
    # one record per visit: a second normal claim of the card at the same place that day goes
    visit = (b.card.astype(np.int64) << 26) | (b.fac.astype(np.int64) << 10) | b.day
    first = np.zeros(len(b), bool)
    first[np.unique(visit, return_index=True)[1]] = True
    keep &= first
    # on a discharge day other care starts after the discharge (inpatients leave by 11:30)
    on_discharge_day = np.isin(key, key[stay] + b.los[stay])
    b.minute = np.where(on_discharge_day, np.maximum(b.minute, 725), b.minute).astype(np.int16)
    idx = np.flatnonzero(keep)
    return b.take(idx), int((idx < n_special).sum())


def _year_only_birth_dates(rng: np.random.Generator, cards: Cards, cal: Calendar) -> None:
    """Many older people's papers carry only a birth year: recorded as 1 January."""
    day0 = np.datetime64(cal.start.date(), "D")
    born = day0 + cards.birth.astype("timedelta64[D]")
    jan1 = (born.astype("datetime64[Y]").astype("datetime64[D]") - day0).astype(np.int32)
    old = (cards.birth < -55 * 365.25) & (rng.random(cards.n) < 0.2)
    cards.birth[old] = jan1[old]


def _staff(
    rng: np.random.Generator,
    fac: Facilities,
    b: Block,
    cal: Calendar,
    busy: np.ndarray,
    heavy: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Doctors per facility from its outpatient volume and a realistic daily load.

    ``heavy``: (facilities, daily load) of legitimately very busy clinics.
    """
    wd = max(1, int(((cal.weekday[: cal.n_days] < 5) & ~cal.holiday[: cal.n_days]).sum()))
    out = np.bincount(b.fac, weights=(b.vtype != INP).astype(float), minlength=fac.n)
    daily = out / wd * 1.15
    load = rng.uniform(12, 28, fac.n)
    load[busy] = rng.uniform(36, 42, len(busy))
    if heavy is not None:
        load[heavy[0]] = heavy[1]
    minimum = np.array([15, 6, 3, 1, 1])[fac.tier]
    if heavy is not None:  # a busy district hospital may run its outpatients on two doctors
        minimum[heavy[0]] = np.minimum(minimum[heavy[0]], 2)
    fac.doctors = np.maximum(minimum, np.ceil(daily / load)).astype(np.int32)
    fac.doctor_offset = (np.cumsum(fac.doctors) - fac.doctors).astype(np.int32)


def _assign_doctors(rng: np.random.Generator, fac: Facilities, b: Block) -> None:
    assert fac.doctors is not None and fac.doctor_offset is not None
    nd = fac.doctors[b.fac]
    off = fac.doctor_offset[b.fac]
    auto = b.doctor == -1
    pick = np.minimum((rng.random(len(b)) ** 1.15 * nd).astype(np.int32), nd - 1)
    marked = np.minimum(-2 - b.doctor, nd - 1)
    b.doctor = np.where(auto, off + pick, np.where(b.doctor <= -2, off + marked, b.doctor)).astype(
        np.int32
    )


def _n_cards(claims: int, nd: int, pop: Population) -> int:
    """The insured population whose visits make ``claims`` claims in ``nd`` days."""
    if pop.visits_scale != 1.0:
        visits = VISITS_PER_INSURED_YEAR * pop.visits_scale
        return max(1_000, round(claims * 365 / (visits * nd)))
    return max(1_000, round(claims * 365 / (VISITS_PER_INSURED_YEAR * nd)))


def _busy_districts(fac: Facilities) -> np.ndarray:
    """The district hospitals serving the most people in their province (one in twenty)."""
    district = np.flatnonzero(fac.tier == cat.DISTRICT)
    dprov = fac.prov[district]
    in_prov = np.bincount(dprov, weights=fac.weight[district], minlength=len(cat.PROVINCES))
    expected = fac.weight[district] / in_prov[dprov] * cat.PROVINCE_POP[dprov]
    return np.asarray(district[np.argsort(-expected)[: max(2, len(district) // 20)]])


@dataclass
class _Special:
    """The cards that get chronic, dialysis, chemotherapy or antenatal care (trap kinds)."""

    multimorbid: np.ndarray
    frequent_child: np.ndarray
    dialysis: np.ndarray
    chemotherapy: np.ndarray
    antenatal: np.ndarray


def _special_care(
    rng: np.random.Generator, cards: Cards, fac: Facilities, cal: Calendar, used: np.ndarray
) -> tuple[Block, _Special]:
    """Care outside acute episodes, and who gets it; abusive cards (``used``) get their ordinary chronic care,
    the heavy-user traps (dialysis, chemotherapy, pregnancy) are kept apart from them."""
    chron, multi = chronic_refills(rng, cards, fac, cal, np.ones(cards.n, bool))
    free = ~used
    free[multi] = False
    dial, dial_cards = dialysis(rng, cards, fac, cal, free)
    free[dial_cards] = False
    chemo, chemo_cards = chemotherapy(rng, cards, fac, cal, free)
    free[chemo_cards] = False
    preg, preg_cards = pregnancy(rng, cards, fac, cal, free)
    young = free & (cards.age_years() < 6)
    child = np.flatnonzero(young)[rng.random(int(young.sum())) < 0.05]
    care = concat([chron, dial, chemo, preg, terminal(rng, cards, fac, cal)])
    care = _valid(care, cards, cal.n_days)
    return care, _Special(multi, child, dial_cards, chemo_cards, preg_cards)


def _acute_target(claims: int, n_special: int, abuse_rate: float) -> float:
    """Acute claims to draw: the rest of ``claims``, oversampled because the inside-stay
    clean-up and the planted claims take their place later."""
    need = claims - n_special
    if need < claims * 0.2:
        raise UserError(
            "the chronic and special care alone exceed the claim count",
            where="generate",
            fix="ask for more claims",
        )
    return need * (1.1 + 6 * abuse_rate)


def _acute_care(
    rng: np.random.Generator,
    cards: Cards,
    fac: Facilities,
    cal: Calendar,
    target: float,
    weight: np.ndarray,
    travel: np.ndarray | None,
) -> list[Block]:
    """Acute episodes until at least ``target`` valid claims (topped up if validity filters
    removed too many)."""
    got: list[Block] = []
    have = 0
    for _ in range(5):
        n_acute = int((target - have) * 1.1) + 10
        b = _valid(acute(rng, cards, fac, cal, n_acute, weight, travel=travel), cards, cal.n_days)
        got.append(b)
        have += len(b)
        if have >= target:
            break
    return got


def _lookalikes(
    krng: np.random.Generator,
    normal: Block,
    n_special: int,
    cards: Cards,
    fac: Facilities,
    nd: int,
    pop: Population,
) -> tuple[Block, np.ndarray, dict[str, np.ndarray]]:
    """Legitimate look-alikes of abuse the population knobs ask for (rare diagnoses,
    same-day revisits, visits on admission days): the claims, the rows the exact count must
    keep, and the trap cards by kind."""
    protect = np.zeros(len(normal), bool)
    knob_traps: dict[str, np.ndarray] = {}
    if pop.rare_dx_share > 0:
        changed = kn.rare_diagnoses(krng, normal, n_special, cards, fac, pop.rare_dx_share)
        protect[changed] = True
        knob_traps["rare_diagnosis"] = np.unique(normal.card[changed])
    if pop.same_day_revisit_share > 0:
        new, orig = kn.same_day_revisits(krng, normal, n_special, pop.same_day_revisit_share)
        new = kn.outside_stays(normal, new)
        protect[orig] = True
        protect = np.r_[protect, np.ones(len(new), bool)]
        normal = concat([normal, new])
        knob_traps["same_day_revisit"] = np.unique(new.card)
    if pop.admission_day_visit_share > 0:
        new = kn.admission_day_visits(krng, normal, cards, fac, pop.admission_day_visit_share)
        new = kn.outside_stays(normal, kn.not_seen(normal, _valid(new, cards, nd)))
        protect = np.r_[protect, np.ones(len(new), bool)]
        normal = concat([normal, new])
        knob_traps["admission_day_visit"] = np.unique(new.card)
    return normal, protect, knob_traps


def _exact_count(
    rng: np.random.Generator,
    normal: Block,
    planted: Block,
    n_special: int,
    protect: np.ndarray,
    claims: int,
) -> Block:
    """Normal and planted claims together, exactly ``claims`` of them: surplus acute visits
    that carry nothing planted (and no look-alike) are dropped."""
    surplus = len(normal) + len(planted) - claims
    droppable = np.flatnonzero((np.arange(len(normal)) >= n_special) & (normal.scen < 0) & ~protect)
    if surplus > len(droppable) or surplus < 0:
        raise UserError(
            "planted abuse needs more claims than requested",
            where="generate",
            fix="ask for more claims or a lower --abuse-rate",
        )
    drop = rng.choice(droppable, max(surplus, 0), replace=False)
    keep = np.ones(len(normal), bool)
    keep[drop] = False
    return concat([normal.take(np.flatnonzero(keep)), planted])


def _planted(
    rng: np.random.Generator,
    plan: Plan | None,
    fplan: Plan | None,
    normal: Block,
    cards: Cards,
    fac: Facilities,
    cal: Calendar,
    volume: np.ndarray,
    claims: int,
    pop: Population,
) -> Block:
    """The planted abuse: abusive facilities' own claims changed in place (in ``normal``) and
    their extra claims, then the planted cards' claims."""
    parts = []
    if fplan is not None:
        modify_facility_claims(rng, fplan, normal, fac, pop.abuse_strength)
        budget = int(claims * 0.05)
        parts.append(
            facility_claims(rng, fplan, cards, fac, cal, volume, budget, pop.abuse_strength)
        )
    if plan is not None:
        parts.append(
            card_claims(rng, plan, cards, fac, cal, pop.abuse_strength, pop.borrowed_all_mismatch)
        )
    return concat(parts) if parts else normal.take(np.zeros(0, np.int64))


def _doctors(
    rng: np.random.Generator, fac: Facilities, allc: Block, busy_clinic: np.ndarray
) -> None:
    """Doctors for every claim; busy legitimate clinics get more of them, so their load per
    doctor stays under the cap."""
    if len(busy_clinic):
        kn.restaff_busy(fac, allc, busy_clinic)
    _assign_doctors(rng, fac, allc)
    if len(busy_clinic):
        kn.spread_doctors(fac, allc, busy_clinic)


def _trap_cards(
    sp: _Special,
    allc: Block,
    cards: Cards,
    fac: Facilities,
    travel: np.ndarray | None,
    knob_traps: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Heavy but legitimate cards by kind: what an honest detector must not take for abuse."""
    traps = {
        "dialysis": sp.dialysis,
        "chemotherapy": sp.chemotherapy,
        "antenatal": sp.antenatal,
        "elderly_multimorbid": sp.multimorbid,
        "frequent_child": sp.frequent_child,
    }
    if travel is not None:
        traps["traveller"] = kn.travelled(allc, cards, fac, travel)
    traps.update(knob_traps)
    return traps


def generate(
    claims: int,
    seed: int,
    start: str = "2024-01-01",
    months: int = 1,
    abuse_rate: float = 0.01,
    population: Population | None = None,
) -> SyntheticData:
    """A labelled synthetic dataset with exactly ``claims`` claims; same seed, same data.

    ``population`` sets the knobs of the normal population and of abuse strength
    (:class:`~claimguard.synth.variants.Population`); the default reproduces the
    historical output exactly. Knob effects draw from their own random stream.
    """
    t0 = _check(claims, start, months, abuse_rate)
    pop = population if population is not None else Population()
    rng = np.random.default_rng(seed)
    krng = np.random.default_rng([seed, 0x4B4E4F42])  # knob effects only
    cal = make_calendar(t0, months)
    nd = cal.n_days
    fac = make_facilities(rng, claims / months)
    n_cards = _n_cards(claims, nd, pop)
    # legitimate busy district hospitals draw four times their share of patients
    busy = _busy_districts(fac)
    fac.weight[busy] *= 4.0
    busy_clinic = kn.busy_clinics(krng, fac, busy, pop.busy_clinic_share)
    cards = make_cards(rng, n_cards, fac, nd, seed)
    _year_only_birth_dates(rng, cards, cal)
    central = np.flatnonzero(fac.tier == cat.CENTRAL)
    # abusive cards first: their registry entries (death, expiry) shape normal care
    used = np.zeros(cards.n, bool)
    k_card = max(4, round(abuse_rate * claims / 60)) if abuse_rate > 0 else 0
    plan = choose_cards(rng, cards, cal, k_card, used) if k_card else None
    special, sp = _special_care(rng, cards, fac, cal, used)
    weight = acute_weight(cards, sp.frequent_child, sp.multimorbid)
    if len(busy_clinic):  # their patients come back more often
        weight[np.isin(cards.reg_fac, busy_clinic)] *= 1.6
    travel = kn.travellers(krng, cards, pop.travel_share) if pop.travel_share > 0 else None
    target = _acute_target(claims, len(special), abuse_rate)
    got = _acute_care(rng, cards, fac, cal, target, weight, travel)
    normal, n_special = _drop_inside_stays(concat([special, *got]), len(special))
    del special, got
    # legitimate look-alikes of abuse, added after the clean-up; kept by the exact count
    normal, protect, knob_traps = _lookalikes(krng, normal, n_special, cards, fac, nd, pop)
    heavy = (busy_clinic, krng.uniform(55, 64, len(busy_clinic))) if len(busy_clinic) else None
    _staff(rng, fac, normal, cal, busy, heavy)
    volume = np.bincount(normal.fac, minlength=fac.n).astype(float)
    used_fac = np.zeros(fac.n, bool)
    used_fac[np.r_[busy, central, busy_clinic].astype(np.int64)] = True
    k_fac = max(2, round(abuse_rate * fac.n / 2)) if abuse_rate > 0 else 0
    fplan = choose_facilities(rng, fac, volume, k_fac, used_fac) if k_fac else None
    # facility drift (early-warning scenario) from its own stream: shorter data unchanged
    dplan = plant_drift(
        np.random.default_rng([seed, 0x44524654]), normal, n_special, fac, cal, volume, used_fac
    )
    planted = _planted(rng, plan, fplan, normal, cards, fac, cal, volume, claims, pop)
    allc = _exact_count(rng, normal, planted, n_special, protect, claims)
    _doctors(rng, fac, allc, busy_clinic)
    allc = allc.take(np.lexsort((allc.card, allc.fac, allc.minute, allc.day)))
    # free the intermediate blocks before the big string tables are built
    del normal, planted
    release_memory()
    traps = _trap_cards(sp, allc, cards, fac, travel, knob_traps)
    data = _assemble(
        rng, allc, cards, fac, cal, traps, central, busy, plan, fplan, busy_clinic, pop, krng
    )
    if dplan is not None:
        ids = np.array(
            [f"{cat.PROVINCE_CODES[p]}{k:03d}" for p, k in zip(fac.prov, fac.number, strict=True)]
        )
        data.labels = pd.concat([data.labels, drift_labels(dplan, ids)], ignore_index=True)
    return data


def _assemble(
    rng: np.random.Generator,
    b: Block,
    cards: Cards,
    fac: Facilities,
    cal: Calendar,
    card_traps: Any,
    central: Any,
    busy: Any,
    plan: Any,
    fplan: Any,
    busy_clinic: Any = None,
    pop: Population | None = None,
    krng: np.random.Generator | None = None,
) -> SyntheticData:
    t0 = cal.start
    n = len(b)
    prov_codes = cat.PROVINCE_CODES
    fac_ids = np.array(
        [f"{prov_codes[p]}{k:03d}" for p, k in zip(fac.prov, fac.number, strict=True)], dtype=object
    )
    assert fac.doctors is not None
    doc_fac = np.repeat(np.arange(fac.n), fac.doctors)
    doc_ids = np.array(
        [f"{i + 1:06d}/{prov_codes[fac.prov[f]]}-CCHN" for i, f in enumerate(doc_fac)], dtype=object
    )
    # card numbers: group letters + benefit level + province + 10 digits
    level = cat.GROUP_LEVEL[cards.group]
    card_arr = fr.join(
        pa.array(cat.GROUP_CODES.astype(object)).take(pa.array(cards.group.astype(np.int64))),
        fr.padded(level, 1),
        pa.array(prov_codes.astype(object)).take(pa.array(cards.prov.astype(np.int64))),
        fr.padded(cards.sin, 10),
    )
    card_ids = fr.strings(card_arr)
    # record ids (MA_LK): start month and a sequence number, 12 digits (e.g. 240100001234)
    claim_ids = fr.strings(fr.join(f"{t0:%y%m}", fr.padded(np.arange(n), 8)))
    # ground truth: planted claims, and labels for every entity that got any
    pl = np.flatnonzero(b.scen >= 0)
    scen = b.scen[pl]
    is_card = np.isin(scen, [SCENARIOS.index(s) for s in CARD_SCENARIOS])
    ent = b.ent[pl]
    ent_ids = np.where(
        is_card, _ids(card_ids, np.where(is_card, ent, 0)), fac_ids[np.where(is_card, 0, ent)]
    )
    scen_names = np.array(SCENARIOS, dtype=object)[scen]
    truth = pd.DataFrame(
        {
            "claim_id": _ids(claim_ids, pl),
            "entity_type": np.where(is_card, "card", "facility"),
            "entity_id": ent_ids,
            "scenario": scen_names,
        }
    ).astype("str")
    variant_rows = []
    for p, kind in ((plan, "card"), (fplan, "facility")):
        if p is None:
            continue
        for name, (idx, strong) in (p.cards if kind == "card" else p.facilities).items():
            ids = _ids(card_ids, idx) if kind == "card" else fac_ids[idx]
            variant_rows.append(
                pd.DataFrame(
                    {
                        "entity_type": kind,
                        "entity_id": ids,
                        "scenario": name,
                        "variant": np.where(strong, "strong", "subtle"),
                    }
                )
            )
    labels = (
        pd.concat(variant_rows, ignore_index=True)
        if variant_rows
        else pd.DataFrame(columns=["entity_type", "entity_id", "scenario", "variant"])
    )
    present = truth[["entity_type", "entity_id", "scenario"]].drop_duplicates()
    labels = labels.merge(present, on=["entity_type", "entity_id", "scenario"], how="inner").astype(
        "str"
    )
    labels = labels.sort_values(["entity_type", "scenario", "entity_id"], ignore_index=True)
    traps = _traps(b, card_traps, card_ids, fac_ids, central, busy, labels, busy_clinic)
    price_factor = np.exp(rng.normal(0, 0.04, fac.n)) * np.where(
        np.isin(prov_codes[fac.prov], cat.CENTRAL_PROVINCES), 1.08, 1.0
    )
    admit_min = b.day.astype(np.int64) * 1440 + b.minute
    claim_lines, total, drug_cost, supply_cost = line_table(
        rng,
        b,
        fac,
        price_factor,
        claim_ids.array._pa_array,  # noqa: SLF001
        fr.dictionary(doc_ids),
        t0,
        admit_min,
    )
    release_memory()
    # claim columns one at a time, each temporary freed before the next (peak memory)
    cl: dict[str, object] = {"claim_id": claim_ids}
    c = b.card
    cl["card_id"] = card_ids.take(c).reset_index(drop=True)
    cl["facility_id"] = fr.take(fac_ids, b.fac)
    _free(b, "fac", "tmult", "dmult", "smult", "thin", "scen", "ent")
    inp = b.vtype == INP
    dis_min = np.where(
        inp, (b.day.astype(np.int64) + b.los) * 1440 + rng.integers(450, 690, n), admit_min + b.dur
    )
    np.maximum(dis_min, admit_min, out=dis_min)
    cl["admit_time"] = fr.minutes_to_times(t0, admit_min, inplace=True)
    cl["discharge_time"] = fr.minutes_to_times(t0, dis_min, inplace=True)
    del admit_min, dis_min
    _free(b, "day", "minute", "los", "dur")
    cl["visit_type"] = fr.category(b.vtype, schema.VISIT_TYPES)
    cl["primary_dx"] = fr.take(cat.DX_CODES, b.dx)
    noise = (
        kn.noise_masks(krng, n, pop.noise_share) if pop is not None and krng is not None else None
    )
    if noise is not None:  # data-entry noise: the claim's optional copies blank or wrong
        b.dx2[noise["secondary_dx"]] = -1
        b.dx3[noise["secondary_dx"]] = -1
    cl["secondary_dx"] = fr.join_codes(cat.DX_CODES, b.dx2, b.dx3)
    _free(b, "dx2", "dx3")
    cl["total_cost"] = total
    cl["insurance_paid"] = np.round(total * cat.BENEFIT_SHARE[level[c]])
    cl["drug_cost"] = drug_cost
    cl["supply_cost"] = supply_cost
    if noise is not None:
        assert krng is not None
        birth = kn.wrong_birth(krng, cards.birth[c], noise["patient_birth_date"])
        sex = np.where(noise["patient_sex"], 1 - cards.sex[c], cards.sex[c])
        reg = np.where(noise["registered_facility_id"], -1, cards.reg_fac[c])
        cl["patient_birth_date"] = fr.days_to_dates(t0, birth)
        cl["patient_sex"] = fr.category(sex, schema.SEXES)
        cl["registered_facility_id"] = fr.take(fac_ids, reg)
        del birth, sex, reg
    else:
        cl["patient_birth_date"] = fr.days_to_dates(t0, cards.birth[c])
        cl["patient_sex"] = fr.category(cards.sex[c], schema.SEXES)
        cl["registered_facility_id"] = fr.take(fac_ids, cards.reg_fac[c])
    cl["card_valid_from"] = fr.days_to_dates(t0, cards.valid_from[c])
    cl["card_valid_to"] = fr.days_to_dates(t0, cards.valid_to[c])
    cl["doctor_id"] = fr.take(doc_ids, b.doctor)
    del c
    _free(b, "doctor", "card")
    depts = np.array(sorted({x.dept for x in cat.CONDITIONS}), dtype=object)
    cl["department_id"] = fr.take(depts, np.searchsorted(depts, cat.condition_array("dept"))[b.dx])
    cl["referral_from"] = fr.take(fac_ids, b.ref_from)
    _free(b, "ref_from", "dx")
    outcome = np.where(
        inp,
        rng.choice(np.array([0, 1, 2, 3], np.int8), n, p=[0.42, 0.52, 0.04, 0.02]),
        np.where(
            b.refill > 0,
            rng.choice(np.array([1, 2], np.int8), n, p=[0.4, 0.6]),
            rng.choice(np.array([0, 1, 2, 5], np.int8), n, p=[0.25, 0.65, 0.08, 0.02]),
        ),
    )
    outcome[b.died] = 4
    cl["outcome"] = fr.category(outcome, schema.OUTCOMES)
    del outcome, inp
    cl["sick_leave_days"] = b.sick.astype(np.float64)
    claims = pd.DataFrame(
        cl,
        copy=False,
    )
    facilities = pd.DataFrame(
        {
            "facility_id": fr.take(fac_ids, np.arange(fac.n)),
            "province": fr.take(prov_codes.astype(object), fac.prov),
            "tier": fr.category(fac.tier, schema.TIERS),
            "kind": fr.category(fac.kind, schema.FACILITY_KINDS),
            "beds": fac.beds.astype(np.float64),
        }
    )
    cards_df = pd.DataFrame(
        {
            "card_id": card_ids,
            "birth_date": fr.days_to_dates(t0, cards.birth),
            "sex": fr.category(cards.sex, schema.SEXES),
            "province": fr.take(prov_codes.astype(object), cards.prov),
            "registered_facility_id": fr.take(fac_ids, cards.reg_fac),
            "valid_from": fr.days_to_dates(t0, cards.valid_from),
            "valid_to": fr.days_to_dates(t0, cards.valid_to),
            "death_date": fr.days_to_dates(
                t0, np.minimum(cards.death, 100_000), cards.death == NO_DAY
            ),
        }
    )
    tables = {
        "claims": fr.ordered(claims, schema.CLAIMS),
        "claim_lines": fr.ordered(claim_lines, schema.CLAIM_LINES),
        "facilities": facilities,
        "cards": cards_df,
    }
    if pop is not None and pop.absent_columns:
        tables = kn.drop_columns(tables, pop.absent_columns)
    return SyntheticData(
        claims=tables["claims"],
        claim_lines=tables["claim_lines"],
        facilities=tables["facilities"],
        cards=tables["cards"],
        labels=labels,
        traps=traps,
        truth_claims=truth,
    )


def _traps(
    b: Block,
    card_traps: dict[str, np.ndarray],
    card_ids: pd.Series,
    fac_ids: np.ndarray,
    central: np.ndarray,
    busy: np.ndarray,
    labels: pd.DataFrame,
    busy_clinic: np.ndarray | None = None,
) -> pd.DataFrame:
    """Legitimate heavy users with care in the period (frequent children: 2+ visits)."""
    visits = np.bincount(b.card[b.scen < 0], minlength=len(card_ids))
    rows = []
    for kind, idx in card_traps.items():
        idx = idx[visits[idx] >= (2 if kind == "frequent_child" else 1)]
        rows.append(
            pd.DataFrame({"entity_type": "card", "entity_id": _ids(card_ids, idx), "kind": kind})
        )
    rows.append(
        pd.DataFrame(
            {"entity_type": "facility", "entity_id": fac_ids[central], "kind": "central_hospital"}
        )
    )
    rows.append(
        pd.DataFrame(
            {
                "entity_type": "facility",
                "entity_id": fac_ids[busy],
                "kind": "busy_district_hospital",
            }
        )
    )
    if busy_clinic is not None and len(busy_clinic):
        rows.append(
            pd.DataFrame(
                {
                    "entity_type": "facility",
                    "entity_id": fac_ids[busy_clinic],
                    "kind": "busy_clinic",
                }
            )
        )
    traps = pd.concat(rows, ignore_index=True).astype("str")
    bad = traps["entity_id"].isin(labels["entity_id"])
    return traps[~bad].drop_duplicates(["entity_type", "entity_id"]).reset_index(drop=True)


def _free(b: Block, *names: str) -> None:
    """Release block columns that are no longer needed (peak memory at 10M claims)."""
    for name in names:
        setattr(b, name, np.empty(0, getattr(b, name).dtype))


def _ids(ids: pd.Series, idx: np.ndarray) -> np.ndarray:
    """Some of a large string column as a NumPy object array."""
    return ids.iloc[np.asarray(idx, dtype=np.int64)].to_numpy(dtype=object)


def write_synthetic(data: SyntheticData, out_dir: Path) -> None:
    """Write the four tables as Parquet plus labels.csv, traps.csv and truth_claims.parquet."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("claims", "claim_lines", "facilities", "cards"):
        getattr(data, name).to_parquet(out / f"{name}.parquet", index=False)
    write_csv(data.labels, out / "labels.csv")
    write_csv(data.traps, out / "traps.csv")
    data.truth_claims.to_parquet(out / "truth_claims.parquet", index=False)
