"""Benchmark the synthetic claims generator: claims/s and peak memory.

Default: 10 million claims (with their ~50 million lines) over 12 months, then
written to Parquet in a temporary folder. Target: <= 5 minutes, <= 8 GB peak.
Baseline (same run): a bare NumPy table of the same number of claims with the
five columns of a bare claims table (card, facility, time, cost, diagnosis), to show
what the realism costs on top of drawing random numbers.

    python bench/generate.py                    # 10M claims
    python bench/generate.py --claims 1000000   # quick look

Measured 2026-11-22 on the 2-core / 24 GiB machine (under /tmp/cg-bench.lock):
10,000,000 claims, 49.4M lines, 4.5M cards, 12 months: generate 45.9 s
(218k claims/s), Parquet 10.7 s, total 56.5 s, peak RSS 7.20 GB.
One month of 10M claims implies ~53M insured cards and needs far more memory:
keep big runs to several months (the population scales with claims per year).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from claimguard.synth.generate import generate, write_synthetic


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def baseline(n: int, seed: int) -> float:
    """Seconds to draw a bare random claims table of ``n`` rows."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "card": rng.integers(0, n // 4, n),
            "facility": rng.integers(0, 2_000, n),
            "admit_time": np.datetime64("2024-01-01", "ns")
            + rng.integers(0, 365 * 86_400, n).astype("timedelta64[s]"),
            "total_cost": rng.lognormal(12, 1, n),
            "primary_dx": rng.integers(0, 40, n),
        }
    )
    assert len(df) == n
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--claims", type=int, default=10_000_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-write", action="store_true", help="skip writing Parquet")
    args = ap.parse_args()

    t_base = baseline(args.claims, args.seed)
    t0 = time.perf_counter()
    data = generate(args.claims, args.seed, start="2024-01-01", months=args.months)
    t_gen = time.perf_counter() - t0
    rss_gen = peak_rss_gb()
    t_write = 0.0
    if not args.no_write:
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            write_synthetic(data, Path(tmp))
            t_write = time.perf_counter() - t1
    total = t_gen + t_write
    print(f"claims           {len(data.claims):,}  (months {args.months}, seed {args.seed})")
    print(f"claim lines      {len(data.claim_lines):,}")
    print(f"cards            {len(data.cards):,}   facilities {len(data.facilities):,}")
    print(
        f"labelled         {len(data.labels):,} entities, {len(data.truth_claims):,} planted claims"
    )
    print(f"generate         {t_gen:8.1f} s   {len(data.claims) / t_gen:,.0f} claims/s")
    print(f"write parquet    {t_write:8.1f} s")
    print(
        f"total            {total:8.1f} s   {len(data.claims) / total:,.0f} claims/s  (limit 300 s)"
    )
    print(
        f"baseline         {t_base:8.1f} s   bare 5-column random table; generate/baseline = {t_gen / t_base:.1f}x"
    )
    print(
        f"peak RSS         {peak_rss_gb():8.2f} GB  (after generate {rss_gen:.2f} GB; limit 8 GB)"
    )


if __name__ == "__main__":
    main()
