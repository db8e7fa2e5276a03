"""Detection quality: claimguard vs naive IsolationForest vs ECOD on a held-out month.

Generates a training month (seed 1, January) and a test month (seed 2, February) at the
given size (other seeds, months and abuse rates by option), trains claimguard on the first, scores the second, and fits both naive
baselines (per-entity aggregates) on the same training month. Prints one table with AP,
ROC AUC, precision/recall at k, traps in the top k and recall per scenario, then checks
the issue's targets (AP >= 0.80 per entity type, precision@100 cards >= 0.90, traps <= 5%
of the top 100 cards, both baselines beaten on every headline metric).

    python bench/quality.py                       # demo scale: 200k claims per month
    python bench/quality.py --claims 50000        # a quick look
    python bench/quality.py --seeds 3,4 --months 2024-03-01,2024-05-01 --abuse-rate 0.02
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def main() -> None:
    from claimguard.model.quality import (
        beats_baselines,
        comparison_table,
        holdout_comparison,
    )
    from claimguard.model.train import train
    from claimguard.settings import load_settings
    from claimguard.synth.generate import generate

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--claims", type=int, default=200_000, help="claims per month")
    parser.add_argument("--config", default=None, help="settings YAML (default: built-in)")
    parser.add_argument("--csv", default=None, help="also write the table here")
    parser.add_argument("--seeds", default="1,2", help="train,test generator seeds")
    parser.add_argument("--months", default="2024-01-01,2024-02-01", help="train,test starts")
    parser.add_argument("--abuse-rate", type=float, default=0.01, help="planted abuse share")
    args = parser.parse_args()
    settings = load_settings(args.config)

    t0 = time.perf_counter()
    (s1, s2), (m1, m2) = (int(x) for x in args.seeds.split(",")), args.months.split(",")
    train_data = generate(args.claims, s1, start=m1, abuse_rate=args.abuse_rate)
    test_data = generate(args.claims, s2, start=m2, abuse_rate=args.abuse_rate)
    print(f"generated 2 x {args.claims:,} claims in {time.perf_counter() - t0:.0f} s", flush=True)
    train_ds, test_ds = train_data.to_dataset(), test_data.to_dataset()
    t1 = time.perf_counter()
    bundle = train(train_ds, settings)
    print(f"trained in {time.perf_counter() - t1:.0f} s", flush=True)
    results = holdout_comparison(
        bundle, train_ds, test_ds, settings, labels=test_data.labels, traps=test_data.traps
    )
    table = comparison_table(results)
    with pd.option_context("display.max_rows", 200, "display.width", 120):
        print(table.round(3).to_string())
    if args.csv:
        table.to_csv(args.csv)
    card, fac = results["claimguard"]["card"], results["claimguard"]["facility"]
    checks = {
        "card AP >= 0.80": card["average_precision"] >= 0.80,
        "facility AP >= 0.80": fac["average_precision"] >= 0.80,
        "precision@100 cards >= 0.90": card["precision@100"] >= 0.90,
        "traps <= 5% of top 100 cards": card.get("trap_share@100", 0.0) <= 0.05,
    }
    failures = beats_baselines(table)
    checks["both baselines beaten on every metric"] = not failures
    for name, ok in checks.items():
        print(f"{'met    ' if ok else 'NOT MET'}  {name}")
    if failures:
        print("not beaten: " + ", ".join(failures))


if __name__ == "__main__":
    main()
