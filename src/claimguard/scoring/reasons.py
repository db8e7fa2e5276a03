"""Reasons: why an entity is on the queue, in sentences a reviewer reads without the model.

Why: a score alone cannot be acted on. Each alert gets a short list of reasons,
strongest first, one per signal: decisive rule hits first, then the features that
the detector's own attribution says pushed this entity's score up, provided the
entity really is above its peers on them. Each reason names the feature, its value,
what is typical for similar entities (from the training data; 1.0 for features
already expressed relative to peers) and a plain sentence from the catalogue.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from claimguard.schema import SIGNALS

log = logging.getLogger(__name__)

PEERS_WORD = {"card": "similar patients", "facility": "similar facilities"}


class FeatureSpecLike(Protocol):
    """What reasons need from a catalogue entry (``claimguard.features.catalog.FeatureSpec``)."""

    @property
    def name(self) -> str: ...
    @property
    def signal(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def text(self) -> str: ...


def is_peer_relative(feature: str) -> bool:
    """Features expressed as a ratio to the peer group: 1.0 means 'like its peers'."""
    return "peer" in feature


def typical_values(features: list[str], stats: pd.DataFrame | None) -> pd.Series:
    """What is typical for each feature: training median, 1.0 for peer-relative ones."""
    typical = pd.Series(np.nan, index=pd.Index(features, dtype="object"), dtype="float64")
    if stats is not None and "median" in stats.columns:
        med = pd.to_numeric(stats["median"], errors="coerce")
        typical.update(med.reindex(typical.index))
    peer = [f for f in features if is_peer_relative(f)]
    typical.loc[peer] = 1.0
    return typical


def _fmt_number(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.2g}" if abs(x) < 1 else f"{x:.1f}"


def _render(template: str, value: float, typical: float) -> str | None:
    try:
        return template.format(value=value, typical=typical)
    except (KeyError, IndexError, ValueError, TypeError):
        return None


# A sentence that already compares with peers ("2.3× the tests of peers", "rarer ... than
# overall", "standard errors above"): appending the peers' own figure would repeat it.
_RELATIVE = re.compile(
    r"\}\s*[×x]|\d\s*[×x]\s|×|\bthan\b|standard errors|as many|\bpeers?\b|colleagues"
)
_VALUE_FIELD = re.compile(r"\{value(?::([^}]*))?\}")


def is_relative_sentence(template: str, feature: str) -> bool:
    """Whether the reason's sentence (or feature) is already a comparison with peers."""
    return is_peer_relative(feature) or bool(_RELATIVE.search(template or ""))


def _fmt_like(template: str, x: float) -> str:
    """``x`` in the number format the template gives its value (``.0%`` stays a percent)."""
    m = _VALUE_FIELD.search(template)
    if m and m.group(1):
        try:
            return format(x, m.group(1))
        except (ValueError, TypeError):
            pass
    return _fmt_number(x)


def reason_text(
    spec: FeatureSpecLike | None, feature: str, value: float, typical: float, entity_type: str
) -> str:
    """One sentence: the entity's figure, then (once, as a number) the figure of its peers.

    "12 visits in the busiest 7 days; similar patients: 2" instead of repeating the whole
    sentence for the peers; sentences that are a comparison already get nothing appended
    (never "similar patients: a diagnosis 1× rarer").
    """
    peers = PEERS_WORD.get(entity_type, "peers")
    template = getattr(spec, "text", "") or ""
    own = _render(template, value, typical) if template else None
    if own is None:
        label = (getattr(spec, "description", "") or feature.replace("_", " ")).rstrip(".")
        own = f"{label}: {_fmt_number(value)}"
        if math.isfinite(typical) and not is_peer_relative(feature):
            return f"{own}; {peers}: {_fmt_number(typical)}"
        return own
    if "{typical" in template or not math.isfinite(typical):
        return own
    if is_relative_sentence(template, feature):
        return own
    return f"{own}; {peers}: {_fmt_like(template, typical)}"


def rule_features(
    rule: str, features: list[str], catalog: Mapping[str, FeatureSpecLike]
) -> list[str]:
    """Features a rule hit stands for: the feature itself, its signal's features, or by name."""
    if rule in features:
        return [rule]
    signal_of = {f: getattr(catalog.get(f), "signal", "other") for f in features}
    if rule in SIGNALS:
        return [f for f in features if signal_of[f] == rule]
    by_name = [f for f in features if f in rule or rule in f]
    if by_name:
        return by_name
    mentioned = [s for s in SIGNALS if s != "other" and s in rule]
    return [f for f in features if signal_of[f] in mentioned]


