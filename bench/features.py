"""Benchmark the feature build: claims/s, wall time, peak memory, and a naive baseline.

Generates N claims with their lines in one month (``claimguard.synth`` in 2.5M-claim
chunks, in a child process so the generator's memory is not counted) and a smaller
training month with another seed; fits the peers on the training month (as
``claimguard train`` does, they live in the model bundle), reads the N claims and
times the feature build the way the monthly batch runs it:
``claimguard.features.partitioned.build_partitioned`` (card-hash and facility
partitions, the claim flags kept compactly for evidence), i.e. the "Building
features" stage of ``claimguard score`` and of ``claimguard features --model``.
In the same run it times the naive pandas ``groupby().rolling("30D")`` version of the
busiest-30-days visit count per card against our vectorised version of the same
feature (``windows.forward_window_counts`` + a per-card max). The naive one runs on a
subsample of whole cards (default 1M claims) and is scaled linearly to N; the output
says so. With --one-pass it also times ``build_features`` on all N claims at once
with peers fitted on them (``claimguard features DATA`` without --model), after the
measured build (its peak is printed separately).

Targets (2 cores): >= 150,000 claims/s (10M in <= 70 s), peak <= 8 GB,
>= 10x faster than the naive version of the same feature.

    python bench/features.py                     # 10M claims (the target size)
    python bench/features.py --claims 500000     # a quick look
    python bench/features.py --data DIR --train-data DIR2   # reuse generated folders
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import _data  # bench/_data.py: chunked generation of a one-month dataset
import numpy as np
import pandas as pd

TARGET_CLAIMS_PER_S = 150_000
TARGET_PEAK_GB = 8.0
TARGET_SPEEDUP = 10.0


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


CODE_COLUMNS = (
    "facility_id",
    "primary_dx",
    "secondary_dx",
    "registered_facility_id",
    "doctor_id",
    "referral_from",
)


def _read(data: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """The four tables, only the columns the features use (build.USED_COLUMNS), and of the
    card registry only the cards that have claims (a feature job never needs the rest);
    repetitive id/code columns dictionary-encoded (see CODE_COLUMNS).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from claimguard.features.build import USED_COLUMNS

    def cols(name: str) -> list[str]:
        have = set(pads.dataset(data / f"{name}.parquet").schema.names)
        return [c for c in USED_COLUMNS[name] if c in have]

    # free Arrow buffers column by column while converting (halves the read peak)
    lean = {"split_blocks": True, "self_destruct": True}
    # repetitive ids and codes dictionary-encoded (pandas categoricals): build_features
    # takes strings or categoricals alike, and 50M line ids as strings alone take 1.2 GB.
    # Lines first (the largest read), Arrow memory released after each table.
    lines = pq.read_table(
        data / "claim_lines.parquet",
        columns=cols("claim_lines"),
        read_dictionary=["claim_id", "item_code"],
        pre_buffer=False,
    ).to_pandas(**lean)
    pa.default_memory_pool().release_unused()
    claims = pq.read_table(
        data / "claims.parquet",
        columns=cols("claims"),
        read_dictionary=[c for c in cols("claims") if c in CODE_COLUMNS],
        pre_buffer=False,
    ).to_pandas(**lean)
    pa.default_memory_pool().release_unused()
    reg = pads.dataset(data / "cards.parquet")
    ids = pc.unique(pads.dataset(data / "claims.parquet").to_table(columns=["card_id"])["card_id"])
    table = reg.to_table(columns=cols("cards"), filter=pc.field("card_id").isin(ids))
    cards = table.to_pandas()
    facilities = pd.read_parquet(data / "facilities.parquet", columns=cols("facilities"))
    n_registry = reg.count_rows()
    del table, ids, reg
    pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed blocks
    return claims, lines, cards, facilities, n_registry


def _ours_30d(claims: pd.DataFrame) -> tuple[float, pd.Series]:
    """Our busiest-30-days count per card: sort by (card, day) + searchsorted."""
    from claimguard.features import windows

    t0 = time.perf_counter()
    card, ids = pd.factorize(claims["card_id"].array)
    day = (claims["admit_time"].to_numpy(dtype="datetime64[s]").view(np.int64) // 86_400).astype(
        np.int32
    )
    order = np.argsort(windows.combined_key(card, day - day.min()), kind="stable")
    card, day = card[order].astype(np.int32), day[order]
    counts = windows.forward_window_counts(card, day, 30)
    best = windows.sorted_group_max(counts, windows.group_starts(card, len(ids)))
    return time.perf_counter() - t0, pd.Series(best, index=pd.Index(ids))


def _naive_30d(claims: pd.DataFrame) -> tuple[float, pd.Series]:
    """The naive pandas version: groupby(card).rolling('30D') visit count, max per card."""
    t0 = time.perf_counter()
    df = claims[["card_id", "admit_time"]].copy()
    df["admit_time"] = df["admit_time"].dt.normalize()
    df["one"] = 1.0
    df = df.sort_values(["card_id", "admit_time"]).set_index("admit_time")
    rolled = df.groupby("card_id")["one"].rolling("30D").sum()
    best = rolled.groupby(level=0).max()
    return time.perf_counter() - t0, best


