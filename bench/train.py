"""Benchmark `claimguard train`: time per step and peak memory on features from N claims.

Generates N claims (with lines, cards, facilities) once into a work folder, then trains in
a fresh process (so its peak memory is the training job's own): read → peer tables →
features → sample to model.max_fit_rows → fit one forest per entity type → score the
training entities (quantiles, metrics). The baseline in the same run is the naive
approach: per-card aggregates of the claims + a scikit-learn IsolationForest fit.

    python bench/train.py --claims 10000000        # the target size (12 months of claims)
    python bench/train.py --claims 200000 --months 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _data  # bench/_data.py: shared helpers for benchmark scripts


def _generate(out: Path, claims: int, seed: int, months: int) -> float:
    code = (
        "from pathlib import Path;"
        "from claimguard.synth.generate import generate, write_synthetic;"
        f"write_synthetic(generate({claims}, {seed}, months={months}), Path({str(out)!r}))"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def _train_stage(data: Path, model: Path) -> None:
    """Runs in the child process: train + save, print timings and peak RSS as JSON."""
    from claimguard.evaluation.baselines import baseline_scores
    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import save_bundle
    from claimguard.model.train import train
    from claimguard.settings import Settings

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ds = load_dataset(data)
    timings["Reading data"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    bundle = train(ds, Settings(), timings=timings)
    t2 = time.perf_counter()
    save_bundle(bundle, model)
    timings["Saving the bundle"] = time.perf_counter() - t2
    total = time.perf_counter() - t0
    train_only = t2 - t1
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tb = time.perf_counter()
    baseline_scores(ds.claims, "card", "iforest")
    baseline = time.perf_counter() - tb
    print(
        json.dumps(
            {
                "claims": int(len(ds.claims)),
                "cards": bundle.fingerprint["n_feature_rows"]["card"],
                "facilities": bundle.fingerprint["n_feature_rows"]["facility"],
                "n_features": {e: len(v) for e, v in bundle.feature_names.items()},
                "timings": timings,
                "train_s": train_only,
                "end_to_end_s": total,
                "baseline_naive_iforest_s": baseline,
                "peak_rss_gb": peak_kb / 1024**2,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000_000, help="claims to train on")
    parser.add_argument(
        "--months",
        type=int,
        default=12,
        help="months the claims span (a 1-month 10M set implies ~55M insured cards)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep data here")
    parser.add_argument("--_train", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._train:
        _train_stage(*(Path(p) for p in args._train))
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cg-bench-train-"))
    data = work / f"train-{args.claims}-{args.months}m"
    if not (data / "claims.parquet").exists():
        print(f"generating {args.claims:,} claims over {args.months} months ...", flush=True)
        print(f"  {_generate(data, args.claims, 7, args.months):.0f} s", flush=True)
    print("training ...", flush=True)
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    r = _data.run_child(__file__, ["--_train", str(data), str(work / "model.joblib")], env)
    n = r["claims"]
    print(
        f"\nclaims: {n:,} -> {r['cards']:,} cards, {r['facilities']:,} facilities; "
        f"features: {r['n_features']}"
    )
    _data.print_rates(r["timings"], n, "step", width=36)
    print(
        f"{'train (peers+features+fit+scores)':<36}{r['train_s']:>10.2f}{n / r['train_s']:>14,.0f}"
    )
    print(f"{'end to end (read+train+save)':<36}{r['end_to_end_s']:>10.2f}")
    b = r["baseline_naive_iforest_s"]
    print(
        f"baseline (naive card aggregates + IsolationForest fit+score): {b:.2f} s; "
        f"claimguard training is {r['train_s'] / max(b, 1e-9):.1f}x that"
    )
    print(f"peak memory (training process): {r['peak_rss_gb']:.2f} GB")


if __name__ == "__main__":
    main()
