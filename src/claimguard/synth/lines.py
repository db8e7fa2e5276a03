"""Claim lines (drugs, services, supplies) for every visit, fully vectorised.

Counts per visit come from the diagnosis, the tier, the visit type and the
visit's intensity multipliers (which is where over-billing is planted); items
are drawn from the condition's drug classes and the test/imaging/supply pools;
prices vary by province and facility. Claim totals are sums of their lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from claimguard import schema
from claimguard.synth import catalog as cat
from claimguard.synth import frames as fr
from claimguard.synth.blocks import INP, Block
from claimguard.synth.population import Facilities

DRUG, SERVICE, SUPPLY = 0, 1, 2
# drugs given per administration (vials, infusions) rather than dispensed for days
_PER_DOSE = np.isin(
    [d.group for d in cat.DRUGS], ["chemo", "fluid", "antibiotic_iv", "oxytocic", "epo"]
)
_ALWAYS_PROCEDURE = np.isin(
    cat.DX_CODES, ["N18.5", "C50.9", "C34.9", "C18.9", "C22.0", "S61.0", "O80", "O82"]
)
_IMPLANT_DX = np.isin(cat.DX_CODES, ["S82.2"])
_DIALYSIS_DX = cat.DX_INDEX["N18.5"]
_PROC_ITEM = np.array([cat.SERVICE_INDEX.get(c.procedure, -1) for c in cat.CONDITIONS])


@dataclass
class Lines:
    """Line arrays; ``claim`` indexes the claims block."""

    claim: np.ndarray
    kind: np.ndarray  # DRUG / SERVICE / SUPPLY
    item: np.ndarray  # index into the kind's catalogue
    quantity: np.ndarray
    amount: np.ndarray
    days_supply: np.ndarray  # NaN for services/supplies
    offset_min: np.ndarray  # order time minus admit time, minutes


def _pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.integers(0, len(pool), n)]


@dataclass
class Counts:
    """Per-claim line counts (drawn once for all claims, so outputs can be preallocated)."""

    n_lab: np.ndarray
    n_img: np.ndarray
    n_drug: np.ndarray
    n_sup: np.ndarray
    has_proc: np.ndarray
    implant: np.ndarray

    def take(self, idx: slice) -> Counts:
        return Counts(
            *(
                getattr(self, f)[idx]
                for f in ("n_lab", "n_img", "n_drug", "n_sup", "has_proc", "implant")
            )
        )

    def lines(self, inp: np.ndarray) -> np.ndarray:
        """Lines per claim: exam, bed day (inpatients), procedure, tests, drugs, supplies."""
        return np.asarray(
            1
            + inp.astype(np.int64)
            + self.has_proc
            + self.n_lab
            + self.n_img
            + self.n_drug
            + self.n_sup
        )


def line_counts(rng: np.random.Generator, b: Block, fac: Facilities) -> Counts:
    """How many lines of each kind every claim gets."""
    n = len(b)
    tier = fac.tier[b.fac]
    inp = b.vtype == INP
    stay = np.maximum(b.los, 1).astype(np.float64)
    thin = b.thin
    dx = b.dx
    tm = b.tmult.astype(np.float64)
    lab_mu = (
        cat.condition_array("lab")[dx]
        * cat.TIER_TEST_FACTOR[tier]
        * tm
        * np.where(inp, 1.4 + 0.12 * stay, 1.0)
    )
    img_mu = (
        cat.condition_array("img")[dx] * cat.TIER_IMG_FACTOR[tier] * tm * np.where(inp, 1.3, 1.0)
    )
    n_lab = np.where(thin, 0, rng.poisson(lab_mu))
    n_img = np.where(thin, 0, rng.poisson(img_mu))
    drugs_mu = cat.condition_array("drugs")[dx] * b.dmult
    n_drug = np.where(
        b.refill > 0,
        1 + rng.poisson(np.maximum(drugs_mu - 1, 0) * np.minimum(b.dmult, 1) + 0.6 * (b.dx2 >= 0)),
        rng.poisson(drugs_mu + np.where(inp, 1.5, 0.0)),
    )
    n_drug = np.where(thin, rng.random(n) < 0.6, n_drug)
    sup_mu = cat.condition_array("supply")[dx] * b.smult * np.where(inp, 2.0, 1.0)
    n_sup = np.where(thin, 0, rng.poisson(sup_mu) + inp)
    n_sup = n_sup + 2 * ((dx == _DIALYSIS_DX) & ~thin)
    has_proc = (_PROC_ITEM[dx] >= 0) & (inp | _ALWAYS_PROCEDURE[dx]) & ~thin
    implant = _IMPLANT_DX[dx] & inp & (rng.random(n) < 0.6)
    i32 = np.int32
    return Counts(
        n_lab.astype(i32),
        n_img.astype(i32),
        n_drug.astype(i32),
        n_sup.astype(i32),
        has_proc,
        implant,
    )


def _imaging_items(rng: np.random.Generator, img_tier: np.ndarray) -> np.ndarray:
    """An imaging service per imaging line, by the facility's tier: CT and MRI (pool
    positions 3-5) are rare below provincial hospitals."""
    w = np.tile(cat.IMG_WEIGHT, (5, 1))
    w[2:, 3:6] *= 0.25
    w[3, 3:6] = 0.0
    img_choice = np.empty(len(img_tier), np.int16)
    for t in range(5):
        sel = np.flatnonzero(img_tier == t)
        img_choice[sel] = cat.IMG_POOL[rng.choice(len(cat.IMG_POOL), len(sel), p=w[t] / w[t].sum())]
    return img_choice


def _drug_items(
    rng: np.random.Generator, b: Block, d_claim: np.ndarray, d_pos: np.ndarray, n_drugs: np.ndarray
) -> np.ndarray:
    """A drug per drug line: from the primary diagnosis' classes, the last line of a claim
    from the secondary diagnosis' when it has one."""
    src = b.dx[d_claim]
    use2 = (b.dx2[d_claim] >= 0) & (d_pos == n_drugs - 1) & (d_pos > 0)
    src = np.where(use2, b.dx2[d_claim], src)
    off, pool = cat.drug_classes()
    width = off[src + 1] - off[src]
    return np.asarray(pool[off[src] + (rng.random(len(src)) * width).astype(np.int64)])


