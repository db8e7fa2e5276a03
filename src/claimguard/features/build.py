"""Build the per-card and per-facility feature tables for one scoring period.

``build_features`` is the one entry point the model, scoring and the ``features``
command use. It prepares the claims once, looks up peer expectations (fitted on the
training data and passed in, or fitted here), computes every feature the data allows,
switches off (with one log line) the features whose columns are absent, and collects
per-claim evidence strengths for the reasons of an alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from claimguard.features import card as card_mod
from claimguard.features import facility as facility_mod
from claimguard.features import patterns as patterns_mod
from claimguard.features.catalog import CATALOG, features_for
from claimguard.features.peers import PeerTables, expected_claims, fit_from_prepared
from claimguard.features.prepare import Prepared, period_of, prepare
from claimguard.schema import SIGNALS
from claimguard.settings import FeatureSettings

log = logging.getLogger(__name__)

FLAG_SIGNALS: tuple[str, ...] = tuple(s for s in SIGNALS if s != "other")
CARD_EXPECTATIONS = ("cost", "outside_home", "away")  # peer expectations card features use

# The canonical columns the features read: a job may load only these (a fund's card
# registry and line tables are large).
USED_COLUMNS: dict[str, tuple[str, ...]] = {
    "claims": (
        "claim_id", "card_id", "facility_id", "admit_time", "discharge_time", "visit_type",
        "primary_dx", "secondary_dx", "total_cost", "drug_cost", "supply_cost",
        "patient_birth_date", "patient_sex", "registered_facility_id", "card_valid_from",
        "card_valid_to", "doctor_id", "referral_from", "sick_leave_days",
    ),
    "claim_lines": ("claim_id", "line_type", "item_code", "amount", "days_supply"),
    "cards": (
        "card_id", "birth_date", "sex", "province", "registered_facility_id", "valid_from",
        "valid_to", "death_date",
    ),
    "facilities": ("facility_id", "province", "tier"),
}  # fmt: skip


@dataclass
class FeatureSet:
    """Feature tables of one period (columns: docs/feature_catalog.md; seams: docs/architecture.md)."""

    card: pd.DataFrame
    facility: pd.DataFrame
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    switched_off: dict[str, list[str]] = field(default_factory=dict)
    # None when the build went by partitions (each partition's flags went to a sink)
    claim_flags: pd.DataFrame | None = field(default_factory=pd.DataFrame)

    def table(self, entity: str) -> pd.DataFrame:
        """The feature table of an entity type ("card" or "facility")."""
        if entity == "card":
            return self.card
        if entity == "facility":
            return self.facility
        raise KeyError(f"no feature table for entity type {entity!r}")


def _switched_off(
    p: Prepared, computed: set[str], entities: tuple[str, ...]
) -> dict[str, list[str]]:
    """Features whose required columns are absent -> the missing requirements."""
    off: dict[str, list[str]] = {}
    for name, spec in CATALOG.items():
        if spec.entity not in entities:
            continue
        missing = [r for r in spec.requires if not p.has(r)]
        if missing or name not in computed:
            off[name] = missing or ["(no data to compute it)"]
    return off


def _frame(
    values: dict[str, np.ndarray], names: list[str], ids: np.ndarray, index: str
) -> pd.DataFrame:
    """One float64 column per feature, NaN/inf as 0; no whole-table copies (8M cards x 20
    features is 1.3 GB per copy), each column is cleaned in place and handed over.
    """
    cols = {}
    for n in names:
        col = np.asarray(values.pop(n), dtype=np.float64)
        cols[n] = np.nan_to_num(col, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    idx = pd.Index(pd.array(ids, dtype="string"), name=index)
    return pd.DataFrame(cols, index=idx, copy=False)


def build_features(
    claims: pd.DataFrame,
    claim_lines: pd.DataFrame | None = None,
    cards: pd.DataFrame | None = None,
    facilities: pd.DataFrame | None = None,
    *,
    peers: PeerTables | None = None,
    settings: FeatureSettings,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    entities: tuple[str, ...] = ("card", "facility"),
    line_rows: np.ndarray | None = None,
) -> FeatureSet:
    """Per-card and per-facility features of the claims admitted within ``period``.

    period None = first .. last admit day. peers None = fitted on these claims (fine
    for exploration; for scoring pass the peers fitted on the training data).
    ``entities`` limits the work to card or facility features (a partition of cards
    needs no facility features); the other table is then empty. Card rows come in order
    of first appearance in ``claims``, facility rows sorted by id, ``claim_flags`` rows
    in the order of ``claims``. ``line_rows``: the row of each line's claim in ``claims``
    (-1 unknown) when the caller already joined them (see :func:`prepare`).
    """
    if period is None:
        period = period_of(claims)
    start, end = pd.Timestamp(period[0]).normalize(), pd.Timestamp(period[1]).normalize()
    p = prepare(claims, claim_lines, cards, facilities, (start, end), line_rows, "card" in entities)
    if peers is None:
        peers = fit_from_prepared(p, settings)
    expected = expected_claims(peers, p)
    sizes = card_mod.same_visit_sizes(p)
    card_vals: dict[str, np.ndarray] = {}
    card_flags: dict[str, np.ndarray] = {}
    fac_vals: dict[str, np.ndarray] = {}
    fac_flags: dict[str, np.ndarray] = {}
    # facilities first: they use every peer expectation, cards only three (memory)
    if "facility" in entities:
        fac_vals, fac_flags = facility_mod.facility_features(p, peers, settings, expected, sizes)
    for stat in [s for s in expected if s not in CARD_EXPECTATIONS]:
        del expected[stat]
    if "card" in entities:
        card_vals, card_flags = card_mod.card_features(p, peers, settings, expected, sizes)
        card_vals.update(
            patterns_mod.card_patterns(p, peers, sizes, card_flags, settings.back_to_back_minutes)
        )
    del expected, sizes

    computed = set(card_vals) | set(fac_vals)
    off = _switched_off(p, computed, entities)
    if off:
        log.info(
            "Features switched off (columns absent): %s",
            "; ".join(f"{k} [{', '.join(v)}]" for k, v in off.items()),
        )
    card_names = [s.name for s in features_for("card") if s.name in card_vals and s.name not in off]
    fac_names = [
        s.name for s in features_for("facility") if s.name in fac_vals and s.name not in off
    ]
    card_ids = p.card_ids if "card" in entities else p.card_ids[:0]
    fac_ids = p.fac_ids if "facility" in entities else p.fac_ids[:0]
    card_df = _frame(card_vals, card_names, card_ids, "card_id")
    fac_df = _frame(fac_vals, fac_names, fac_ids, "facility_id")
    del card_vals, fac_vals
    all_flags = {**card_flags, **fac_flags}
    del card_flags, fac_flags
    flags = _claim_flags(claims, p, all_flags, off, computed)
    return FeatureSet(
        card=card_df,
        facility=fac_df,
        period_start=start,
        period_end=end,
        switched_off=off,
        claim_flags=flags,
    )


def _claim_flags(
    claims: pd.DataFrame,
    p: Prepared,
    flags: dict[str, np.ndarray],
    off: dict[str, list[str]],
    computed: set[str],
) -> pd.DataFrame:
    """claim_id, card_id, facility_id + one strength column per signal with evidence.

    Rows follow the input claims' order (those admitted within the period), so the id
    columns share the input's memory instead of copying millions of strings.
    """
    live_signals = {CATALOG[n].signal for n in computed if n not in off}
    ids = ["claim_id", "card_id", "facility_id"]
    if p.n == len(claims):
        df = claims[ids].reset_index(drop=True)
        where = p.order
    else:
        rows = np.sort(p.order)
        df = claims[ids].iloc[rows].reset_index(drop=True)
        where = np.searchsorted(rows, p.order)
    for col in ids:  # strings stay strings, categoricals stay categoricals (memory)
        if not isinstance(df[col].dtype, pd.StringDtype | pd.CategoricalDtype):
            df[col] = df[col].astype("string")
    for signal in FLAG_SIGNALS:
        if signal in flags and signal in live_signals:
            strength = np.zeros(len(df), dtype=np.float32)
            strength[where] = np.nan_to_num(flags.pop(signal).astype(np.float32), nan=0.0)
            df[signal] = strength
    return df


__all__ = ["FLAG_SIGNALS", "USED_COLUMNS", "FeatureSet", "build_features"]
