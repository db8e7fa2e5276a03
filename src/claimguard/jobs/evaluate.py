"""Evaluate a scored folder against labels: how good is the queue, and are its reasons right?

Why: a data scientist defends a model with numbers a reviewer cares about — of the
cases we can review (the capacity), how many are real, which abuse scenarios we miss,
how many legitimate heavy users (traps) waste review time, and whether the reasons
point at the abuse that is really there. Labels are planted truth (``labels.csv``,
``traps.csv`` beside it) or reviewer decisions exported from triage (confirmed =
positive, dismissed = negative, anything else ignored).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from claimguard import __version__
from claimguard.errors import InputFileError
from claimguard.evaluation import report
from claimguard.evaluation.scenarios import canonical_scenario, expected_signals, normalise
from claimguard.io.atomic import atomic_folder, write_json
from claimguard.jobs.labels import read_labels, read_traps
from claimguard.progress import step
from claimguard.schema import ENTITY_TYPES, decision_labels
from claimguard.settings import ScoringSettings

log = logging.getLogger(__name__)


def _ks(capacity: int, n: int) -> list[int]:
    ks = {capacity // 4, capacity // 2, capacity, capacity * 2, capacity * 5}
    usable = sorted(k for k in ks if 0 < k <= n)
    return usable or [max(n, 1)]


def _clean(value: Any) -> Any:
    """NaN -> None recursively, so metrics.json is strict JSON."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return value


def _metrics(
    scores: pd.Series, labels: pd.DataFrame, et: str, ks: list[int], traps: pd.DataFrame | None
) -> dict[str, Any]:
    """The shared ranking metrics (model area's ``entity_metrics``), NaN as None."""
    from claimguard.evaluation.metrics import entity_metrics

    result: dict[str, Any] = _clean(entity_metrics(scores, labels, et, ks, traps=traps))
    return result


def explanation_hits(alerts: pd.DataFrame, labels: pd.DataFrame) -> dict[str, Any]:
    """Among true alerts, how often the scenario's expected signal is in the top 3 reasons."""
    pos = labels.loc[labels["label"] == 1, ["entity_type", "entity_id", "scenario"]]
    true = alerts.merge(pos, on=["entity_type", "entity_id"], how="inner")
    true = true.assign(expected=true["scenario"].map(expected_signals))
    true = true.loc[true["expected"].map(len) > 0]
    if true.empty:
        return {"true_alerts": 0, "hit_rate": None, "primary_hit_rate": None, "per_scenario": {}}
    top3 = true["reasons"].map(lambda r: [x["signal"] for x in json.loads(r)[:3]])
    hit = [bool(set(e) & set(t)) for e, t in zip(true["expected"], top3, strict=True)]
    primary = [e[0] in t for e, t in zip(true["expected"], top3, strict=True)]
    true = true.assign(
        hit=hit,
        primary=primary,
        first=top3.map(lambda t: t[0] if len(t) else ""),
        scen=true["scenario"].map(lambda s: canonical_scenario(s) or normalise(s)),
    )
    per = {}
    for scen, grp in true.groupby("scen", sort=True):  # loop over scenarios
        per[str(scen)] = {
            "true_alerts": int(len(grp)),
            "hit_rate": round(float(grp["hit"].mean()), 4),
            "primary_hit_rate": round(float(grp["primary"].mean()), 4),
            "first_reason": str(grp["first"].mode().iloc[0]),
        }
    return {
        "true_alerts": int(len(true)),
        "hit_rate": round(float(np.mean(hit)), 4),
        "primary_hit_rate": round(float(np.mean(primary)), 4),
        "per_scenario": per,
    }


def reviewer_precision(alerts: pd.DataFrame, decisions: pd.DataFrame) -> list[dict[str, Any]]:
    """Per entity type: alerts by reviewer decision and queue precision."""
    rows = []
    decided = decisions.drop_duplicates(["entity_type", "entity_id"], keep="last")
    for et in ENTITY_TYPES:  # two entity types
        a = alerts.loc[alerts["entity_type"] == et, ["entity_id"]]
        if a.empty:
            continue
        d = a.merge(decided.loc[decided["entity_type"] == et], on="entity_id", how="left")
        dec = d["decision"].fillna("")
        label = decision_labels(dec)
        conf, dism = int((label == 1).sum()), int((label == 0).sum())
        undecided = int((dec == "").sum())
        other = len(d) - conf - dism - undecided
        prec = conf / (conf + dism) if conf + dism else None
        rows.append(
            {
                "entity_type": et,
                "alerts": len(d),
                "confirmed": conf,
                "dismissed": dism,
                "other_decision": other,
                "undecided": undecided,
                "queue_precision": None if prec is None else round(prec, 4),
            }
        )
    return rows