def _supply_items(
    rng: np.random.Generator,
    s_claim: np.ndarray,
    s_pos: np.ndarray,
    surgery: np.ndarray,
    implant: np.ndarray,
    dial: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A supply per supply line (basic, surgical for inpatient procedures, the implant, a
    dialysis set) and which lines are dialysis sets."""
    sup = _pick(rng, cat.BASIC_SUPPLY, len(s_claim))
    surgical = surgery[s_claim] & (rng.random(len(s_claim)) < 0.4)
    sup = np.where(surgical, _pick(rng, cat.SURGICAL_SUPPLY, len(s_claim)), sup)
    sup = np.where(implant[s_claim] & (s_pos == 0), cat.SUPPLY_INDEX["N06.04.120"], sup)
    d_sup = dial[s_claim] & (s_pos < 2)
    sup = np.where(
        d_sup,
        np.where(s_pos == 0, cat.SUPPLY_INDEX["N04.03.010"], cat.SUPPLY_INDEX["N04.03.020"]),
        sup,
    )
    return sup, d_sup


def _drug_supply(
    rng: np.random.Generator,
    b: Block,
    di: np.ndarray,
    d_claim: np.ndarray,
    inp: np.ndarray,
    stay: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantity and days supplied of each drug line: a refill's days, the stay, or a
    course of a few days (thin visits at most 3); per-dose drugs one or two doses."""
    per_dose = _PER_DOSE[di]
    refill = b.refill[d_claim].astype(np.float64)
    course = np.array([3.0, 5, 5, 7, 7, 10])[rng.integers(0, 6, len(d_claim))]
    d_days = np.where(refill > 0, refill, np.where(inp[d_claim], stay[d_claim], course))
    d_days = np.where(b.thin[d_claim], np.minimum(d_days, 3), d_days)
    d_qty = np.ceil(d_days * cat.DRUG_PER_DAY[di])
    d_qty = np.where(per_dose & ~inp[d_claim], 1 + (rng.random(len(di)) < 0.3), d_qty)
    d_days = np.where(per_dose & ~inp[d_claim], 1, d_days)
    return np.maximum(d_qty, 1), d_days


def _service_items(
    rng: np.random.Generator,
    pos: np.ndarray,
    c_inp: np.ndarray,
    c_proc: np.ndarray,
    c_lab: np.ndarray,
    c_srv: np.ndarray,
    line_dx: np.ndarray,
    line_tier: np.ndarray,
) -> np.ndarray:
    """The service of each line (-1 on other lines), by its position in the claim's layout
    [exam, bed?, procedure?, labs, imaging]."""
    srv_item = np.full(len(pos), -1, np.int16)
    srv_item[pos == 0] = cat.SERVICE_INDEX["02.1896"]
    srv_item[(c_inp == 1) & (pos == 1)] = cat.SERVICE_INDEX["K03.1906"]
    proc_pos = (c_proc == 1) & (pos == 1 + c_inp)
    srv_item[proc_pos] = _PROC_ITEM[line_dx[proc_pos]]
    first_test = 1 + c_inp + c_proc
    lab_pos = (pos >= first_test) & (pos < first_test + c_lab)
    srv_item[lab_pos] = _pick(rng, cat.LAB_POOL, int(lab_pos.sum()))
    img_pos = (pos >= first_test + c_lab) & (pos < c_srv)
    srv_item[img_pos] = _imaging_items(rng, line_tier[img_pos])
    return srv_item


def _amounts(
    item: np.ndarray,
    kind: np.ndarray,
    quantity: np.ndarray,
    exam: np.ndarray,
    bed_pos: np.ndarray,
    line_tier: np.ndarray,
    pf: np.ndarray,
) -> np.ndarray:
    """Amount of each line: quantity x the catalogue price (exam and bed by tier), services
    slightly cheaper below provincial hospitals, drugs and supplies at the facility's prices."""
    is_drug, is_sup, is_srv = kind == DRUG, kind == SUPPLY, kind == SERVICE
    unit = np.empty(len(item))
    unit[is_drug] = cat.DRUG_PRICE[item[is_drug]]
    unit[is_sup] = cat.SUPPLY_PRICE[item[is_sup]]
    unit[is_srv] = cat.SERVICE_PRICE[item[is_srv]]
    unit[exam] = cat.EXAM_PRICE[line_tier[exam]]
    unit[bed_pos] = cat.BED_PRICE[line_tier[bed_pos]]
    scale = np.where(
        is_srv, np.where(exam | bed_pos, 1.0, 0.97 + 0.03 * (line_tier <= cat.PROVINCIAL)), pf
    )
    return np.asarray(np.round(quantity * unit * scale))


def make_lines(
    rng: np.random.Generator, b: Block, fac: Facilities, price_factor: np.ndarray, k: Counts
) -> Lines:
    """All lines of the claims in ``b`` (with counts ``k``), ordered by claim."""
    n = len(b)
    tier = fac.tier[b.fac]
    inp = b.vtype == INP
    stay = np.maximum(b.los, 1).astype(np.float64)
    thin = b.thin
    dx = b.dx
    n_lab, n_img, has_proc, implant = (
        k.n_lab.astype(np.int64),
        k.n_img.astype(np.int64),
        k.has_proc,
        k.implant,
    )
    n_drug, n_sup = k.n_drug.astype(np.int64), k.n_sup.astype(np.int64)
    dial = (dx == _DIALYSIS_DX) & ~thin
    n_srv = 1 + inp + has_proc + n_lab + n_img
    counts = n_srv + n_drug + n_sup
    total = int(counts.sum())
    claim = np.repeat(np.arange(n, dtype=np.int32), counts)
    start = np.cumsum(counts) - counts
    pos = np.arange(total, dtype=np.int64) - np.repeat(start, counts)  # position within claim
    # layout inside a claim: [exam, bed?, procedure?, labs, imaging, drugs, supplies]
    c_inp = np.repeat(inp.astype(np.int64), counts)
    c_proc = np.repeat(has_proc.astype(np.int64), counts)
    c_lab = np.repeat(n_lab, counts)
    c_srv = np.repeat(n_srv, counts)
    c_drug = np.repeat(n_drug, counts)
    kind = np.where(pos < c_srv, SERVICE, np.where(pos < c_srv + c_drug, DRUG, SUPPLY)).astype(
        np.int8
    )
    item = np.zeros(total, np.int16)
    bed_pos = (c_inp == 1) & (pos == 1)
    srv_item = _service_items(rng, pos, c_inp, c_proc, c_lab, c_srv, dx[claim], tier[claim])
    is_srv = kind == SERVICE
    item[is_srv] = srv_item[is_srv]
    # drugs: from the primary diagnosis' classes; the last line from the secondary one
    is_drug = kind == DRUG
    d_claim = claim[is_drug]
    item[is_drug] = _drug_items(rng, b, d_claim, pos[is_drug] - c_srv[is_drug], c_drug[is_drug])
    # supplies: dialysis sets, implants, surgical and basic supplies
    is_sup = kind == SUPPLY
    s_claim = claim[is_sup]
    s_pos = pos[is_sup] - c_srv[is_sup] - c_drug[is_sup]
    sup, d_sup = _supply_items(rng, s_claim, s_pos, has_proc & inp, implant, dial)
    item[is_sup] = sup
    # quantities, days supply, amounts
    quantity = np.ones(total, np.float64)
    days = np.full(total, np.nan)
    quantity[bed_pos] = stay[claim[bed_pos]]
    di = item[is_drug]
    quantity[is_drug], days[is_drug] = _drug_supply(rng, b, di, d_claim, inp, stay)
    quantity[is_sup] = np.where(
        d_sup | (sup == cat.SUPPLY_INDEX["N06.04.120"]), 1, 1 + rng.poisson(1.2 * b.smult[s_claim])
    )
    exam = pos == 0
    amount = _amounts(item, kind, quantity, exam, bed_pos, tier[claim], price_factor[b.fac[claim]])
    # order time: at admission for the exam, later during the visit or stay for the rest
    span = np.where(inp, stay * 1440, b.dur.astype(np.float64))[claim]
    offset = np.where(exam, 0, np.floor(rng.random(total) * np.maximum(span, 1))).astype(np.int32)
    return Lines(claim, kind, item, quantity, amount, days, offset)


CHUNK = 250_000  # claims per batch: bounds the temporaries of make_lines
_ITEM_CODES = fr.dictionary(np.concatenate([cat.DRUG_CODES, cat.SERVICE_CODES, cat.SUPPLY_CODES]))
_EXAM_ITEM = cat.SERVICE_INDEX["02.1896"]
_ITEM_OFF = np.array([0, len(cat.DRUG_CODES), len(cat.DRUG_CODES) + len(cat.SERVICE_CODES)])


def line_table(
    rng: np.random.Generator,
    b: Block,
    fac: Facilities,
    price_factor: np.ndarray,
    claim_ids: pa.Array,
    doctor_ids: pa.Array,
    start: pd.Timestamp,
    admit_min: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The canonical claim_lines table plus per-claim total, drug and supply cost.

    Works through the claims in batches so that ten million claims (fifty
    million lines) never hold more than one batch of temporaries; string
    columns stay as arrow chunks. The line ``doctor_id`` is filled on the
    examination line only (as in XML 130, where the exam line carries the
    examining doctor); other lines leave it empty, which also saves about 0.5 GB
    at ten million claims.
    """
    n = len(b)
    counts = line_counts(rng, b, fac)
    per_claim = counts.lines(b.vtype == INP)
    off = np.zeros(n + 1, np.int64)
    np.cumsum(per_claim, out=off[1:])
    total_lines = int(off[-1])
    # preallocated outputs: batches write into slices, so nothing accumulates in small pieces
    kind = np.empty(total_lines, np.int8)
    qty = np.empty(total_lines)
    amount = np.empty(total_lines)
    days = np.empty(total_lines)
    order = np.empty(total_lines, np.int64)
    total = np.zeros(n)
    drug = np.zeros(n)
    supply = np.zeros(n)
    strs: dict[str, list[Any]] = {"claim_id": [], "item": [], "doctor": []}
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        part = b.take(np.arange(lo, hi))
        ln = make_lines(rng, part, fac, price_factor, counts.take(slice(lo, hi)))
        m = hi - lo
        a, z = off[lo], off[hi]
        kind[a:z] = ln.kind
        qty[a:z] = ln.quantity
        amount[a:z] = ln.amount
        days[a:z] = ln.days_supply
        glob = ln.claim.astype(np.int64) + lo
        order[a:z] = admit_min[glob] + ln.offset_min
        total[lo:hi] = np.bincount(ln.claim, weights=ln.amount, minlength=m)
        drug[lo:hi] = np.bincount(
            ln.claim, weights=np.where(ln.kind == DRUG, ln.amount, 0.0), minlength=m
        )
        supply[lo:hi] = np.bincount(
            ln.claim, weights=np.where(ln.kind == SUPPLY, ln.amount, 0.0), minlength=m
        )
        strs["claim_id"].append(claim_ids.take(pa.array(glob)))
        strs["item"].append(
            fr.take_arrow(_ITEM_CODES, ln.item.astype(np.int64) + _ITEM_OFF[ln.kind])
        )
        # the examining doctor is recorded on the examination line (XML3 MA_NHOM 13)
        doc = np.where(ln.item == _EXAM_ITEM, part.doctor[ln.claim], -1)
        doc[ln.kind != SERVICE] = -1
        strs["doctor"].append(fr.take_arrow(doctor_ids, doc))
        del ln, part, glob, doc
    frame = pd.DataFrame(
        {
            "claim_id": fr.chunked_strings(strs.pop("claim_id")),
            "line_type": fr.category(kind, schema.LINE_TYPES),
            "item_code": fr.chunked_strings(strs.pop("item")),
            "quantity": qty,
            "amount": amount,
            "days_supply": days,
            "doctor_id": fr.chunked_strings(strs.pop("doctor")),
            "order_time": fr.minutes_to_times(start, order, inplace=True),
        },
        copy=False,
    )
    return frame, total, drug, supply
