"""The demo: the whole product on generated data, in one go, in a few minutes.

Why: a newcomer should see a ranked, explained queue and an evaluation report before
reading any documentation. Two months are generated with different seeds, so the
model is scored on data it has never seen, exactly as in production.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from claimguard.progress import step
from claimguard.settings import Settings

log = logging.getLogger(__name__)


def run_demo(out: Path, settings: Settings, *, claims: int | None = None) -> dict[str, Any]:
    """Generate, train, score, evaluate under ``out``; returns paths, alerts and metrics."""
    from claimguard.io.load import load_dataset
    from claimguard.jobs.evaluate import evaluate
    from claimguard.model.bundle import save_bundle
    from claimguard.model.train import train
    from claimguard.scoring.output import write_score_folder
    from claimguard.scoring.score import score_dataset
    from claimguard.synth.generate import generate, write_synthetic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = settings.generate
    n = claims or gen.claims
    train_dir, score_dir = out / "data" / "train_month", out / "data" / "score_month"
    second = (pd.Timestamp(gen.start) + pd.DateOffset(months=gen.months)).strftime("%Y-%m-%d")
    timings: dict[str, float] = {}
    with step(f"Generating {n:,} claims for the training month", timings):
        data = generate(n, gen.seed, start=gen.start, months=gen.months, abuse_rate=gen.abuse_rate)
        write_synthetic(data, train_dir)
        del data
    with step(f"Generating {n:,} claims for the month to score", timings):
        data = generate(n, gen.seed + 1, start=second, months=gen.months, abuse_rate=gen.abuse_rate)
        write_synthetic(data, score_dir)
        del data
    with step("Training the model", timings):
        bundle = train(load_dataset(train_dir), settings)
        model_path = out / "models" / "claimguard.bundle"
        model_path.parent.mkdir(parents=True, exist_ok=True)
        save_bundle(bundle, model_path)
    ds = load_dataset(score_dir)
    score_timings: dict[str, float] = {}  # run.json carries the scoring job's stages only
    result = score_dataset(ds, bundle, settings, timings=score_timings)
    timings.update(score_timings)
    scored = out / "scored"
    write_score_folder(result, scored)
    with step("Evaluating", timings):
        metrics, report_dir = evaluate(
            scored, score_dir / "labels.csv", data=score_dir, out_dir=out / "report"
        )
    log.info("Demo finished: %s", ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return {
        "alerts": result.alerts,
        "metrics": metrics,
        "report": report_dir / "report.html",
        "scored": scored,
        "model": model_path,
        "timings": timings,
    }