def _read_scored(scored_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(scores, alerts, run.json) of a scored folder; exit 2 when it is not one."""
    for name in ("scores.parquet", "alerts.parquet"):
        if not (scored_dir / name).exists():
            raise InputFileError(
                f"{name} is missing: this is not a scored folder",
                where=str(scored_dir),
                fix="pass the --out folder of `claimguard score`",
            )
    run_path = scored_dir / "run.json"
    run = json.loads(run_path.read_text()) if run_path.exists() else {}
    scores = pd.read_parquet(scored_dir / "scores.parquet")
    return scores, pd.read_parquet(scored_dir / "alerts.parquet"), run


def _baselines(
    claims: pd.DataFrame, et: str, sc: pd.Series, for_metrics: pd.DataFrame, ks: list[int],
    traps: pd.DataFrame | None, curves: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, Any]:  # fmt: skip
    """The naive baselines' metrics on the same entities (their curves added to ``curves``)."""
    from claimguard.evaluation.baselines import baseline_scores

    out: dict[str, Any] = {}
    for method in ("iforest", "ecod"):
        with step(f"Baseline: naive {method} ({et} entities)"):
            b = baseline_scores(claims, et, method).reindex(sc.index).fillna(0.0)
        base = _metrics(b, for_metrics, et, ks, traps)
        out[method] = {k: v for k, v in base.items() if not k.startswith("recall_by_scenario")}
        curves[f"naive {method}"] = (curves["claimguard"][0], b.to_numpy())
    return out


def _entity_type(
    et: str, scores: pd.DataFrame, labels: pd.DataFrame, kind: str,
    traps: pd.DataFrame | None, capacity: dict[str, int], claims: pd.DataFrame | None,
) -> tuple[dict[str, Any], dict[str, Any]] | None:  # fmt: skip
    """One entity type's metrics entry and report section (None: nothing scored)."""
    sc = scores.loc[scores["entity_type"] == et].set_index("entity_id")["score"]
    lab = labels.loc[labels["entity_type"] == et]
    if kind == "reviewer":
        sc = sc.loc[sc.index.isin(lab["entity_id"])]
    if sc.empty:
        return None
    positive = pd.Series(1, index=lab.loc[lab["label"] == 1, "entity_id"].unique())
    trap_ids = (
        set(traps.loc[traps["entity_type"] == et, "entity_id"]) if traps is not None else set()
    )
    cap = int(capacity.get(et, 0)) or 10
    ks = _ks(cap, len(sc))
    for_metrics = lab[["entity_type", "entity_id", "scenario"]].copy()
    if kind == "reviewer":
        for_metrics["decision"] = np.where(lab["label"] == 1, "confirmed", "dismissed")
    model = _metrics(sc, for_metrics, et, ks, traps)
    counts = lab.loc[lab["label"] == 1].drop_duplicates("entity_id")["scenario"]
    counts = counts.astype("string").fillna("<NA>").value_counts()
    k_cap = cap if cap in ks else ks[-1]
    by_scenario = model.pop(f"recall_by_scenario@{k_cap}", {})
    for k in ks:
        model.pop(f"recall_by_scenario@{k}", None)
    entry: dict[str, Any] = {
        "n_entities": int(len(sc)),
        "n_positive": int(sc.index.isin(positive.index).sum()),
        "n_traps": int(sc.index.isin(list(trap_ids)).sum()),
        "capacity": k_cap,
        "ks": ks,
        "model": model,
        "recall_per_scenario": {
            str(s): {"entities": int(counts.get(s, 0)), "recall": r}
            for s, r in sorted(by_scenario.items())
        },
        "baselines": {},
    }
    curves = {"claimguard": (sc.index.isin(positive.index).astype(int), sc.to_numpy())}
    if claims is not None:
        entry["baselines"] = _baselines(claims, et, sc, for_metrics, ks, traps, curves)
    return entry, _section(et, entry, sc, positive, trap_ids, curves)


def evaluate(
    scored_dir: Path,
    labels_path: Path,
    *,
    data: Path | None = None,
    mapping: Path | None = None,
    out_dir: Path | None = None,
) -> tuple[dict[str, Any], Path]:
    """Compute metrics.json and report.html for a scored folder; returns (metrics, out folder)."""
    scored_dir = Path(scored_dir)
    scores, alerts, run = _read_scored(scored_dir)
    labels, kind = read_labels(Path(labels_path))
    decisions = labels
    labels = labels.loc[labels["label"] >= 0]
    traps = read_traps(Path(labels_path)) if kind == "planted" else None
    capacity = run.get("review_capacity", ScoringSettings().review_capacity)

    claims = None
    if data is not None:
        from claimguard.io.load import load_dataset

        claims = load_dataset(data, mapping).claims

    metrics: dict[str, Any] = {
        "source": {
            "scored_dir": str(scored_dir),
            "labels": str(labels_path),
            "label_kind": kind,
            "model_version": run.get("model_version"),
            "period": f"{run.get('period_start', '?')}..{run.get('period_end', '?')}",
        },
        "entity_types": {},
    }
    sections = []
    for et in ENTITY_TYPES:  # two entity types
        done = _entity_type(et, scores, labels, kind, traps, capacity, claims)
        if done is not None:
            metrics["entity_types"][et], section = done
            sections.append(section)

    if kind == "planted":
        metrics["explanations"] = explanation_hits(alerts, labels)
    else:
        metrics["explanations"] = explanation_hits(alerts, labels.loc[labels["scenario"].notna()])
        metrics["reviewer"] = reviewer_precision(alerts, decisions)
    metrics["drift"] = run.get("drift")

    out = Path(out_dir) if out_dir is not None else scored_dir / "report"
    context = _report_context(metrics, sections)
    with atomic_folder(out, ("metrics.json", "report.html")) as tmp:
        write_json(metrics, tmp / "metrics.json")
        report.write_report(context, tmp / "report.html")
    return metrics, out


def _section(
    et: str,
    entry: dict[str, Any],
    sc: pd.Series,
    positive: pd.Series,
    trap_ids: set[str],
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, Any]:
    methods = ["claimguard", *[f"naive {m}" for m in entry["baselines"]]]
    results = [entry["model"], *entry["baselines"].values()]
    names = list(entry["model"])
    rows = [{"name": n, "cells": [report.fmt(r.get(n)) for r in results]} for n in names]
    is_pos = sc.index.isin(positive.index)
    is_trap = sc.index.isin(list(trap_ids))
    groups = {
        "planted": sc.to_numpy()[is_pos],
        "normal": sc.to_numpy()[~is_pos & ~is_trap],
        "trap": sc.to_numpy()[is_trap & ~is_pos],
    }
    recall = {k: v["recall"] for k, v in entry["recall_per_scenario"].items()}
    plural = {"card": "cards", "facility": "facilities"}.get(et, et)
    plots = [
        (f"{et} precision-recall", report.pr_curve_png(curves, f"{plural}: precision-recall")),
        (f"{et} scores", report.score_hist_png(groups, f"{plural}: score distribution")),
        (
            f"{et} recall",
            report.recall_bar_png(
                recall, f"{plural}: recall per scenario (top {entry['capacity']})"
            ),
        ),
    ]
    return {
        "name": et,
        "title": plural.capitalize(),
        "n_entities": f"{entry['n_entities']:,}",
        "n_positive": f"{entry['n_positive']:,}",
        "n_traps": entry["n_traps"],
        "capacity": entry["capacity"],
        "methods": methods,
        "rows": rows,
        "scenario_rows": [
            (k, v["entities"], report.fmt(v["recall"]))
            for k, v in entry["recall_per_scenario"].items()
        ],
        "plots": [(alt, img) for alt, img in plots if img],
    }


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0%}"