def _peers(train: Path) -> tuple[object, float]:
    """Peers fitted on the training month (only its used columns are read)."""
    from claimguard.features.peers import fit_peers
    from claimguard.memory import release_memory
    from claimguard.settings import FeatureSettings

    claims, lines, cards, facilities, _ = _read(train)
    t0 = time.perf_counter()
    peers = fit_peers(claims, lines, cards, facilities, settings=FeatureSettings())
    seconds = time.perf_counter() - t0
    del claims, lines, cards, facilities
    release_memory()
    return peers, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=10_000_000)
    ap.add_argument("--train-claims", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--data", type=Path, default=None, help="reuse a generated dataset folder")
    ap.add_argument("--train-data", type=Path, default=None, help="reuse a training month")
    ap.add_argument(
        "--naive-claims", type=int, default=1_000_000, help="subsample for the naive baseline"
    )
    ap.add_argument("--one-pass", action="store_true", help="also time the one-pass build")
    args = ap.parse_args(argv)

    from claimguard.features.build import build_features
    from claimguard.features.partitioned import PARTITION_ROWS, build_partitioned
    from claimguard.features.prepare import period_of
    from claimguard.memory import release_memory
    from claimguard.scoring.evidence import compact_flags
    from claimguard.settings import FeatureSettings

    tmp = tempfile.TemporaryDirectory(prefix="cg-bench-features-")
    data, train = args.data, args.train_data
    if data is None:
        data = Path(tmp.name) / "month"
        secs = _data.generate_month(data, args.claims, args.seed, "2024-02-01")
        print(f"generated {args.claims:,} claims with lines in {secs:.1f} s (not timed below)")
    if train is None:
        train = Path(tmp.name) / "train"
        _data.generate_month(train, args.train_claims, args.seed + 1, "2024-01-01")

    peers, fit_s = _peers(train)
    print(
        f"peers fitted on the training month ({train}) in {fit_s:.1f} s; RSS peak so far "
        f"{_peak_gb():.2f} GB"
    )

    t0 = time.perf_counter()
    claims, lines, cards, facilities, registry = _read(data)
    read_s = time.perf_counter() - t0
    release_memory()
    n = len(claims)
    print(
        f"read {n:,} claims, {len(lines):,} lines, {len(cards):,} of {registry:,} registry cards "
        f"(those with claims), only the columns features use, in {read_s:.1f} s; "
        f"RSS peak {_peak_gb():.2f} GB"
    )

    flags: list[pd.DataFrame] = []
    claim_ids = claims["claim_id"]

    def keep_flags(entity: str, part: pd.DataFrame, rows: np.ndarray) -> None:
        flags.append(compact_flags(part, claim_ids, rows))  # as the scoring job keeps them

    t0 = time.perf_counter()
    fs = build_partitioned(
        claims,
        lines,
        cards,
        facilities,
        peers=peers,  # type: ignore[arg-type]
        settings=FeatureSettings(),
        period=period_of(claims),
        on_flags=keep_flags,
    )
    build_s = time.perf_counter() - t0
    peak = _peak_gb()
    rate = n / build_s
    print(
        f"feature build (partitions of {PARTITION_ROWS:,} claims): {build_s:.1f} s wall, "
        f"{rate:,.0f} claims/s, {len(fs.card):,} cards x {fs.card.shape[1]} + "
        f"{len(fs.facility):,} facilities x {fs.facility.shape[1]} features, "
        f"{sum(len(f) for f in flags):,} claim-flag rows; peak RSS {peak:.2f} GB "
        f"(incl. the input tables)"
    )
    del fs
    flags.clear()
    release_memory()

    ours_s, ours = _ours_30d(claims)
    # naive baseline on a subsample of whole cards, scaled to N
    ids = claims["card_id"].drop_duplicates()
    share = min(1.0, args.naive_claims / n)
    keep = ids.sample(frac=share, random_state=0) if share < 1.0 else ids
    sub = claims[claims["card_id"].isin(keep)]
    naive_sub_s, naive = _naive_30d(sub)
    scale = n / len(sub)
    naive_s = naive_sub_s * scale
    same = np.array_equal(ours.loc[naive.index].to_numpy(), naive.to_numpy())
    print(
        f"busiest-30-days visit count: ours {ours_s:.2f} s on {n:,} claims; naive pandas "
        f"groupby().rolling('30D') {naive_sub_s:.1f} s on a subsample of {len(sub):,} claims "
        f"(whole cards), scaled x{scale:.1f} to {naive_s:.1f} s -> ours is "
        f"{naive_s / ours_s:.0f}x faster (same values: {same}); the whole build is "
        f"{naive_s / build_s:.1f}x the naive single feature's time"
    )
    ok = rate >= TARGET_CLAIMS_PER_S and peak <= TARGET_PEAK_GB and naive_s / ours_s >= 10
    print(
        f"targets: >= {TARGET_CLAIMS_PER_S:,} claims/s, <= {TARGET_PEAK_GB:.0f} GB, >= "
        f"{TARGET_SPEEDUP:.0f}x naive -> {'MET' if ok else 'NOT MET'}"
    )
    if args.one_pass:
        del sub, ids, keep, naive, ours
        release_memory()
        t0 = time.perf_counter()
        one = build_features(claims, lines, cards, facilities, settings=FeatureSettings())
        one_s = time.perf_counter() - t0
        print(
            f"for comparison, one pass with peers fitted on the same claims (claimguard "
            f"features without --model): {one_s:.1f} s, {n / one_s:,.0f} claims/s, "
            f"{len(one.card):,} cards; peak RSS {_peak_gb():.2f} GB"
        )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
