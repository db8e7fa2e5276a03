"""Claims as compact NumPy arrays sorted by (card, admit time): the input of every feature.

Why: every card feature is a scan over one card's claims in time order, and every
facility feature a bincount over integer codes. Doing the string work once (ids to
int32 codes, joins with the reference tables through Arrow hash kernels) and keeping
int32/float32 arrays keeps 10M claims within seconds and a few GB (docs/contract.md section 6).
Nothing here mutates its inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claimguard.features import clinical, items
from claimguard.schema import SEXES, TIERS, VISIT_TYPES

log = logging.getLogger(__name__)

DAY_S = 86_400
NO_DAY_LO = np.iinfo(np.int32).min
NO_DAY_HI = np.iinfo(np.int32).max
_NAT = np.iinfo(np.int64).min
UNKNOWN_TIER = len(TIERS)
AGE_EDGES = np.array([0.0, 1.0, 6.0, 16.0, 40.0, 60.0, 75.0], dtype=np.float32)
UNKNOWN_AGE_BAND = len(AGE_EDGES)
INPATIENT = VISIT_TYPES.index("inpatient")
OUTPATIENT = VISIT_TYPES.index("outpatient")


@dataclass
class LineAgg:
    """Per-claim line aggregates (sorted claim order) and the drug dispensings."""

    counts: np.ndarray  # (n_claims, len(items.CLASSES)) float32 line counts per class
    treatment_vnd: np.ndarray  # float64 amount of lines other than exam and bed day
    drug_pos: np.ndarray | None  # int64 sorted-claim position of each (claim, drug class)
    drug_class: np.ndarray | None  # int32 drug class code
    drug_days: np.ndarray | None  # float32 days supplied (max within claim and class)


@dataclass
class Prepared:
    """One period's claims, sorted by (card, admit time), as arrays; see module doc."""

    n: int
    order: np.ndarray
    card: np.ndarray
    card_ids: Any  # pandas string array (millions of ids)
    card_start: np.ndarray
    fac: np.ndarray
    fac_ids: np.ndarray
    admit_s: np.ndarray
    end_s: np.ndarray
    day: np.ndarray
    end_day: np.ndarray
    vt: np.ndarray
    dx3: np.ndarray
    dx3_vocab: np.ndarray
    dx4: np.ndarray
    dx4_vocab: np.ndarray
    dx_raw_vocab: np.ndarray
    cost: np.ndarray
    start_day: int
    end_day_period: int
    available: frozenset[str]
    sex: np.ndarray
    age: np.ndarray
    age_band: np.ndarray
    dx_sex: np.ndarray
    dx_min_age: np.ndarray
    dx_max_age: np.ndarray
    fac_tier: np.ndarray
    fac_prov: np.ndarray
    home_prov: np.ndarray
    registered: np.ndarray
    referred: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    death: np.ndarray
    doctor: np.ndarray
    sick_days: np.ndarray
    drug_cost: np.ndarray | None
    supply_cost: np.ndarray | None
    lines: LineAgg | None
    notes: list[str] = field(default_factory=list)

    @property
    def period_days(self) -> int:
        return int(self.end_day_period - self.start_day + 1)

    @property
    def n_cards(self) -> int:
        return len(self.card_ids)

    @property
    def n_facilities(self) -> int:
        return len(self.fac_ids)

    @property
    def tier(self) -> np.ndarray:
        """Tier code of each claim's facility (UNKNOWN_TIER when unknown)."""
        return self.fac_tier[self.fac]

    def has(self, *requires: str) -> bool:
        """True when every requirement ('table.column', alternatives joined by '|') is met."""
        return all(any(a in self.available for a in r.split("|")) for r in requires)


# ----------------------------------------------------------------------------- helpers


def _present(df: pd.DataFrame | None, col: str) -> bool:
    return df is not None and col in df.columns and bool(df[col].notna().any())


def _arrow(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """An Arrow string array of an id column (zero-copy for pandas' Arrow strings)."""
    if not (pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype)):
        s = s.astype("string")
    if hasattr(s.array, "__arrow_array__"):  # Arrow-backed: keep its chunks, no copy
        return s.array.__arrow_array__()
    return pa.array(s, from_pandas=True)


