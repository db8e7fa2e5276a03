"""The reference tables joined onto the claims: the card registry (holder, home
province, registration, validity, death) and the facility registry (tier, province).

Why: the registry is the better source where it speaks; the claims' own columns fill in
where it is silent, so a dataset without a cards table still gets every feature it can
(docs/contract.md section 1). Split out of :mod:`claimguard.features.prepare`, which
calls these steps in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from claimguard.features import clinical
from claimguard.features.encode import (
    NO_DAY_HI,
    NO_DAY_LO,
    age_band,
    codes_in,
    days,
    enum_codes,
    factorize,
    province_codes,
    province_from_card_number,
    release_arrow_memory,
)
from claimguard.schema import SEXES, TIERS

UNKNOWN_TIER = len(TIERS)
# a claim's registered facility: a facility code, NOT_IN_PERIOD when the registered
# facility has no claims in the period, REGISTRATION_UNKNOWN when no table says
NOT_IN_PERIOD = -1
REGISTRATION_UNKNOWN = -2


@dataclass(frozen=True)
class CardRegistry:
    """Per-card values from the cards table (unknown where the table says nothing)."""

    sex: np.ndarray
    birth_day: np.ndarray
    home_prov: np.ndarray
    registered: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    death: np.ndarray
    provinces: dict[str, int]  # province label -> code, grown by facilities too


def card_registry(
    cards: pd.DataFrame | None,
    card_ids: Any,
    fac_ids: np.ndarray,
    available: set[str],
) -> CardRegistry:
    n_cards = len(card_ids)
    reg = CardRegistry(
        sex=np.full(n_cards, -1, dtype=np.int8),
        birth_day=np.full(n_cards, NO_DAY_LO, dtype=np.int32),
        home_prov=np.full(n_cards, -1, dtype=np.int32),
        registered=np.full(n_cards, REGISTRATION_UNKNOWN, dtype=np.int32),
        valid_from=np.full(n_cards, NO_DAY_LO, dtype=np.int32),
        valid_to=np.full(n_cards, NO_DAY_HI, dtype=np.int32),
        death=np.full(n_cards, NO_DAY_HI, dtype=np.int32),
        provinces={},
    )
    if cards is None or not len(cards):
        return reg
    pos = codes_in(cards["card_id"], card_ids)
    m = pos >= 0
    release_arrow_memory()
    sel = cards if m.all() else cards.iloc[np.flatnonzero(m)]
    p = pos[m]
    if "cards.sex" in available:
        reg.sex[p] = enum_codes(sel["sex"], SEXES)
    if "cards.birth_date" in available:
        reg.birth_day[p] = days(sel["birth_date"], NO_DAY_LO)
    if "cards.province" in available:
        reg.home_prov[p] = province_codes(sel["province"], reg.provinces)
    if "cards.registered_facility_id" in available:
        reg.registered[p] = np.where(
            sel["registered_facility_id"].notna().to_numpy(),
            codes_in(sel["registered_facility_id"], fac_ids),
            REGISTRATION_UNKNOWN,
        )
    if "cards.valid_from" in available:
        reg.valid_from[p] = days(sel["valid_from"], NO_DAY_LO)
    if "cards.valid_to" in available:
        reg.valid_to[p] = days(sel["valid_to"], NO_DAY_HI)
    if "cards.death_date" in available:
        reg.death[p] = days(sel["death_date"], NO_DAY_HI)
    return reg


@dataclass(frozen=True)
class Holder:
    """The card holder at each claim: sex (clinical codes), age and age band."""

    sex: np.ndarray
    age: np.ndarray
    age_band: np.ndarray


def holder(
    c: pd.DataFrame,
    srt: np.ndarray,
    card: np.ndarray,
    day: np.ndarray,
    reg: CardRegistry,
    available: set[str],
) -> Holder:
    """Registry first, the claim's own patient columns where the registry is silent."""
    sex = reg.sex[card]
    if "claims.patient_sex" in available:
        sex = np.where(sex >= 0, sex, enum_codes(c["patient_sex"], SEXES)[srt])
    # canonical SEXES = (M, F, U) -> clinical codes (MALE, FEMALE, unknown)
    sex = np.select([sex == 0, sex == 1], [clinical.MALE, clinical.FEMALE], 0).astype(np.int8)
    birth = reg.birth_day[card]
    if "claims.patient_birth_date" in available:
        birth = np.where(birth != NO_DAY_LO, birth, days(c["patient_birth_date"], NO_DAY_LO)[srt])
    age = np.where(birth != NO_DAY_LO, (day - birth.astype(np.int64)) / 365.25, np.nan).astype(
        np.float32
    )
    age[age < 0] = np.nan
    return Holder(sex, age, age_band(age))


