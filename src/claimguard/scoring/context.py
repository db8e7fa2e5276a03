"""Context files for the triage app: the rows a reviewer needs beside each alert.

Why: the triage app serves a scored folder on its own, without the (possibly huge)
input data. So scoring writes, for alerted entities only, the evidence claims and
their lines, a short description of each entity, a card's visits per facility, a facility's
examinations per doctor per day, and the peers' distribution of every feature.
"Evidence claims" include every visit of an alerted card in the period (a card has
few), so the triage card page can tell the card's whole story.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from claimguard.tables import Dataset


def evidence_claims(
    claims: pd.DataFrame, facilities: pd.DataFrame | None, claim_ids: pd.Index
) -> pd.DataFrame:
    """Claims rows of every evidence claim, with the facility's province and tier."""
    rows = claims.loc[claims["claim_id"].isin(claim_ids)].reset_index(drop=True)
    if facilities is not None and not facilities.empty:
        fac = facilities[["facility_id"]].copy()
        fac["facility_province"] = facilities["province"] if "province" in facilities else pd.NA
        fac["facility_tier"] = facilities["tier"] if "tier" in facilities else pd.NA
        fac = fac.drop_duplicates("facility_id")
        rows = rows.merge(fac, on="facility_id", how="left")
    else:
        rows["facility_province"] = pd.Series(pd.NA, index=rows.index, dtype="string")
        rows["facility_tier"] = pd.Series(pd.NA, index=rows.index, dtype="string")
    rows["facility_province"] = rows["facility_province"].astype("string")
    rows["facility_tier"] = rows["facility_tier"].astype("string")
    return rows


def evidence_lines(claim_lines: pd.DataFrame | None, claim_ids: pd.Index) -> pd.DataFrame | None:
    """claim_lines rows of the evidence claims (None when the dataset has no lines)."""
    if claim_lines is None:
        return None
    return claim_lines.loc[claim_lines["claim_id"].isin(claim_ids)].reset_index(drop=True)


def _age(birth: pd.Series, at: pd.Timestamp) -> pd.Series:
    years = (at - pd.to_datetime(birth)).dt.days / 365.25
    return pd.Series(np.floor(years), index=birth.index).astype("Float64")


def entity_info(
    ds: Dataset, card_ids: pd.Index, facility_ids: pd.Index, period_end: pd.Timestamp
) -> pd.DataFrame:
    """entity_type, entity_id, province, tier, kind (null for cards), label, name (if known)."""
    cards = _card_info(ds, card_ids, period_end)
    facs = _facility_info(ds, facility_ids)
    cols = ["entity_type", "entity_id", "province", "tier", "label", "name", "kind"]
    out = pd.concat([cards[cols], facs[cols]], ignore_index=True)
    for c in cols:
        out[c] = out[c].astype("string")
    return out


def _card_info(ds: Dataset, card_ids: pd.Index, period_end: pd.Timestamp) -> pd.DataFrame:
    """The alerted cards' rows of ``entity_info``: the registry first, else what the claims
    say about the card holder."""
    claims = ds.claims
    # Cards: registry first, else what the claims say about the card holder.
    cards = pd.DataFrame({"entity_id": pd.Series(card_ids, dtype="string")})
    birth = pd.Series(pd.NaT, index=cards.index, dtype="datetime64[ns]")
    sex = pd.Series(pd.NA, index=cards.index, dtype="string")
    province = pd.Series(pd.NA, index=cards.index, dtype="string")
    mine = claims.loc[claims["card_id"].isin(card_ids)]
    if "patient_birth_date" in mine or "patient_sex" in mine:
        first = mine.sort_values("admit_time").drop_duplicates("card_id").set_index("card_id")
        if "patient_birth_date" in first:
            birth = first["patient_birth_date"].reindex(cards["entity_id"]).reset_index(drop=True)
        if "patient_sex" in first:
            sex = first["patient_sex"].astype("string").reindex(cards["entity_id"])
            sex = sex.reset_index(drop=True)
    if ds.cards is not None and not ds.cards.empty:
        # Filter the (possibly national) registry first: only alerted cards are looked up.
        reg = ds.cards.loc[ds.cards["card_id"].isin(card_ids)]
        reg = reg.drop_duplicates("card_id").set_index("card_id")
        if "birth_date" in reg:
            birth = birth.fillna(
                reg["birth_date"].reindex(cards["entity_id"]).reset_index(drop=True)
            )
        if "sex" in reg:
            reg_sex = reg["sex"].astype("string").reindex(cards["entity_id"]).reset_index(drop=True)
            sex = sex.fillna(reg_sex)
        if "province" in reg:
            province = reg["province"].astype("string").reindex(cards["entity_id"])
            province = province.reset_index(drop=True)
    age = _age(birth, period_end)
    age_txt = ("age " + age.astype("Int64").astype("string")).fillna("age unknown")
    cards["entity_type"] = "card"
    cards["province"] = province.astype("string")
    cards["tier"] = pd.Series(pd.NA, index=cards.index, dtype="string")
    cards["label"] = "Card " + cards["entity_id"] + " · " + sex.fillna("U") + " · " + age_txt
    cards["name"] = pd.Series(pd.NA, index=cards.index, dtype="string")
    cards["kind"] = pd.Series(pd.NA, index=cards.index, dtype="string")
    return cards


