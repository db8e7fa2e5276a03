"""Claims as compact NumPy arrays sorted by (card, admit time): the input of every feature.

Why: every card feature is a scan over one card's claims in time order, and every
facility feature a bincount over integer codes. Doing the string work once (ids to
int32 codes, joins with the reference tables through Arrow hash kernels) and keeping
int32/float32 arrays keeps 10M claims within seconds and a few GB (PERF_NOTES.md).
Nothing here mutates its inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
    card_ids: np.ndarray
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
    return pa.array(s, from_pandas=True)


def codes_in(values: pd.Series, vocab: np.ndarray) -> np.ndarray:
    """Position of each value in ``vocab`` (-1 when absent or null), via an Arrow hash join."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32)
    vset = pa.array(np.asarray(vocab, dtype=object), type=pa.large_string())
    arr = _arrow(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.cast(pa.large_string())
    else:
        arr = arr.cast(pa.large_string())
    idx = pc.index_in(arr, value_set=vset)
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int32)


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


def _norm_by_uniques(values: pd.Series) -> np.ndarray:
    """norm_province on the distinct values only (a registry has millions of rows)."""
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    norm = norm_province(pd.Series(uniq, dtype="string"))
    labels = np.asarray(norm.astype(object).where(norm.notna(), None), dtype=object)
    labels = np.concatenate([labels, np.array([None], dtype=object)])
    return np.asarray(labels[codes])