def fill_home_province(
    home_prov: np.ndarray, card_ids: Any, prov_vocab: dict[str, int], available: set[str]
) -> None:
    """Home province from the card number where the registry has none (in place)."""
    missing = home_prov < 0
    if missing.any():
        from_number = province_from_card_number(card_ids[missing])
        home_prov[missing] = province_codes(from_number, prov_vocab)
        if from_number.notna().any():
            available.add("cards.province")


def facility_registry(
    facilities: pd.DataFrame | None,
    fac_ids: np.ndarray,
    available: set[str],
    prov_vocab: dict[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """(tier code, province code) per facility."""
    fac_tier = np.full(len(fac_ids), UNKNOWN_TIER, dtype=np.int8)
    fac_prov = np.full(len(fac_ids), -1, dtype=np.int32)
    if facilities is not None and len(facilities):
        pos = codes_in(facilities["facility_id"], fac_ids)
        m = pos >= 0
        sel = facilities.iloc[np.flatnonzero(m)]
        p = pos[m]
        if "facilities.tier" in available:
            t = enum_codes(sel["tier"], TIERS)
            fac_tier[p] = np.where(t >= 0, t, UNKNOWN_TIER)
        if "facilities.province" in available:
            fac_prov[p] = province_codes(sel["province"], prov_vocab)
    return fac_tier, fac_prov


@dataclass(frozen=True)
class ClaimFacts:
    """Per-claim columns: registry values with the claim's own columns as fallback, and
    columns only claims carry."""

    registered: np.ndarray
    referred: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    doctor: np.ndarray
    sick_days: np.ndarray


def claim_facts(
    c: pd.DataFrame,
    srt: np.ndarray,
    card: np.ndarray,
    reg: CardRegistry,
    fac_ids: np.ndarray,
    available: set[str],
) -> ClaimFacts:
    """Sorted like the claims (``srt``); ``card`` is each sorted claim's card code."""
    n = len(srt)
    registered = reg.registered[card]
    if "claims.registered_facility_id" in available:
        col = c["registered_facility_id"]
        on_claim = np.where(col.notna().to_numpy(), codes_in(col, fac_ids), REGISTRATION_UNKNOWN)
        registered = np.where(registered != REGISTRATION_UNKNOWN, registered, on_claim[srt]).astype(
            np.int32
        )
        available.add("cards.registered_facility_id")
    referred = (
        c["referral_from"].notna().to_numpy()[srt]
        if "claims.referral_from" in available
        else np.zeros(n, dtype=bool)
    )
    vfrom, vto = reg.valid_from[card], reg.valid_to[card]
    if "claims.card_valid_from" in available:
        vfrom = np.where(vfrom != NO_DAY_LO, vfrom, days(c["card_valid_from"], NO_DAY_LO)[srt])
    if "claims.card_valid_to" in available:
        vto = np.where(vto != NO_DAY_HI, vto, days(c["card_valid_to"], NO_DAY_HI)[srt])
    if "claims.doctor_id" in available:
        doctor = factorize(c["doctor_id"])[0][srt]
    else:
        doctor = np.full(n, -1, dtype=np.int32)
    sick = (
        c["sick_leave_days"].to_numpy(dtype=np.float32, na_value=np.nan)[srt]
        if "claims.sick_leave_days" in available
        else np.full(n, np.nan, dtype=np.float32)
    )
    return ClaimFacts(
        registered, referred, vfrom.astype(np.int32), vto.astype(np.int32), doctor, sick
    )
