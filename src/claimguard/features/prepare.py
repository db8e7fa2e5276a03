"""Claims as compact NumPy arrays sorted by (card, admit time): the input of every feature.

Why: every card feature is a scan over one card's claims in time order, and every
facility feature a bincount over integer codes. Doing the string work once (ids to
int32 codes, joins with the reference tables through Arrow hash kernels) and keeping
int32/float32 arrays keeps 10M claims within seconds and a few GB (docs/contract.md section 6).
Nothing here mutates its inputs.

``prepare`` runs named steps, each returning a small typed record: the period's claims,
their order by card, the diagnoses, the card holder, the facilities, and the claim
columns that fall back on the card registry; then the claim lines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from claimguard.features import clinical
from claimguard.features.claim_lines import LineAgg, aggregate_lines
from claimguard.features.encode import (
    DAY_S,
    NAT_S,
    NO_DAY_LO,
    enum_codes,
    factorize,
    present,
    release_arrow_memory,
    seconds,
)
from claimguard.features.references import (
    NOT_IN_PERIOD,
    REGISTRATION_UNKNOWN,
    UNKNOWN_TIER,
    card_registry,
    claim_facts,
    facility_registry,
    fill_home_province,
    holder,
)
from claimguard.schema import VISIT_TYPES

__all__ = [
    "INPATIENT",
    "NOT_IN_PERIOD",
    "OUTPATIENT",
    "REGISTRATION_UNKNOWN",
    "UNKNOWN_TIER",
    "Prepared",
    "period_of",
    "prepare",
]

log = logging.getLogger(__name__)

INPATIENT = VISIT_TYPES.index("inpatient")
OUTPATIENT = VISIT_TYPES.index("outpatient")


@dataclass(frozen=True)
class Prepared:
    """One period's claims, sorted by (card, admit time), as arrays; see module doc.

    Times are seconds since the epoch (``_s``) or days since the epoch (``_day``), in the
    fund's local time; codes are -1 where unknown unless a field says otherwise.
    """

    n: int  # claims in the period
    order: np.ndarray  # row in the input claims of each sorted claim
    card: np.ndarray  # int32 card code (position in card_ids)
    card_ids: Any  # pandas string array (millions of ids)
    card_start: np.ndarray  # int64 first sorted claim of each card, and n at the end
    fac: np.ndarray  # int32 facility code (position in fac_ids)
    fac_ids: np.ndarray  # facility ids, sorted
    admit_s: np.ndarray
    discharge_s: np.ndarray  # admit time when missing or earlier
    day: np.ndarray  # admit day
    discharge_day: np.ndarray
    visit_type: np.ndarray  # int8 code in schema.VISIT_TYPES
    dx3: np.ndarray  # int32 code of the 3-character primary diagnosis in dx3_vocab
    dx3_vocab: np.ndarray
    dx4: np.ndarray
    dx4_vocab: np.ndarray
    dx_raw_vocab: np.ndarray  # distinct primary diagnoses as written
    cost: np.ndarray  # float64 total cost, 0 when missing
    period_start_day: int
    period_end_day: int
    available: frozenset[str]  # "table.column" with at least one value
    sex: np.ndarray  # int8 clinical.MALE / clinical.FEMALE / 0 unknown
    age: np.ndarray  # float32 years at admission, NaN unknown
    age_band: np.ndarray
    dx_sex: np.ndarray  # int8 sex the diagnoses require (clinical codes, 3 = conflicting)
    dx_min_age: np.ndarray
    dx_max_age: np.ndarray
    fac_tier: np.ndarray  # int8 per facility, UNKNOWN_TIER when unknown
    fac_prov: np.ndarray  # int32 province code per facility
    home_prov: np.ndarray  # int32 province code per card
    registered: np.ndarray  # int32 facility code, NOT_IN_PERIOD or REGISTRATION_UNKNOWN
    referred: np.ndarray  # bool
    valid_from: np.ndarray  # int32 day, NO_DAY_LO when unknown
    valid_to: np.ndarray  # int32 day, NO_DAY_HI when unknown
    death: np.ndarray  # int32 day, NO_DAY_HI when unknown
    doctor: np.ndarray  # int32 doctor code, -1 unknown
    sick_days: np.ndarray  # float32, NaN unknown
    drug_cost: np.ndarray | None  # only without claim lines (treatment amount fallback)
    supply_cost: np.ndarray | None
    lines: LineAgg | None

    @property
    def period_days(self) -> int:
        return int(self.period_end_day - self.period_start_day + 1)

    @property
    def n_cards(self) -> int:
        return len(self.card_ids)

    @property
    def n_facilities(self) -> int:
        return len(self.fac_ids)

    @property
    def tier(self) -> np.ndarray:
        """Tier code of each claim's facility (UNKNOWN_TIER when unknown)."""
        return np.asarray(self.fac_tier[self.fac])

    def has(self, *requires: str) -> bool:
        """True when every requirement ('table.column', alternatives joined by '|') is met."""
        return all(any(a in self.available for a in r.split("|")) for r in requires)


