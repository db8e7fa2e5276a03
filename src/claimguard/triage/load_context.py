"""Load a scored folder's context files (evidence, visits, doctors, entities, peers).

Why apart from the alerts: each context table replaces the loaded entities' rows of the
previous run, in the load's transaction; the alerts and cases logic is in ``load.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import insert

from claimguard.triage.store import (
    CardFacility,
    Claim,
    ClaimLine,
    DoctorDay,
    Entity,
    FeaturePeers,
    Store,
)

CLAIM_COLS = [c.name for c in Claim.__table__.columns if c.name != "extra"]


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (None for missing) that every driver accepts."""
    df = df.copy()
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            df[col] = pd.Series(s.dt.to_pydatetime(), index=s.index, dtype=object)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            df[col] = s.astype("string")
    obj = df.astype(object)
    return obj.where(df.notna(), None).to_dict("records")  # type: ignore[return-value]


def ids_as_text(df: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    """Ids as text whatever the file stored (an int64 claim_id must still match '123')."""
    df = df.copy()
    for c in cols:
        if c in df.columns:
            df[c] = df[c].astype("string")
    return df


def dates(records: list[dict[str, Any]], cols: tuple[str, ...]) -> None:
    for r in records:
        for c in cols:
            if r.get(c) is not None and hasattr(r[c], "date"):
                r[c] = r[c].date()


def load_context(store: Store, conn: Any, ctx: dict[str, pd.DataFrame | None]) -> None:
    """Replace the evidence context of the loaded entities with this run's."""
    for name, write in (
        ("evidence_claims", _claims),
        ("evidence_lines", _lines),
        ("card_facilities", _card_facilities),
        ("doctor_days", _doctor_days),
        ("entity_info", _entities),
        ("feature_peers", _peers),
    ):
        df = ctx[name]
        if df is not None and len(df):
            write(store, conn, df)


def _claims(store: Store, conn: Any, claims: pd.DataFrame) -> None:
    claims = ids_as_text(claims, ("claim_id", "card_id", "facility_id", "doctor_id"))
    claims = claims.drop_duplicates("claim_id", keep="last")
    main = [c for c in CLAIM_COLS if c in claims.columns]
    extra_cols = [c for c in claims.columns if c not in CLAIM_COLS]
    recs = records(claims[main])
    extras = records(claims[extra_cols]) if extra_cols else [{}] * len(recs)
    for r, e in zip(recs, extras, strict=True):  # the evidence claims: a few per alert
        r["extra"] = json.dumps({k: v for k, v in e.items() if v is not None}, default=str)
        for c in ("claim_id", "card_id", "facility_id"):
            r[c] = str(r[c])
        for c in CLAIM_COLS:
            r.setdefault(c, None)
    conn.execute(store.upsert(Claim.__table__, ["claim_id"]), recs)


def _lines(store: Store, conn: Any, lines: pd.DataFrame) -> None:
    cols = [c.name for c in ClaimLine.__table__.columns if c.name != "id"]
    lines = ids_as_text(lines[[c for c in cols if c in lines.columns]], ("claim_id", "doctor_id"))
    store.delete_in(conn, ClaimLine.__table__.c.claim_id, lines["claim_id"].astype(str).unique())
    conn.execute(insert(ClaimLine), records(lines))


def _card_facilities(store: Store, conn: Any, cf: pd.DataFrame) -> None:
    cf = cf.rename(columns={"entity_id": "card_id"})
    cols = [c.name for c in CardFacility.__table__.columns]
    cf = ids_as_text(cf[[c for c in cols if c in cf.columns]], ("card_id", "facility_id"))
    cf = cf.drop_duplicates(["card_id", "facility_id"])
    store.delete_in(conn, CardFacility.__table__.c.card_id, cf["card_id"].astype(str).unique())
    conn.execute(insert(CardFacility), records(cf))


def _doctor_days(store: Store, conn: Any, dd: pd.DataFrame) -> None:
    dd = dd.rename(columns={"entity_id": "facility_id"})
    dd = ids_as_text(
        dd[["facility_id", "doctor_id", "day", "examinations"]], ("facility_id", "doctor_id")
    )
    dd["day"] = pd.to_datetime(dd["day"]).dt.normalize()
    dd = dd.dropna(subset=["day"]).drop_duplicates(["facility_id", "doctor_id", "day"])
    store.delete_in(conn, DoctorDay.__table__.c.facility_id, dd["facility_id"].astype(str).unique())
    recs = records(dd)
    dates(recs, ("day",))
    conn.execute(insert(DoctorDay), recs)


def _entities(store: Store, conn: Any, info: pd.DataFrame) -> None:
    cols = [c.name for c in Entity.__table__.columns]
    info = ids_as_text(info[[c for c in cols if c in info.columns]], ("entity_id",))
    info = info.drop_duplicates(["entity_type", "entity_id"], keep="last")
    recs = records(info)
    for r in recs:  # one per card or facility of the run
        for c in cols:
            r[c] = None if r.get(c) is None else str(r[c])
    conn.execute(store.upsert(Entity.__table__, ["entity_type", "entity_id"]), recs)


def _peers(store: Store, conn: Any, peers: pd.DataFrame) -> None:
    recs = [
        {
            "entity_type": str(r["entity_type"]),
            "feature": str(r["feature"]),
            **{k: _float(r.get(k)) for k in ("median", "p90", "p99")},
            "bin_edges": json.dumps([_float(x) for x in _as_list(r["bin_edges"])]),
            "bin_shares": json.dumps([_float(x) for x in _as_list(r["bin_shares"])]),
        }
        for r in records(peers.drop_duplicates(["entity_type", "feature"], keep="last"))
    ]
    conn.execute(store.upsert(FeaturePeers.__table__, ["entity_type", "feature"]), recs)


def _float(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None


def _as_list(v: Any) -> list[Any]:
    """A list cell as Parquet stores it (array) or as JSON text."""
    if v is None:
        return []
    if hasattr(v, "tolist"):
        return list(v.tolist())
    if isinstance(v, list | tuple):
        return list(v)
    try:
        parsed = json.loads(str(v))
    except ValueError:
        return []
    return parsed if isinstance(parsed, list) else []
