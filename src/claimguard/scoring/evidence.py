"""Evidence: the few claims a reviewer should open first for each alert.

Why: reasons say what is unusual; evidence claims show it (the overlapping stays,
the early refills, the over-cap doctor-days). The feature layer gives each claim a
strength per signal (``claim_flags``); an alert's evidence is its claims that show
its top reasons' signals most strongly, claims for the first reason first. Claims
that show some other signal come next, and the entity's costliest claims fill in
when a signal has no claim-level evidence, so a reviewer is never left with nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claimguard.features.lookup import positions
from claimguard.schema import ENTITY_TYPES, SIGNALS

ENTITY_KEY = {"card": "card_id", "facility": "facility_id"}


def flag_columns(flags: pd.DataFrame | None) -> list[str]:
    """The signal strength columns present in a claim_flags frame."""
    if flags is None:
        return []
    return [c for c in SIGNALS if c in flags.columns]


def _same_ids(a: pd.Series, b: pd.Series) -> bool:
    """Whether two id columns hold the same strings row for row (compared by Arrow on the
    string buffers: a join of millions of ids costs a second, a comparison milliseconds)."""
    left = pa.array(a.astype("string"))
    right = pa.array(b.astype("string"))
    same = pc.equal(left, right)
    return bool(pc.all(same).as_py()) and same.null_count == 0


def compact_flags(
    flags: pd.DataFrame, claim_ids: pd.Series, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """Claim flags keyed by row position in ``claim_ids`` (the scored claims' ids).

    Why positions: at ten million claims, three string id columns per flag row cost
    gigabytes, while an int32 position costs 40 MB. Keeps only claims that show some
    signal; strengths as float32. Columns: ``pos`` and one per signal. ``rows``: the
    flags are a partition's, whose claims are ``claim_ids.iloc[rows]``.
    """
    if rows is not None:
        out = compact_flags(flags, claim_ids.iloc[rows])
        out["pos"] = rows[out["pos"].to_numpy()].astype("int32")
        return out
    cols = flag_columns(flags)
    if not cols or flags.empty:
        return pd.DataFrame({"pos": np.zeros(0, dtype="int32")})
    strengths = np.nan_to_num(flags[cols].to_numpy(dtype="float32", na_value=0.0))
    any_pos = (strengths > 0).any(axis=1)
    at = np.flatnonzero(any_pos)
    flagged = flags["claim_id"].iloc[at]
    if len(flags) == len(claim_ids) and _same_ids(flagged, claim_ids.iloc[at]):
        pos = at  # flags follow the claims row for row (how build_features writes them)
    else:
        pos = positions(flagged, claim_ids)
    found = pos >= 0
    out = pd.DataFrame({"pos": pos[found].astype("int32")})
    kept = strengths[any_pos][found]
    for j, c in enumerate(cols):
        out[c] = kept[:, j]
    return out


def top_signals(alerts: pd.DataFrame) -> pd.DataFrame:
    """Columns s0, s1, s2: the signals of each alert's first three reasons (None past its
    last), indexed by entity id -- what ``select_evidence`` picks evidence claims for."""
    top = pd.DataFrame(
        {
            f"s{r}": alerts["_reasons"].map(
                lambda rs, r=r: rs[r]["signal"] if len(rs) > r else None
            )
            for r in range(3)
        }
    )
    top.index = pd.Index(alerts["entity_id"].astype("string"))
    return top


def select_evidence(
    entity_type: str,
    top_signals: pd.DataFrame,
    claims: pd.DataFrame,
    flags: pd.DataFrame | None,
    max_evidence: int = 20,
) -> pd.Series:
    """Evidence claim ids per alerted entity, best first.

    ``top_signals``: index = entity id, columns ``s0, s1, s2`` (signal names of the top
    reasons, None when fewer). ``claims`` needs claim_id, the entity key and total_cost;
    ``flags`` comes from :func:`compact_flags` over the same ``claims`` (row positions).
    Returns a Series (index = entity id) of lists of claim ids, at most ``max_evidence``.
    """
    key = ENTITY_KEY[entity_type]
    ids = top_signals.index.astype("string")
    empty: pd.Series = pd.Series([[] for _ in range(len(ids))], index=ids, dtype="object")
    if len(ids) == 0:
        return empty
    rows = np.flatnonzero(claims[key].isin(ids).to_numpy())
    if len(rows) == 0:
        return empty
    mine = claims.iloc[rows][["claim_id", key, "total_cost"]].reset_index(drop=True)
    mine["pos"] = rows.astype("int32")
    cols = flag_columns(flags)
    if flags is not None and cols and not flags.empty:
        fl = flags.loc[flags["pos"].isin(rows), ["pos", *cols]].drop_duplicates("pos")
        mine = mine.merge(fl, on="pos", how="left")
    strengths = (
        np.nan_to_num(mine[cols].to_numpy(dtype="float64", na_value=0.0))
        if cols
        else np.zeros((len(mine), 1))
    )
    col_index = {s: j for j, s in enumerate(cols)}
    sig = top_signals.copy()
    sig.index = ids
    n = len(mine)
    bucket = np.full(n, 4, dtype="int8")
    strength = np.zeros(n)
    entity_pos = pd.Index(ids).get_indexer(mine[key].astype("string"))
    slot_cols = [c for c in ("s0", "s1", "s2") if c in sig.columns]
    for r in reversed(range(len(slot_cols))):  # loop over 3 reason slots
        per_entity = sig[slot_cols[r]].map(lambda x: col_index.get(str(x), -1))
        j = per_entity.to_numpy(dtype="int64")[entity_pos]
        has = j >= 0
        s = np.zeros(n)
        s[has] = strengths[np.nonzero(has)[0], j[has]]
        hit = s > 0
        bucket[hit] = r
        strength[hit] = s[hit]
    other = (bucket == 4) & (strengths.max(axis=1) > 0)
    bucket[other] = 3
    strength[other] = strengths.max(axis=1)[other]
    fallback = bucket == 4
    strength[fallback] = mine["total_cost"].to_numpy(dtype="float64", na_value=0.0)[fallback]
    ranked = pd.DataFrame(
        {
            "entity_id": mine[key].astype("string").to_numpy(),
            "claim_id": mine["claim_id"].astype("string").to_numpy(),
            "bucket": bucket,
            "strength": strength,
        }
    )
    ranked = ranked.sort_values(
        ["entity_id", "bucket", "strength", "claim_id"],
        ascending=[True, True, False, True],
        kind="stable",
    )
    ranked = ranked.groupby("entity_id", sort=False).head(max_evidence)
    lists = ranked.groupby("entity_id", sort=False)["claim_id"].agg(list)
    out = lists.reindex(ids)
    return out.apply(lambda v: v if isinstance(v, list) else []).astype("object")


def alert_evidence(
    alerts: pd.DataFrame,
    claims: pd.DataFrame,
    flags: Mapping[str, pd.DataFrame | None],
    max_evidence: int,
) -> pd.Series:
    """Each alert's evidence claim ids (a list per row, aligned on ``alerts``' index)."""
    parts = []
    for entity_type in ENTITY_TYPES:
        sel = alerts.loc[alerts["entity_type"] == entity_type]
        if sel.empty:
            continue
        top = top_signals(sel)
        ev = select_evidence(entity_type, top, claims, flags.get(entity_type), max_evidence)
        parts.append(pd.Series(ev.to_numpy(), index=sel.index))
    evidence = pd.concat(parts) if parts else pd.Series(dtype="object")
    return evidence.reindex(alerts.index)