def _parse_hits(raw: Any) -> list[str]:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return []
    if isinstance(raw, list | tuple | np.ndarray):
        return [str(r) for r in raw]
    try:
        parsed = json.loads(str(raw))
    except (json.JSONDecodeError, TypeError):
        return [str(raw)] if str(raw) else []
    return [str(r) for r in parsed] if isinstance(parsed, list) else []


def _rule_matrix(
    rule_hits: pd.Series | None,
    index: pd.Index,
    features: list[str],
    catalog: Mapping[str, FeatureSpecLike],
) -> np.ndarray:
    """Entity x feature: True where the feature is behind one of the entity's rule hits."""
    rule = np.zeros((len(index), len(features)), dtype=bool)
    if rule_hits is None:
        return rule
    col = {f: j for j, f in enumerate(features)}
    for i, raw in enumerate(rule_hits.reindex(index).to_numpy(dtype="object")):  # alerts only
        for name in _parse_hits(raw):
            for f in rule_features(name, features, catalog):
                rule[i, col[f]] = True
    return rule


def build_reasons(
    entity_type: str,
    values: pd.DataFrame,
    attributions: pd.DataFrame,
    *,
    catalog: Mapping[str, FeatureSpecLike],
    stats: pd.DataFrame | None = None,
    rule_hits: pd.Series | None = None,
    max_reasons: int = 5,
) -> pd.Series:
    """Reasons per entity (index of ``values``): a list of dicts, strongest first.

    Order: features behind a rule hit, then features with positive attribution on which
    the entity is above typical, then (rarely needed) features far above the training
    90th percentile that the detector did not credit. One reason per signal.
    Entities with no qualifying feature get an empty list (the caller drops them).
    """
    features = [str(c) for c in values.columns]
    n = len(values)
    if n == 0 or not features:
        return pd.Series([[] for _ in range(n)], index=values.index, dtype="object")
    vals = values.to_numpy(dtype="float64")
    attr = attributions.reindex(index=values.index, columns=values.columns).to_numpy(
        dtype="float64", na_value=0.0
    )
    attr = np.nan_to_num(attr, nan=0.0)
    typical = typical_values(features, stats).to_numpy()
    p90 = np.full(len(features), np.nan)
    if stats is not None and "p90" in stats.columns:
        p90 = pd.to_numeric(stats["p90"], errors="coerce").reindex(features).to_numpy()
    above = np.isfinite(vals) & (vals > np.where(np.isfinite(typical), typical, -np.inf))
    far = np.isfinite(vals) & np.isfinite(p90) & (vals > p90) & (p90 > typical)

    rule = _rule_matrix(rule_hits, values.index, features, catalog) & np.isfinite(vals)
    tier = np.full(vals.shape, 9, dtype="int8")
    tier[far] = 2
    tier[above & (attr > 0)] = 1
    tier[rule & (above | (attr > 0))] = 0
    ii, jj = np.nonzero(tier < 9)
    if len(ii) == 0:
        return pd.Series([[] for _ in range(n)], index=values.index, dtype="object")
    signals = np.array(
        [str(getattr(catalog.get(f), "signal", "other")) for f in features], dtype=object
    )
    signals = np.where(np.isin(signals, SIGNALS), signals, "other")
    long = pd.DataFrame(
        {
            "row": ii,
            "col": jj,
            "tier": tier[ii, jj],
            "attr": attr[ii, jj],
            "signal": signals[jj],
        }
    )
    long = long.sort_values(["row", "tier", "attr"], ascending=[True, True, False], kind="stable")
    long = long.drop_duplicates(["row", "signal"], keep="first")
    long = long.groupby("row", sort=False).head(max_reasons)

    out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for r, c, sig in zip(long["row"], long["col"], long["signal"], strict=True):
        f = features[c]
        v = float(vals[r, c])
        t = float(typical[c])
        out[r].append(
            {
                "signal": str(sig),
                "feature": f,
                "value": round(v, 6),
                "typical": round(t, 6) if math.isfinite(t) else None,
                "text": reason_text(catalog.get(f), f, v, t, entity_type),
            }
        )
    return pd.Series(out, index=values.index, dtype="object")
