"""The scoring batch: a validated month of claims + a model bundle -> ranked, explained alerts.

Why one function: a nightly job, the demo and the benchmark all run exactly the same
steps (features with the bundle's training peers, scores, queue cut, reasons,
evidence, triage context, drift), and only the command layer touches files.
Large months are processed in card-hash partitions (card features) and facility
partitions (facility features): every card's claims, and every facility's, are in
one partition, so the features are identical to a single pass while the temporary
memory of the feature arithmetic stays bounded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from claimguard import __version__
from claimguard.errors import UserError
from claimguard.features.lookup import member, positions
from claimguard.features.partitioned import build_partitioned as features_in_partitions
from claimguard.memory import release_memory
from claimguard.progress import step
from claimguard.schema import ALERT_COLUMNS, ENTITY_TYPES
from claimguard.scoring import context
from claimguard.scoring.alerts import alert_ids, rank_scores, select_alerts, within_capacity
from claimguard.scoring.drift import drift_report
from claimguard.scoring.evidence import alert_evidence, compact_flags
from claimguard.scoring.quarantine import quarantine_check
from claimguard.scoring.reasons import build_reasons
from claimguard.settings import Settings
from claimguard.tables import Dataset

if TYPE_CHECKING:
    from claimguard.features.build import FeatureSet
    from claimguard.features.feature_specs import FeatureSpec
    from claimguard.model.bundle import Bundle

log = logging.getLogger(__name__)

# Entities per scoring block: the detector makes ~6 float64 copies of its feature matrix
# (a 10M-claim month has ~8M cards: ~7 GB unblocked); scores are per row, so blocks
# give the same result.
SCORE_ROWS = 500_000
# Feature tables are kept as float32 while scoring: scikit-learn's trees compare float32
# anyway (the forest scores are the same), and 8M cards x 30 features is 1 GB less.
FEATURE_DTYPE = np.float32


@dataclass
class ScoreResult:
    """Everything the score command writes (frames) plus the run record."""

    scores: pd.DataFrame
    alerts: pd.DataFrame
    quarantine: pd.DataFrame
    run: dict[str, Any]
    drift: dict[str, Any]
    context: dict[str, pd.DataFrame | None] = field(default_factory=dict)


def parse_period(text: str | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``2024-01-01..2024-01-31`` -> (start, end), both days inclusive."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).split("..")
    try:
        if len(parts) != 2:
            raise ValueError("expected START..END")
        start, end = pd.Timestamp(parts[0].strip()), pd.Timestamp(parts[1].strip())
    except (ValueError, TypeError) as exc:
        raise UserError(
            f"Cannot read the period {text!r} ({exc})",
            where="--period",
            fix="write it as START..END with ISO dates, e.g. 2024-01-01..2024-01-31",
        ) from exc
    if end < start:
        raise UserError(
            f"The period {text!r} ends before it starts",
            where="--period",
            fix="put the earlier date first, e.g. 2024-01-01..2024-01-31",
        )
    return start.normalize(), end.normalize()


def _restrict_to_period(
    ds: Dataset, period: tuple[pd.Timestamp, pd.Timestamp] | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, tuple[pd.Timestamp, pd.Timestamp]]:
    claims = ds.claims
    lines = ds.claim_lines
    if period is not None:
        start, end = period
        t = claims["admit_time"]
        claims = claims.loc[(t >= start) & (t < end + pd.Timedelta(days=1))]
        if lines is not None and len(claims) < len(ds.claims):
            lines = lines.loc[member(lines["claim_id"], claims["claim_id"])]
        return claims, lines, (start, end)
    if claims.empty:
        raise UserError(
            "There are no valid claims to score",
            where="claims table",
            fix="check the quarantine (every row was rejected) or the input folder",
        )
    t = claims["admit_time"]
    return claims, lines, (t.min().normalize(), t.max().normalize())


def build_partitioned(
    claims: pd.DataFrame,
    lines: pd.DataFrame | None,
    ds: Dataset,
    bundle: Bundle,
    period: tuple[pd.Timestamp, pd.Timestamp],
    partition_rows: int,
) -> tuple[FeatureSet, dict[str, pd.DataFrame]]:
    """Features for the whole period with the bundle's peers, in card-hash and facility
    partitions; returns (FeatureSet, compact claim flags per entity type)."""
    parts: dict[str, list[pd.DataFrame]] = {"card": [], "facility": []}
    claim_ids = claims["claim_id"]

    def keep_flags(entity: str, flags: pd.DataFrame, rows: np.ndarray) -> None:
        parts[entity].append(compact_flags(flags, claim_ids, rows))

    fs = features_in_partitions(
        claims,
        lines,
        ds.cards,
        ds.facilities,
        peers=bundle.peers,
        settings=bundle.settings.features,
        period=period,
        partition_rows=partition_rows,
        dtype=FEATURE_DTYPE,
        on_flags=keep_flags,
    )
    return fs, {e: pd.concat(v, ignore_index=True) for e, v in parts.items() if v}


def score_in_blocks(
    bundle: Bundle, fs: FeatureSet, rows: int = SCORE_ROWS
) -> dict[str, pd.DataFrame]:
    """``bundle.score(fs)`` computed over blocks of ``rows`` entities (bounded memory)."""
    if not hasattr(bundle, "score_entity"):
        return dict(bundle.score(fs))
    bundle.check_features(fs)
    out: dict[str, pd.DataFrame] = {}
    for entity_type in bundle.detectors:  # two entity types
        table = getattr(fs, entity_type)
        starts = range(0, max(len(table), 1), max(rows, 1))
        parts = [bundle.score_entity(entity_type, table.iloc[i : i + rows]) for i in starts]
        out[entity_type] = parts[0] if len(parts) == 1 else pd.concat(parts)
        del parts
        release_memory()
    return out


def _rows(table: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """``table.reindex(ids)`` for a few ids of a table indexed by millions of string ids,
    by Arrow's hash lookup: pandas would build (and keep) a Python hash table of every id
    (7 s and 1.7 GB at 8M cards)."""
    pos = positions(pd.Series(ids, dtype="string"), pd.Series(table.index, dtype="string"))
    if len(pos) and bool((pos < 0).any()):
        return table.reindex(index=ids)
    out = table.iloc[pos]
    out.index = ids
    return out


def _explain(
    entity_type: str,
    candidates: pd.DataFrame,
    table: pd.DataFrame,
    scored: pd.DataFrame,
    bundle: Bundle,
    catalog: Mapping[str, FeatureSpec],
    max_reasons: int,
) -> pd.Series:
    # forest features and evidence-only ones (facility z-scores): a fired evidence item is a
    # reason even when the forest does not see its feature (attribution 0)
    names = list(bundle.required_features(entity_type))
    ids = pd.Index(candidates["entity_id"].astype("string"))
    x = _rows(table, ids).reindex(columns=names)
    attributions = bundle.attributions(entity_type, x).reindex(columns=names, fill_value=0.0)
    hits = _rows(scored, ids)["rule_hits"] if "rule_hits" in scored.columns else None
    return build_reasons(
        entity_type,
        x,
        attributions,
        catalog=catalog,
        stats=bundle.feature_stats.get(entity_type),
        rule_hits=hits,
        max_reasons=max_reasons,
    )


def score_dataset(
    ds: Dataset,
    bundle: Bundle,
    settings: Settings,
    *,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    timings: dict[str, float] | None = None,
    partition_rows: int | None = None,
) -> ScoreResult:
    """Score every card and facility of ``ds`` and build the explained alert queue."""
    from claimguard.features.catalog import CATALOG

    timings = {} if timings is None else timings
    started = time.perf_counter()
    release_memory()  # what reading and validating freed, before the feature partitions
    claims, lines, period = _restrict_to_period(ds, period)
    if claims.empty:
        raise UserError(
            "No claims fall in the requested period",
            where=f"--period {period[0]:%Y-%m-%d}..{period[1]:%Y-%m-%d}",
            fix="choose a period that overlaps the data's admission dates",
        )
    with step("Building features", timings):
        rows = partition_rows or settings.scoring.partition_claims
        fs, flags = build_partitioned(claims, lines, ds, bundle, period, rows)
        release_memory()
    if hasattr(bundle, "check_features"):
        bundle.check_features(fs)
    with step("Scoring", timings):
        scored = score_in_blocks(bundle, fs)
        ranked = rank_scores(scored, period[0], period[1])
        # only the rule hits are read again (reasons); the score columns are in ``ranked``
        scored = {e: s[["rule_hits"]] if "rule_hits" in s else s for e, s in scored.items()}
        release_memory()

    with step("Explaining alerts", timings):
        candidates = select_alerts(
            ranked, settings.scoring.candidate_capacity, settings.scoring.score_threshold
        )
        alerts = _explained_queue(candidates, ranked, fs, scored, bundle, settings, CATALOG)

    with step("Selecting evidence", timings):
        alerts["_evidence"] = alert_evidence(alerts, claims, flags, settings.scoring.max_evidence)
        alerts = _finish_alerts(alerts, bundle.model_version)
        ctx = _context(ds, claims, lines, alerts, period, bundle.feature_stats)

    with step("Checking drift", timings):
        drift = drift_report(
            # the tables themselves, not copies: only the model's features are in the stats
            {e: getattr(fs, e) for e in bundle.feature_names},
            bundle.feature_stats,
            claims,
            seen_facilities=bundle.seen("facilities"),
            seen_diagnoses=bundle.seen("diagnoses"),
            limits=settings.drift,
        )
        for problem in drift["problems"]:
            log.warning("Drift: %s", problem)

    timings["Scoring total (without reading)"] = round(time.perf_counter() - started, 3)
    run = _run_record(
        ds, bundle, settings, claims, ranked, alerts, period, timings, drift, fs.switched_off
    )
    return ScoreResult(
        scores=ranked, alerts=alerts, quarantine=ds.quarantine, run=run, drift=drift, context=ctx
    )


def _explained_queue(
    candidates: pd.DataFrame,
    ranked: pd.DataFrame,
    fs: FeatureSet,
    scored: dict[str, pd.DataFrame],
    bundle: Bundle,
    settings: Settings,
    catalog: Mapping[str, FeatureSpec],
) -> pd.DataFrame:
    """The alert queue: candidates with reasons, cut to each entity type's review capacity
    (and above the score threshold, when one is set).

    Why candidates beyond the capacity are explained: a candidate without a reason is
    dropped, and the next one takes its place.
    """
    cap = settings.scoring.review_capacity
    threshold = settings.scoring.score_threshold
    parts = []
    for entity_type in ENTITY_TYPES:
        cand = candidates.loc[candidates["entity_type"] == entity_type].copy()
        if cand.empty:
            continue
        reasons = _explain(
            entity_type,
            cand,
            fs.table(entity_type),
            scored[entity_type],
            bundle,
            catalog,
            settings.scoring.max_reasons,
        )
        cand["_reasons"] = reasons.to_numpy()
        parts.append(within_capacity(cand, cap[entity_type], threshold))
    if not parts:
        return ranked.iloc[0:0].assign(_reasons=pd.Series(dtype="object"))
    alerts = pd.concat(parts, ignore_index=True)
    log.debug("%d candidates without reasons or beyond capacity", len(candidates) - len(alerts))
    return alerts


def _finish_alerts(alerts: pd.DataFrame, model_version: str) -> pd.DataFrame:
    out = alerts.copy()
    out["alert_id"] = alert_ids(out, model_version)
    out["top_signal"] = out["_reasons"].map(lambda rs: rs[0]["signal"]).astype("string")
    out["reasons"] = out["_reasons"].map(lambda rs: json.dumps(rs, ensure_ascii=False))
    out["evidence_claim_ids"] = out["_evidence"].map(
        lambda ev: json.dumps(list(ev) if isinstance(ev, list) else [])
    )
    out["reasons"] = out["reasons"].astype("string")
    out["evidence_claim_ids"] = out["evidence_claim_ids"].astype("string")
    out["model_version"] = pd.Series(str(model_version), index=out.index, dtype="string")
    out = out.sort_values(["entity_type", "rank"], kind="stable").reset_index(drop=True)
    return out[list(ALERT_COLUMNS)]


def _context(
    ds: Dataset,
    claims: pd.DataFrame,
    lines: pd.DataFrame | None,
    alerts: pd.DataFrame,
    period: tuple[pd.Timestamp, pd.Timestamp],
    feature_stats: dict[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame | None]:
    ids = alerts["evidence_claim_ids"].map(json.loads).explode().dropna()
    cards = pd.Index(alerts.loc[alerts["entity_type"] == "card", "entity_id"].astype("string"))
    ids = pd.concat([ids.astype("string"), context.card_visit_ids(claims, cards).to_series()])
    claim_ids = pd.Index(ids.astype("string").unique())
    facs = pd.Index(alerts.loc[alerts["entity_type"] == "facility", "entity_id"].astype("string"))
    ev_claims = context.evidence_claims(claims, ds.facilities, claim_ids)
    ev_facs = pd.Index(ev_claims["facility_id"].astype("string").unique())
    return {
        "evidence_claims": ev_claims,
        "evidence_lines": context.evidence_lines(lines, claim_ids),
        "entity_info": context.entity_info(ds, cards, facs.union(ev_facs), period[1]),
        "card_facilities": context.card_facilities(claims, cards),
        "doctor_days": context.doctor_days(claims, facs),
        "feature_peers": context.feature_peers(feature_stats),
    }


def _run_record(
    ds: Dataset,
    bundle: Bundle,
    settings: Settings,
    claims: pd.DataFrame,
    ranked: pd.DataFrame,
    alerts: pd.DataFrame,
    period: tuple[pd.Timestamp, pd.Timestamp],
    timings: dict[str, float],
    drift: dict[str, Any],
    switched_off: dict[str, list[str]],
) -> dict[str, Any]:
    by_type = ranked["entity_type"].value_counts()
    alerts_by_type = alerts["entity_type"].value_counts()
    return {
        "claimguard_version": __version__,
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "period_start": period[0].strftime("%Y-%m-%d"),
        "period_end": period[1].strftime("%Y-%m-%d"),
        "model_version": str(bundle.model_version),
        "config_hash": settings.config_hash(),
        "counts": ds.counts,
        "claims_scored": int(len(claims)),
        "entities_scored": {e: int(by_type.get(e, 0)) for e in ENTITY_TYPES},
        "alerts_written": {e: int(alerts_by_type.get(e, 0)) for e in ENTITY_TYPES},
        "review_capacity": settings.scoring.review_capacity,
        "score_threshold": settings.scoring.score_threshold,
        "switched_off_features": dict(switched_off),
        "input_files": dict(ds.sources),
        "timings_seconds": dict(timings),
        "drift": drift,
        "quarantine": quarantine_check(
            ds.counts, ds.quarantine, settings.scoring.max_quarantine_share
        ),
    }