def codes_in(values: pd.Series, vocab: Any) -> np.ndarray:
    """Position of each value in ``vocab`` (-1 when absent or null), via an Arrow hash join.

    A categorical column is joined on its categories only, then expanded by its codes.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32)
    if isinstance(vocab, np.ndarray):
        vset = pa.array(np.asarray(vocab, dtype=object), type=pa.large_string())
    else:  # a pandas Series or string array: zero-copy for Arrow strings
        vset = _arrow(pd.Series(vocab, copy=False)).cast(pa.large_string())
    if isinstance(vset, pa.ChunkedArray):
        vset = vset.combine_chunks()
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = pd.Series(values.cat.categories)
        on_cats = codes_in(cats, vocab) if len(cats) else np.zeros(0, dtype=np.int32)
        codes = values.cat.codes.to_numpy()
        return np.append(on_cats, np.int32(-1)).astype(np.int32)[codes]
    idx = pc.index_in(_arrow(values).cast(pa.large_string()), value_set=vset)
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int32)


def factorize(s: pd.Series, sort: bool = False, as_object: bool = True) -> tuple[np.ndarray, Any]:
    """(int32 codes, -1 = missing; distinct values) of a string or categorical column,
    without materialising a categorical's strings. ``as_object=False`` keeps millions of
    distinct ids as a pandas string array instead of Python objects.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        # work on the categories: drop unused ones, sort them if asked, remap the codes
        codes = s.cat.codes.to_numpy().astype(np.int32)
        cats = np.asarray(s.cat.categories.astype("string"), dtype=object)
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cats)) > 0)
        if sort:
            used = used[np.argsort(cats[used].astype(str), kind="stable")]
        remap = np.full(len(cats) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        out = cats[used]
        return remap[codes], out if as_object else pd.array(out, dtype="string")
    if not pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_object_dtype(s.dtype):
        s = s.astype("string")
    codes, uniq = pd.factorize(s.array, sort=sort, use_na_sentinel=True)
    return codes.astype(np.int32), np.asarray(uniq, dtype=object) if as_object else uniq


def _release() -> None:
    """Hand the blocks Arrow's allocator keeps after hash joins back to the system, so
    the numpy work that follows can use that memory (Arrow would only reuse it itself).
    """
    pa.default_memory_pool().release_unused()


def _seconds(s: pd.Series) -> np.ndarray:
    """Seconds since the epoch (int64); missing = INT64 min."""
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    return s.to_numpy(dtype="datetime64[s]").view(np.int64)


def _days(s: pd.Series, missing: int) -> np.ndarray:
    sec = _seconds(s)
    return np.where(sec == _NAT, missing, sec // DAY_S).astype(np.int32)


def _enum_codes(s: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Codes of an enum column against the canonical order (-1 = missing/unknown)."""
    if isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == list(values):
        return s.cat.codes.to_numpy().astype(np.int8)
    cat = pd.Categorical(s.astype("string"), categories=list(values))
    return np.asarray(cat.codes, dtype=np.int8)


def norm_province(values: pd.Series) -> pd.Series:
    """Province labels comparable across tables: stripped, upper-case, digits zero-padded."""
    s = values.astype("string").str.strip().str.upper()
    digits = s.str.fullmatch(r"\d+").fillna(False)
    s = s.where(~digits, s.str.zfill(2))
    return s.where(s.str.len() > 0)


def _province_codes(values: pd.Series, vocab: dict[str, int]) -> np.ndarray:
    """int32 code of each normalised province label in ``vocab`` (grown as needed; -1 =
    missing). Normalises the distinct values only: a registry has millions of rows.
    """
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    norm = norm_province(pd.Series(uniq, dtype="string"))
    labels = norm.astype(object).where(norm.notna(), None)
    table = [vocab.setdefault(v, len(vocab)) if isinstance(v, str) else -1 for v in labels]
    return np.append(np.asarray(table, dtype=np.int32), np.int32(-1))[codes]


def province_from_card_number(card_ids: Any) -> pd.Series:
    """The 2-digit province inside a 15-character Vietnamese card number (chars 4-5)."""
    s = pd.Series(card_ids, dtype="string").str.strip()
    prov = s.str[3:5]
    ok = (s.str.len() == 15) & prov.str.fullmatch(r"\d\d").fillna(False)
    return prov.where(ok)


def age_band(age: np.ndarray) -> np.ndarray:
    """Age band code 0..6 (edges 0,1,6,16,40,60,75), UNKNOWN_AGE_BAND when unknown."""
    band = np.searchsorted(AGE_EDGES, age, side="right") - 1
    return np.where(np.isfinite(age) & (age >= 0), band, UNKNOWN_AGE_BAND).astype(np.int8)


# ----------------------------------------------------------------------------- main


def period_of(claims: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Default period: first .. last admit day of the claims."""
    sec = _seconds(claims["admit_time"])
    sec = sec[sec != _NAT]
    if len(sec) == 0:
        t = pd.Timestamp("1970-01-01")
        return t, t
    lo = pd.Timestamp(int(sec.min() // DAY_S) * DAY_S, unit="s")
    hi = pd.Timestamp(int(sec.max() // DAY_S) * DAY_S, unit="s")
    return lo, hi


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
    if period is None:
        period = period_of(claims)
    start_day = int(pd.Timestamp(period[0]).normalize().value // (DAY_S * 10**9))
    end_day_p = int(pd.Timestamp(period[1]).normalize().value // (DAY_S * 10**9))
    available = {f"claims.{c}" for c in claims.columns if _present(claims, c)}
    for name, df in (("claim_lines", claim_lines), ("cards", cards), ("facilities", facilities)):
        if df is not None and len(df.columns):
            available |= {f"{name}.{c}" for c in df.columns if _present(df, c)}

    admit_all = _seconds(claims["admit_time"])
    day_all = np.where(admit_all == _NAT, NO_DAY_LO, admit_all // DAY_S)
    keep = (day_all >= start_day) & (day_all <= end_day_p)
    rows = np.flatnonzero(keep)
    if len(rows) < len(claims):
        log.info("%d claims outside the period were left out", len(claims) - len(rows))
    c = claims.iloc[rows] if len(rows) < len(claims) else claims

    # cards in order of first appearance (sorting millions of ids costs seconds)
    card_codes, card_ids = factorize(c["card_id"], as_object=False)
    _release()
    admit = admit_all[rows]
    key = card_codes.astype(np.int64) << 34 | (admit - admit.min() if len(admit) else admit)
    srt = np.argsort(key, kind="stable")
    del key
    order = rows[srt]
    n = len(srt)
    card = card_codes[srt].astype(np.int32)
    n_cards = len(card_ids)
    card_start = np.searchsorted(card, np.arange(n_cards + 1)).astype(np.int64)
    admit = admit[srt]
    day = (admit // DAY_S).astype(np.int32)

    fac_codes, fac_ids = factorize(c["facility_id"], sort=True)
    fac = fac_codes[srt]

    if "claims.discharge_time" in available:
        end = _seconds(c["discharge_time"])[srt]
        end = np.where(end == _NAT, admit, np.maximum(end, admit))
    else:
        end = admit
    vt = _enum_codes(c["visit_type"], VISIT_TYPES)[srt]
    # diagnoses: normalise the distinct codes only, then broadcast
    pdx_codes, pdx_vocab = factorize(c["primary_dx"], sort=True)
    dx3_of_pdx = clinical.normalise_dx(np.asarray(pdx_vocab, dtype=object))
    dx3_idx, dx3_vocab = pd.factorize(np.append(dx3_of_pdx, ""), sort=True)
    dx3_vocab = np.asarray(dx3_vocab, dtype=object)
    pdx_codes = pdx_codes[srt]
    dx3_codes = dx3_idx[np.where(pdx_codes >= 0, pdx_codes, len(dx3_of_pdx))]
    dx4_of_pdx = clinical.normalise_dx(np.asarray(pdx_vocab, dtype=object), width=4)
    dx4_idx, dx4_vocab = pd.factorize(np.append(dx4_of_pdx, ""), sort=True)
    dx4_codes = dx4_idx[np.where(pdx_codes >= 0, pdx_codes, len(dx4_of_pdx))]
    cost = c["total_cost"].to_numpy(dtype=np.float64, na_value=np.nan)[srt]
    cost = np.nan_to_num(cost, nan=0.0)

    # constraints of primary + secondary diagnoses
    psex, plo, phi = clinical.dx_constraints(dx3_vocab)
    dx_sex = psex[dx3_codes]
    dx_lo = plo[dx3_codes]
    dx_hi = phi[dx3_codes]
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
    dx_sex = dx_sex.astype(np.int8)

    # ---- cards reference: per-card arrays, then broadcast per claim
    card_sex = np.full(n_cards, -1, dtype=np.int8)
    card_birth = np.full(n_cards, NO_DAY_LO, dtype=np.int32)
    prov_vocab: dict[str, int] = {}
    home_prov = np.full(n_cards, -1, dtype=np.int32)
    card_reg = np.full(n_cards, -2, dtype=np.int32)
    card_vfrom = np.full(n_cards, NO_DAY_LO, dtype=np.int32)
    card_vto = np.full(n_cards, NO_DAY_HI, dtype=np.int32)
    card_death = np.full(n_cards, NO_DAY_HI, dtype=np.int32)
    if cards is not None and len(cards):
        pos = codes_in(cards["card_id"], card_ids)
        m = pos >= 0
        _release()
        sel = cards if m.all() else cards.iloc[np.flatnonzero(m)]
        p = pos[m]
        if "cards.sex" in available:
            card_sex[p] = _enum_codes(sel["sex"], SEXES)
        if "cards.birth_date" in available:
            card_birth[p] = _days(sel["birth_date"], NO_DAY_LO)
        if "cards.province" in available:
            home_prov[p] = _province_codes(sel["province"], prov_vocab)
        if "cards.registered_facility_id" in available:
            card_reg[p] = np.where(
                sel["registered_facility_id"].notna().to_numpy(),
                codes_in(sel["registered_facility_id"], fac_ids),
                -2,
            )
        if "cards.valid_from" in available:
            card_vfrom[p] = _days(sel["valid_from"], NO_DAY_LO)
        if "cards.valid_to" in available:
            card_vto[p] = _days(sel["valid_to"], NO_DAY_HI)
        if "cards.death_date" in available:
            card_death[p] = _days(sel["death_date"], NO_DAY_HI)

    sex = card_sex[card]
    if "claims.patient_sex" in available:
        sex = np.where(sex >= 0, sex, _enum_codes(c["patient_sex"], SEXES)[srt])
    # canonical SEXES = (M, F, U) -> clinical codes (MALE, FEMALE, unknown)
    sex = np.select([sex == 0, sex == 1], [clinical.MALE, clinical.FEMALE], 0).astype(np.int8)
    birth = card_birth[card]
    if "claims.patient_birth_date" in available:
        birth = np.where(birth != NO_DAY_LO, birth, _days(c["patient_birth_date"], NO_DAY_LO)[srt])
    age = np.where(birth != NO_DAY_LO, (day - birth.astype(np.int64)) / 365.25, np.nan).astype(
        np.float32
    )
    age[age < 0] = np.nan
    band = age_band(age)

    # home province: registry, else the card number
    missing_prov = home_prov < 0
    if missing_prov.any():
        from_number = province_from_card_number(card_ids[missing_prov])
        home_prov[missing_prov] = _province_codes(from_number, prov_vocab)
        if from_number.notna().any():
            available.add("cards.province")

    # ---- facilities reference
    fac_tier = np.full(len(fac_ids), UNKNOWN_TIER, dtype=np.int8)
    fac_prov = np.full(len(fac_ids), -1, dtype=np.int32)
    if facilities is not None and len(facilities):
        pos = codes_in(facilities["facility_id"], fac_ids)
        m = pos >= 0
        sel = facilities.iloc[np.flatnonzero(m)]
        p = pos[m]
        if "facilities.tier" in available:
            t = _enum_codes(sel["tier"], TIERS)
            fac_tier[p] = np.where(t >= 0, t, UNKNOWN_TIER)
        if "facilities.province" in available:
            fac_prov[p] = _province_codes(sel["province"], prov_vocab)

    registered = card_reg[card]
    if "claims.registered_facility_id" in available:
        reg_claim = codes_in(c["registered_facility_id"], fac_ids)
        reg_claim = np.where(c["registered_facility_id"].notna().to_numpy(), reg_claim, -2)[srt]
        registered = np.where(registered != -2, registered, reg_claim).astype(np.int32)
        available.add("cards.registered_facility_id")
    referred = (
        c["referral_from"].notna().to_numpy()[srt]
        if "claims.referral_from" in available
        else np.zeros(n, dtype=bool)
    )
    vfrom = card_vfrom[card]
    vto = card_vto[card]
    if "claims.card_valid_from" in available:
        vfrom = np.where(vfrom != NO_DAY_LO, vfrom, _days(c["card_valid_from"], NO_DAY_LO)[srt])
    if "claims.card_valid_to" in available:
        vto = np.where(vto != NO_DAY_HI, vto, _days(c["card_valid_to"], NO_DAY_HI)[srt])
    if "claims.doctor_id" in available:
        doctor = factorize(c["doctor_id"])[0][srt]
    else:
        doctor = np.full(n, -1, dtype=np.int32)
    sick = (
        c["sick_leave_days"].to_numpy(dtype=np.float32, na_value=np.nan)[srt]
        if "claims.sick_leave_days" in available
        else np.full(n, np.nan, dtype=np.float32)
    )

    has_lines = (
        claim_lines is not None and len(claim_lines) > 0 and "claim_lines.claim_id" in available
    )

    def money(col: str) -> np.ndarray | None:
        # only a fallback for the treatment amount when there are no claim lines
        if f"claims.{col}" not in available or has_lines:
            return None
        return c[col].to_numpy(dtype=np.float64, na_value=np.nan)[srt]

    lines = None
    if has_lines:
        assert claim_lines is not None
        at = None
        if line_rows is not None:  # rows in ``claims`` -> rows in ``c`` (the period's claims)
            at = line_rows
            if len(rows) < len(claims):
                in_c = np.full(len(claims) + 1, -1, dtype=np.int32)
                in_c[rows] = np.arange(len(rows), dtype=np.int32)
                at = in_c[np.where(line_rows >= 0, line_rows, len(claims))]
        lines = _aggregate_lines(
            claim_lines, c["claim_id"], srt, dx3_codes, available, at, dispensings
        )
    _release()

    return Prepared(
        n=n,
        order=order,
        card=card,
        card_ids=card_ids,
        card_start=card_start,
        fac=fac,
        fac_ids=fac_ids,
        admit_s=admit,
        end_s=end,
        day=day,
        end_day=(end // DAY_S).astype(np.int32),
        vt=vt,
        dx3=dx3_codes.astype(np.int32),
        dx3_vocab=dx3_vocab,
        dx4=dx4_codes.astype(np.int32),
        dx4_vocab=np.asarray(dx4_vocab, dtype=object),
        dx_raw_vocab=np.asarray(pdx_vocab, dtype=object),
        cost=cost,
        start_day=start_day,
        end_day_period=end_day_p,
        available=frozenset(available),
        sex=sex,
        age=age,
        age_band=band,
        dx_sex=dx_sex,
        dx_min_age=dx_lo.astype(np.float32),
        dx_max_age=dx_hi.astype(np.float32),
        fac_tier=fac_tier,
        fac_prov=fac_prov,
        home_prov=home_prov,
        registered=registered,
        referred=referred,
        valid_from=vfrom.astype(np.int32),
        valid_to=vto.astype(np.int32),
        death=card_death[card],
        doctor=doctor,
        sick_days=sick,
        drug_cost=money("drug_cost"),
        supply_cost=money("supply_cost"),
        lines=lines,
    )


LINE_CHUNK = 5_000_000  # lines classified per step: bounds the temporaries of 50M lines


def _aggregate_lines(
    lines: pd.DataFrame,
    claim_ids: pd.Series,
    srt: np.ndarray,
    dx3: np.ndarray,
    available: set[str],
    line_rows: np.ndarray | None = None,
    dispensings: bool = True,
) -> LineAgg:
    """Per-claim counts by item class, treatment amount, and drug dispensings.

    The claim join runs once over all lines; classification runs in chunks of
    LINE_CHUNK lines so temporaries stay small on a month of a national fund.
    """
    n = len(claim_ids)
    inv = np.empty(n + 1, dtype=np.int32)
    inv[srt] = np.arange(n, dtype=np.int32)
    inv[n] = n  # lines of unknown claims go to a dummy bin n
    if line_rows is None:
        raw = codes_in(lines["claim_id"], claim_ids)
        _release()
    else:
        raw = np.asarray(line_rows, dtype=np.int32)
    pos_all = inv[np.where(raw >= 0, raw, n)]
    del raw, inv
    counts = np.zeros((n, len(items.CLASSES)), dtype=np.float32)
    treatment = np.zeros(n + 1, dtype=np.float64)
    with_days = dispensings and "claim_lines.days_supply" in available
    atc_ids: dict[str, int] = {}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, len(lines), LINE_CHUNK):  # a few chunks, not rows
        sub = lines.iloc[start : start + LINE_CHUNK]
        pos = pos_all[start : start + LINE_CHUNK]
        lt = _enum_codes(sub["line_type"], ("drug", "service", "supply"))
        code_idx, code_vocab = factorize(sub["item_code"])
        # service class per code (missing code -> other service), then drug/supply by type
        svc_table = np.append(items.classify_service_codes(code_vocab), items.OTHER_SERVICE)
        cls = svc_table.astype(np.int8)[code_idx]
        cls[lt == 0] = items.DRUG
        cls[lt == 2] = items.SUPPLY
        del lt
        for k in range(len(items.CLASSES)):  # a handful of classes, not rows
            counts[:, k] += np.bincount(pos[cls == k], minlength=n + 1)[:n]
        amount = sub["amount"].to_numpy(dtype=np.float64, na_value=np.nan)
        treat = (cls != items.EXAM) & (cls != items.BED_DAY) & ~np.isnan(amount)
        treatment += np.bincount(pos, weights=np.where(treat, amount, 0.0), minlength=n + 1)
        del treat, amount
        if with_days:
            days = sub["days_supply"].to_numpy(dtype=np.float32, na_value=np.nan)
            dm = (pos < n) & (cls == items.DRUG) & (days > 0) & (code_idx >= 0)
            if dm.any():
                # ATC group when the code is ATC, else the claim's diagnosis (items doc);
                # diagnosis classes are coded -1 - dx3 until the ATC count is known
                labels = items.drug_classes(code_vocab)
                atc_of_code = np.array(
                    [atc_ids.setdefault(lb, len(atc_ids)) if lb else -1 for lb in labels],
                    dtype=np.int64,
                )  # one entry per distinct code
                dp = pos[dm].astype(np.int64)
                atc = atc_of_code[code_idx[dm]]
                dc = np.where(atc >= 0, atc, -1 - dx3[dp].astype(np.int64))
                parts.append((dp, dc, days[dm]))
    drug_pos = drug_class = drug_days = None
    if parts:
        dp = np.concatenate([x[0] for x in parts])
        dc = np.concatenate([x[1] for x in parts])
        dd = np.concatenate([x[2] for x in parts])
        del parts
        dc = np.where(dc >= 0, dc, len(atc_ids) + (-1 - dc))
        # one dispensing per (claim, class): the longest line (two drugs of one class
        # taken together do not last twice as long)
        key = dp * (int(dc.max()) + 1) + dc
        order = np.argsort(key)
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        sel = order[first]
        drug_days = np.maximum.reduceat(dd[order], first)
        drug_pos, drug_class = dp[sel], dc[sel].astype(np.int32)
    return LineAgg(counts, treatment[:n], drug_pos, drug_class, drug_days)