def period_of(claims: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Default period: first .. last admit day of the claims."""
    sec = seconds(claims["admit_time"])
    sec = sec[sec != NAT_S]
    if len(sec) == 0:
        t = pd.Timestamp("1970-01-01")
        return t, t
    lo = pd.Timestamp(int(sec.min() // DAY_S) * DAY_S, unit="s")
    hi = pd.Timestamp(int(sec.max() // DAY_S) * DAY_S, unit="s")
    return lo, hi


def _day_of(t: pd.Timestamp) -> int:
    return int(pd.Timestamp(t).normalize().value // (DAY_S * 10**9))


def _available(
    claims: pd.DataFrame,
    claim_lines: pd.DataFrame | None,
    cards: pd.DataFrame | None,
    facilities: pd.DataFrame | None,
) -> set[str]:
    """Every "table.column" with at least one value."""
    available = {f"claims.{c}" for c in claims.columns if present(claims, c)}
    for name, df in (("claim_lines", claim_lines), ("cards", cards), ("facilities", facilities)):
        if df is not None and len(df.columns):
            available |= {f"{name}.{c}" for c in df.columns if present(df, c)}
    return available


@dataclass(frozen=True)
class _InPeriod:
    """The claims admitted inside the period: their rows in the input, and the frame."""

    rows: np.ndarray
    claims: pd.DataFrame
    admit_s: np.ndarray  # of the kept claims, input order


def _in_period(claims: pd.DataFrame, start_day: int, end_day: int) -> _InPeriod:
    admit_all = seconds(claims["admit_time"])
    day_all = np.where(admit_all == NAT_S, NO_DAY_LO, admit_all // DAY_S)
    rows = np.flatnonzero((day_all >= start_day) & (day_all <= end_day))
    if len(rows) < len(claims):
        log.info("%d claims outside the period were left out", len(claims) - len(rows))
    kept = claims.iloc[rows] if len(rows) < len(claims) else claims
    return _InPeriod(rows, kept, admit_all[rows])


@dataclass(frozen=True)
class CardOrder:
    """Sort of the period's claims by (card, admit time)."""

    srt: np.ndarray  # position in the period's claims of each sorted claim
    card: np.ndarray
    card_ids: Any
    card_start: np.ndarray
    admit_s: np.ndarray  # sorted
    day: np.ndarray  # sorted


def _order_by_card(c: pd.DataFrame, admit: np.ndarray) -> CardOrder:
    """Cards in order of first appearance (sorting millions of ids costs seconds)."""
    card_codes, card_ids = factorize(c["card_id"], as_object=False)
    release_arrow_memory()
    key = card_codes.astype(np.int64) << 34 | (admit - admit.min() if len(admit) else admit)
    srt = np.argsort(key, kind="stable")
    del key
    card = card_codes[srt].astype(np.int32)
    card_start = np.searchsorted(card, np.arange(len(card_ids) + 1)).astype(np.int64)
    admit = admit[srt]
    return CardOrder(srt, card, card_ids, card_start, admit, (admit // DAY_S).astype(np.int32))


@dataclass(frozen=True)
class _Diagnoses:
    """Primary diagnosis codes (3 and 4 characters) and what the diagnoses require."""

    dx3: np.ndarray
    dx3_vocab: np.ndarray
    dx4: np.ndarray
    dx4_vocab: np.ndarray
    raw_vocab: np.ndarray
    sex: np.ndarray
    min_age: np.ndarray
    max_age: np.ndarray


def _diagnoses(c: pd.DataFrame, srt: np.ndarray, available: set[str]) -> _Diagnoses:
    """Normalise the distinct codes only, then broadcast; constraints of primary and
    secondary diagnoses combined."""
    pdx_codes, pdx_vocab = factorize(c["primary_dx"], sort=True)
    raw = np.asarray(pdx_vocab, dtype=object)
    pdx_codes = pdx_codes[srt]
    dx3_of_pdx = clinical.normalise_dx(raw)
    dx3_idx, dx3_vocab = pd.factorize(np.append(dx3_of_pdx, ""), sort=True)
    dx3_vocab = np.asarray(dx3_vocab, dtype=object)
    dx3_codes = dx3_idx[np.where(pdx_codes >= 0, pdx_codes, len(dx3_of_pdx))]
    dx4_of_pdx = clinical.normalise_dx(raw, width=4)
    dx4_idx, dx4_vocab = pd.factorize(np.append(dx4_of_pdx, ""), sort=True)
    dx4_codes = dx4_idx[np.where(pdx_codes >= 0, pdx_codes, len(dx4_of_pdx))]
    psex, plo, phi = clinical.dx_constraints(dx3_vocab)
    dx_sex, dx_lo, dx_hi = psex[dx3_codes], plo[dx3_codes], phi[dx3_codes]
    if "claims.secondary_dx" in available:
        sec_codes, sec_vocab = factorize(c["secondary_dx"])
        sec_codes = sec_codes[srt]
        ssex, slo, shi = clinical.secondary_constraints(np.asarray(sec_vocab, dtype=object))
        has = sec_codes >= 0
        sidx = np.where(has, sec_codes, 0)
        if len(sec_vocab):
            s_sex = np.where(has, ssex[sidx], 0)
            dx_sex = np.where(
                (dx_sex == 0), s_sex, np.where((s_sex != 0) & (s_sex != dx_sex), 3, dx_sex)
            )
            dx_lo = np.maximum(dx_lo, np.where(has, slo[sidx], 0.0))
            dx_hi = np.minimum(dx_hi, np.where(has, shi[sidx], 200.0))
    return _Diagnoses(
        dx3=dx3_codes.astype(np.int32),
        dx3_vocab=dx3_vocab,
        dx4=dx4_codes.astype(np.int32),
        dx4_vocab=np.asarray(dx4_vocab, dtype=object),
        raw_vocab=raw,
        sex=dx_sex.astype(np.int8),
        min_age=dx_lo.astype(np.float32),
        max_age=dx_hi.astype(np.float32),
    )


def _discharge_s(
    c: pd.DataFrame, srt: np.ndarray, admit: np.ndarray, available: set[str]
) -> np.ndarray:
    """Discharge time, never before admission (the admission when missing)."""
    if "claims.discharge_time" not in available:
        return admit
    end = seconds(c["discharge_time"])[srt]
    return np.where(end == NAT_S, admit, np.maximum(end, admit))


def _lines(
    claim_lines: pd.DataFrame | None,
    period: _InPeriod,
    n_input: int,
    srt: np.ndarray,
    dx3: np.ndarray,
    available: set[str],
    line_rows: np.ndarray | None,
    dispensings: bool,
) -> LineAgg | None:
    """The claim lines folded onto the period's claims (None without lines)."""
    if claim_lines is None or not len(claim_lines) or "claim_lines.claim_id" not in available:
        return None
    at = None
    if line_rows is not None:  # rows in the input claims -> rows in the period's claims
        at = line_rows
        rows = period.rows
        if len(rows) < n_input:
            in_c = np.full(n_input + 1, -1, dtype=np.int32)
            in_c[rows] = np.arange(len(rows), dtype=np.int32)
            at = in_c[np.where(line_rows >= 0, line_rows, n_input)]
    return aggregate_lines(
        claim_lines, period.claims["claim_id"], srt, dx3, available, at, dispensings
    )


def _money(
    c: pd.DataFrame, srt: np.ndarray, col: str, available: set[str], lines: LineAgg | None
) -> np.ndarray | None:
    """A claim amount column, only as the treatment-amount fallback without claim lines."""
    if f"claims.{col}" not in available or lines is not None:
        return None
    return np.asarray(c[col].to_numpy(dtype=np.float64, na_value=np.nan)[srt])


def prepare(
    claims: pd.DataFrame,
    claim_lines: pd.DataFrame | None,
    cards: pd.DataFrame | None,
    facilities: pd.DataFrame | None,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    line_rows: np.ndarray | None = None,
    dispensings: bool = True,
) -> Prepared:
    """Sort, encode and join the canonical tables once for all features (see module doc).

    ``line_rows``: the row of each line's claim in ``claims`` (-1 unknown) when the caller
    already joined them (a partitioned build joins the month's lines once, not per
    partition: the string join of 5M line ids costs about a second). ``dispensings=False``
    skips the drug dispensings (only card features read them; a facility partition does
    not need them).
    """
    start_day, end_day = (_day_of(t) for t in (period or period_of(claims)))
    available = _available(claims, claim_lines, cards, facilities)
    kept = _in_period(claims, start_day, end_day)
    c = kept.claims
    order = _order_by_card(c, kept.admit_s)
    srt = order.srt
    fac_codes, fac_ids = factorize(c["facility_id"], sort=True)
    discharge = _discharge_s(c, srt, order.admit_s, available)
    dx = _diagnoses(c, srt, available)
    cost = np.nan_to_num(c["total_cost"].to_numpy(dtype=np.float64, na_value=np.nan)[srt], nan=0.0)
    reg = card_registry(cards, order.card_ids, fac_ids, available)
    person = holder(c, srt, order.card, order.day, reg, available)
    fill_home_province(reg.home_prov, order.card_ids, reg.provinces, available)
    fac_tier, fac_prov = facility_registry(facilities, fac_ids, available, reg.provinces)
    facts = claim_facts(c, srt, order.card, reg, fac_ids, available)
    lines = _lines(claim_lines, kept, len(claims), srt, dx.dx3, available, line_rows, dispensings)
    release_arrow_memory()

    return Prepared(
        n=len(srt),
        order=kept.rows[srt],
        card=order.card,
        card_ids=order.card_ids,
        card_start=order.card_start,
        fac=fac_codes[srt],
        fac_ids=fac_ids,
        admit_s=order.admit_s,
        discharge_s=discharge,
        day=order.day,
        discharge_day=(discharge // DAY_S).astype(np.int32),
        visit_type=enum_codes(c["visit_type"], VISIT_TYPES)[srt],
        dx3=dx.dx3,
        dx3_vocab=dx.dx3_vocab,
        dx4=dx.dx4,
        dx4_vocab=dx.dx4_vocab,
        dx_raw_vocab=dx.raw_vocab,
        cost=cost,
        period_start_day=start_day,
        period_end_day=end_day,
        available=frozenset(available),
        sex=person.sex,
        age=person.age,
        age_band=person.age_band,
        dx_sex=dx.sex,
        dx_min_age=dx.min_age,
        dx_max_age=dx.max_age,
        fac_tier=fac_tier,
        fac_prov=fac_prov,
        home_prov=reg.home_prov,
        registered=facts.registered,
        referred=facts.referred,
        valid_from=facts.valid_from,
        valid_to=facts.valid_to,
        death=reg.death[order.card],
        doctor=facts.doctor,
        sick_days=facts.sick_days,
        drug_cost=_money(c, srt, "drug_cost", available, lines),
        supply_cost=_money(c, srt, "supply_cost", available, lines),
        lines=lines,
    )