def _facility_info(ds: Dataset, facility_ids: pd.Index) -> pd.DataFrame:
    """The alerted facilities' rows of ``entity_info``, from the facility table if any."""
    facs = pd.DataFrame({"entity_id": pd.Series(facility_ids, dtype="string")})
    facs["entity_type"] = "facility"
    if ds.facilities is not None and not ds.facilities.empty:
        reg = ds.facilities.loc[ds.facilities["facility_id"].isin(facility_ids)]
        reg = reg.drop_duplicates("facility_id").set_index("facility_id")
        get: Callable[[str], pd.Series] = lambda c: (  # noqa: E731 - tiny local accessor
            reg[c].astype("string").reindex(facs["entity_id"]).reset_index(drop=True)
            if c in reg
            else pd.Series(pd.NA, index=facs.index, dtype="string")
        )
        facs["province"], facs["tier"], kind = get("province"), get("tier"), get("kind")
        facs["name"] = get("name")  # not a canonical column; kept when a dataset has it
    else:
        facs["name"] = pd.Series(pd.NA, index=facs.index, dtype="string")
        facs["province"] = pd.Series(pd.NA, index=facs.index, dtype="string")
        facs["tier"] = pd.Series(pd.NA, index=facs.index, dtype="string")
        kind = pd.Series(pd.NA, index=facs.index, dtype="string")
    desc = facs["tier"].fillna("") + " " + kind.fillna("facility").str.replace("_", " ")
    desc = desc.str.strip()
    where = (", " + facs["province"]).fillna("")
    facs["label"] = "Facility " + facs["entity_id"] + " · " + desc + where
    facs["kind"] = kind.astype("string")
    return facs


def card_facilities(claims: pd.DataFrame, card_ids: pd.Index) -> pd.DataFrame:
    """Per alerted card and facility: visits, total cost, first and last visit."""
    mine = claims.loc[claims["card_id"].isin(card_ids)]
    out = (
        mine.groupby(["card_id", "facility_id"], observed=True)
        .agg(
            visits=("claim_id", "size"),
            total_cost=("total_cost", "sum"),
            first_visit=("admit_time", "min"),
            last_visit=("admit_time", "max"),
        )
        .reset_index()
        .rename(columns={"card_id": "entity_id"})
    )
    out["visits"] = out["visits"].astype("int64")
    return out.sort_values(["entity_id", "visits"], ascending=[True, False]).reset_index(drop=True)


def doctor_days(claims: pd.DataFrame, facility_ids: pd.Index) -> pd.DataFrame | None:
    """Per alerted facility, doctor and day: examinations (None without doctor_id)."""
    if "doctor_id" not in claims.columns or claims["doctor_id"].isna().all():
        return None
    mine = claims.loc[claims["facility_id"].isin(facility_ids) & claims["doctor_id"].notna()]
    mine = mine.assign(day=mine["admit_time"].dt.normalize())
    out = (
        mine.groupby(["facility_id", "doctor_id", "day"], observed=True)
        .size()
        .rename("examinations")
        .reset_index()
        .rename(columns={"facility_id": "entity_id"})
    )
    out["examinations"] = out["examinations"].astype("int64")
    return out.sort_values(["entity_id", "day", "doctor_id"]).reset_index(drop=True)


def card_visit_ids(claims: pd.DataFrame, card_ids: pd.Index) -> pd.Index:
    """Claim ids of every visit of the alerted cards (their whole story, not only evidence)."""
    return pd.Index(claims.loc[claims["card_id"].isin(card_ids), "claim_id"].astype("string"))


def feature_peers(stats: dict[str, pd.DataFrame] | None) -> pd.DataFrame | None:
    """The training distribution of every feature, per entity type (None without stats).

    Why: the triage card and facility pages chart an entity's value against its peers;
    the scored folder must carry that distribution because the app never sees the model.
    """
    if not stats:
        return None
    parts = []
    for entity_type, df in stats.items():
        if df is None or df.empty:
            continue
        out = pd.DataFrame({"feature": df.index.astype(str)})
        out.insert(0, "entity_type", entity_type)
        for c in ("median", "p90", "p99"):
            out[c] = pd.to_numeric(df[c], errors="coerce").to_numpy() if c in df else np.nan
        for c in ("bin_edges", "bin_shares"):
            cells = df[c] if c in df else pd.Series([[]] * len(df), index=df.index)
            out[c] = [json.dumps([float(x) for x in (v if v is not None else [])]) for v in cells]
        parts.append(out)
    if not parts:
        return None
    res = pd.concat(parts, ignore_index=True)
    for c in ("entity_type", "feature", "bin_edges", "bin_shares"):
        res[c] = res[c].astype("string")
    return res