def province_from_card_number(card_ids: np.ndarray) -> pd.Series:
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
) -> Prepared:
    """Sort, encode and join the canonical tables once for all features (see module doc)."""
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

    card_codes, card_uniq = pd.factorize(c["card_id"].astype("string"), sort=True)
    admit = admit_all[rows]
    key = card_codes.astype(np.int64) << 34 | (admit - admit.min() if len(admit) else admit)
    srt = np.argsort(key, kind="stable")
    del key
    order = rows[srt]
    n = len(srt)
    card = card_codes[srt].astype(np.int32)
    n_cards = len(card_uniq)
    card_start = np.searchsorted(card, np.arange(n_cards + 1)).astype(np.int64)
    admit = admit[srt]
    day = (admit // DAY_S).astype(np.int32)

    fac_codes, fac_uniq = pd.factorize(c["facility_id"].astype("string"), sort=True)
    fac = fac_codes[srt].astype(np.int32)
    fac_ids = np.asarray(fac_uniq, dtype=object)
    card_ids = np.asarray(card_uniq, dtype=object)

    if "claims.discharge_time" in available:
        end = _seconds(c["discharge_time"])[srt]
        end = np.where(end == _NAT, admit, np.maximum(end, admit))
    else:
        end = admit
    vt = _enum_codes(c["visit_type"], VISIT_TYPES)[srt]
    # diagnoses: normalise the distinct codes only, then broadcast
    pdx_codes, pdx_vocab = pd.factorize(c["primary_dx"].astype("string"), sort=True)
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
        sec_codes, sec_vocab = pd.factorize(
            c["secondary_dx"].astype("string"), use_na_sentinel=True
        )
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
    card_prov_lbl = np.full(n_cards, None, dtype=object)
    card_reg = np.full(n_cards, -2, dtype=np.int32)
    card_vfrom = np.full(n_cards, NO_DAY_LO, dtype=np.int32)
    card_vto = np.full(n_cards, NO_DAY_HI, dtype=np.int32)
    card_death = np.full(n_cards, NO_DAY_HI, dtype=np.int32)
    if cards is not None and len(cards):
        pos = codes_in(cards["card_id"], card_ids)
        m = pos >= 0
        sel = cards.iloc[np.flatnonzero(m)]
        p = pos[m]
        if "cards.sex" in available:
            card_sex[p] = _enum_codes(sel["sex"], SEXES)
        if "cards.birth_date" in available:
            card_birth[p] = _days(sel["birth_date"], NO_DAY_LO)
        if "cards.province" in available:
            card_prov_lbl[p] = _norm_by_uniques(sel["province"])
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
    missing_prov = pd.isna(card_prov_lbl)
    if missing_prov.any():
        from_number = province_from_card_number(card_ids[missing_prov])
        card_prov_lbl[missing_prov] = np.asarray(
            from_number.astype(object).where(from_number.notna(), None)
        )
        if from_number.notna().any():
            available.add("cards.province")

    # ---- facilities reference
    fac_tier = np.full(len(fac_ids), UNKNOWN_TIER, dtype=np.int8)
    fac_prov_lbl = np.full(len(fac_ids), None, dtype=object)
    if facilities is not None and len(facilities):
        pos = codes_in(facilities["facility_id"], fac_ids)
        m = pos >= 0
        sel = facilities.iloc[np.flatnonzero(m)]
        p = pos[m]
        if "facilities.tier" in available:
            t = _enum_codes(sel["tier"], TIERS)
            fac_tier[p] = np.where(t >= 0, t, UNKNOWN_TIER)
        if "facilities.province" in available:
            fac_prov_lbl[p] = _norm_by_uniques(sel["province"])
    prov_codes, _ = pd.factorize(
        np.concatenate([fac_prov_lbl, card_prov_lbl]), use_na_sentinel=True
    )
    fac_prov = prov_codes[: len(fac_ids)].astype(np.int32)
    home_prov = prov_codes[len(fac_ids) :].astype(np.int32)

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
        doctor = pd.factorize(c["doctor_id"].astype("string"))[0][srt].astype(np.int32)
    else:
        doctor = np.full(n, -1, dtype=np.int32)
    sick = (
        c["sick_leave_days"].to_numpy(dtype=np.float32, na_value=np.nan)[srt]
        if "claims.sick_leave_days" in available
        else np.full(n, np.nan, dtype=np.float32)
    )

    def money(col: str) -> np.ndarray | None:
        if f"claims.{col}" not in available:
            return None
        return c[col].to_numpy(dtype=np.float64, na_value=np.nan)[srt]

    lines = None
    if claim_lines is not None and len(claim_lines) and "claim_lines.claim_id" in available:
        lines = _aggregate_lines(claim_lines, c["claim_id"], srt, dx3_codes, available)

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


def _aggregate_lines(
    lines: pd.DataFrame,
    claim_ids: pd.Series,
    srt: np.ndarray,
    dx3: np.ndarray,
    available: set[str],
) -> LineAgg:
    """Per-claim counts by item class, treatment amount, and drug dispensings."""
    n = len(claim_ids)
    inv = np.empty(n, dtype=np.int64)
    inv[srt] = np.arange(n)
    vocab = pa.array(claim_ids.astype("string"), from_pandas=True).cast(pa.large_string())
    idx = pc.index_in(_arrow(lines["claim_id"]).cast(pa.large_string()), value_set=vocab)
    raw = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    ok = raw >= 0
    pos = np.where(ok, inv[np.where(ok, raw, 0)], -1)
    del raw
    lt = _enum_codes(lines["line_type"], ("drug", "service", "supply"))
    code_idx, code_uniq = pd.factorize(lines["item_code"].astype("string"), use_na_sentinel=True)
    code_vocab = np.asarray(code_uniq, dtype=object)
    svc_cls = items.classify_service_codes(code_vocab)
    # service class per code (missing code -> other service), then drug/supply by line type
    svc = np.append(svc_cls, np.int8(items.OTHER_SERVICE)).astype(np.int8)[code_idx]
    cls = np.where(lt == 0, np.int8(items.DRUG), np.where(lt == 2, np.int8(items.SUPPLY), svc))
    amount = np.nan_to_num(lines["amount"].to_numpy(dtype=np.float64, na_value=np.nan))
    p = pos[ok]
    c = cls[ok]
    flat = np.bincount(p * len(items.CLASSES) + c, minlength=n * len(items.CLASSES))
    counts = flat.reshape(n, len(items.CLASSES)).astype(np.float32)
    treat_mask = (c != items.EXAM) & (c != items.BED_DAY)
    treatment = np.bincount(p, weights=amount[ok] * treat_mask, minlength=n)

    drug_pos = drug_class = drug_days = None
    if "claim_lines.days_supply" in available:
        days = lines["days_supply"].to_numpy(dtype=np.float32, na_value=np.nan)
        dm = ok & (cls == items.DRUG) & np.isfinite(days) & (days > 0) & (code_idx >= 0)
        if dm.any():
            # ATC group when the code is ATC, else the claim's diagnosis (items module doc)
            atc_codes, atc_vocab = pd.factorize(items.drug_classes(code_vocab))
            atc_codes = np.where(
                np.asarray(atc_vocab, dtype=object)[atc_codes] == "", -1, atc_codes
            )
            dp = pos[dm]
            atc = atc_codes[code_idx[dm]].astype(np.int64)
            dc = np.where(atc >= 0, atc, len(atc_vocab) + dx3[dp].astype(np.int64))
            dd = days[dm]
            # one dispensing per (claim, class): the longest line (two drugs of one class
            # taken together do not last twice as long)
            k = dp * (int(dc.max()) + 1) + dc
            order = np.argsort(k)
            k = k[order]
            first = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
            sel = order[first]
            drug_days = np.maximum.reduceat(dd[order], first)
            drug_pos, drug_class = dp[sel], dc[sel].astype(np.int32)
    return LineAgg(counts, treatment, drug_pos, drug_class, drug_days)