def _report_context(metrics: dict[str, Any], sections: list[dict[str, Any]]) -> dict[str, Any]:
    ex = metrics.get("explanations") or {}
    explanations = None
    if ex.get("true_alerts"):
        explanations = {
            "true_alerts": ex["true_alerts"],
            "hit_rate_pct": _pct(ex["hit_rate"]),
            "primary_hit_rate_pct": _pct(ex["primary_hit_rate"]),
            "rows": [
                (k, v["true_alerts"], _pct(v["hit_rate"]), v["first_reason"])
                for k, v in ex["per_scenario"].items()
            ],
        }
    reviewer = [
        [
            r["entity_type"],
            r["alerts"],
            r["confirmed"],
            r["dismissed"],
            r["other_decision"],
            r["undecided"],
            _pct(r["queue_precision"]),
        ]
        for r in metrics.get("reviewer") or []
    ]
    d = metrics.get("drift")
    drift = None
    if d:
        drift = {
            "drifted": d.get("drifted"),
            "problems": d.get("problems", []),
            "features_checked": d.get("features_checked"),
            "psi_limit": (d.get("limits") or {}).get("psi_limit"),
            "share": _pct(d.get("drifted_feature_share")),
            "unseen_fac": _pct(d.get("unseen_facility_share")),
            "unseen_dx": _pct(d.get("unseen_diagnosis_share")),
            "top": list((d.get("top_psi") or {}).items()),
        }
    return {
        "title": metrics["source"]["scored_dir"],
        "source": metrics["source"],
        "entity_sections": sections,
        "explanations": explanations,
        "reviewer": reviewer,
        "drift": drift,
        "version": __version__,
    }
