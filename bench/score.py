"""Benchmark `claimguard score`: claims/s per stage and end to end, peak memory.

Generates ONE month of N claims with their lines (the month to score; in 2.5M-claim
chunks, see bench/_data.py) and a smaller training month with other seeds, trains a
model on the training month, then scores the N claims in a fresh process (so its
peak memory is the scoring job's own). The card registry of each month is the extract
of the cards that have claims in it (the synthetic population of a 10M-claim month
would be ~53M cards). End to end = reading the
data + features + scoring + reasons + evidence + drift + writing the outputs, which is
what a nightly job pays. The baseline in the same run is reading the claims Parquet
file alone (the I/O floor).

Targets (2 cores): end to end >= 80,000 claims/s, peak memory <= 8 GB.

    python bench/score.py --claims 10000000        # the target size
    python bench/score.py --claims 200000          # a quick look

A --workdir that already holds ``score/`` and ``train/`` dataset folders (and optionally
``model.joblib``) is reused as it is, so existing data can be benchmarked without
generating it again.
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

import _data  # bench/_data.py: chunked generation of a one-month dataset

TARGET_CLAIMS_PER_S = 80_000
TARGET_PEAK_GB = 8.0


def _score_stage(data: Path, model: Path, out: Path, partition_rows: int) -> None:
    """Runs in the child process: score, then print timings and peak RSS as JSON."""
    import pandas as pd

    from claimguard.io.load import load_dataset
    from claimguard.memory import release_memory
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.output import write_score_folder
    from claimguard.scoring.score import score_dataset
    from claimguard.settings import Settings

    t_read = time.perf_counter()
    pd.read_parquet(data / "claims.parquet")
    read_only = time.perf_counter() - t_read
    release_memory()  # the baseline's freed frame is not the scoring job's memory

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bundle = load_bundle(model)
    timings["Loading model"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    ds = load_dataset(data)
    timings["Reading data"] = time.perf_counter() - t1
    result = score_dataset(ds, bundle, Settings(), timings=timings, partition_rows=partition_rows)
    t2 = time.perf_counter()
    write_score_folder(result, out)
    timings["Writing outputs"] = time.perf_counter() - t2
    total = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "claims": int(len(ds.claims)),
                "lines": int(len(ds.claim_lines)) if ds.claim_lines is not None else 0,
                "timings": timings,
                "end_to_end_s": total,
                "read_claims_parquet_s": read_only,
                "peak_rss_gb": peak_kb / 1024**2,
                "alerts": result.run["alerts_written"],
                "drifted": result.drift.get("drifted"),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000_000, help="claims to score")
    parser.add_argument(
        "--train-claims",
        type=int,
        default=None,
        help="claims in the training month (default: N/5, at least 100k, at most 2M)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep data here")
    parser.add_argument(
        "--partition-rows",
        type=int,
        default=None,
        help="claims per feature partition (default: the scoring.partition_claims setting)",
    )
    parser.add_argument("--_score", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._score:
        data, model_path, out = (Path(p) for p in args._score[:3])
        _score_stage(data, model_path, out, int(args._score[3]))
        return
    from claimguard.settings import Settings

    partition_rows = args.partition_rows or Settings().scoring.partition_claims

    train_claims = args.train_claims or min(2_000_000, max(100_000, args.claims // 5))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cg-bench-score-"))
    work.mkdir(parents=True, exist_ok=True)
    train_dir, score_dir = work / "train", work / "score"
    model = work / "model.joblib"
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")

    if not (score_dir / "claims.parquet").exists():
        print(f"generating {args.claims:,} claims to score ...", flush=True)
        g = _data.generate_month(score_dir, args.claims, 11, "2024-02-01", claimants_only=True)
        print(f"  {g:.0f} s", flush=True)
    if not (train_dir / "claims.parquet").exists():
        print(f"generating {train_claims:,} training claims ...", flush=True)
        _data.generate_month(train_dir, train_claims, 7, "2024-01-01", claimants_only=True)
    if not model.exists():
        print("training ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "claimguard",
                "-q",
                "train",
                str(train_dir),
                "--model-out",
                str(model),
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )

    print("scoring ...", flush=True)
    r = _data.run_child(
        __file__,
        ["--_score", str(score_dir), str(model), str(work / "scored"), str(partition_rows)],
        env,
    )
    n = r["claims"]
    print(
        f"\nclaims scored: {n:,} (with {r['lines']:,} lines); model trained on "
        f"{train_claims:,}; feature partitions of {partition_rows:,} claims"
    )
    stages = {k: v for k, v in r["timings"].items() if not k.startswith("Scoring total")}
    _data.print_rates(stages, n, "stage")
    e2e = r["end_to_end_s"]
    rate = n / e2e
    print(f"{'end to end':<34}{e2e:>10.2f}{rate:>14,.0f}")
    print(
        f"baseline (read claims.parquet only): {r['read_claims_parquet_s']:.2f} s; "
        f"end to end is {e2e / max(r['read_claims_parquet_s'], 1e-9):.0f}x that"
    )
    print(f"peak memory (scoring process): {r['peak_rss_gb']:.2f} GB")
    print(f"alerts: {r['alerts']}; drift flagged: {r['drifted']}")
    ok = rate >= TARGET_CLAIMS_PER_S and r["peak_rss_gb"] <= TARGET_PEAK_GB
    print(
        f"targets: >= {TARGET_CLAIMS_PER_S:,} claims/s end to end, <= {TARGET_PEAK_GB:.0f} GB: "
        + ("met" if ok else "NOT met")
    )


if __name__ == "__main__":
    main()
