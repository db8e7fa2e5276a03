"""Benchmark the data-in layer: load_dataset on Parquet vs a bare pyarrow read, and XML 130.

Prints rows/s, wall time and peak memory (each measurement in its own fresh process,
so peaks do not mix), the ratio load_dataset / bare pyarrow read measured in the same
run (target <= 2.0, peak <= 6 GB at 10M claims), and XML visit records per second on
one core (target >= 5,000/s).

Input: a simple vectorised random frame in the canonical layout (claims + lines,
``--lines-per-claim`` lines per claim on average), generated once into ``--workdir``.

    python bench/ingest.py                       # 10M claims (+ ~30M lines)
    python bench/ingest.py --claims 1000000 --xml-records 20000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    s = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, s, "")


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    return values.take(pa.array(idx))


def _large(t: pa.Table) -> pa.Table:
    """Store text as large_string, as pandas (and so claimguard convert and synth) writes it."""
    return t.cast(
        pa.schema(
            [f.with_type(pa.large_string()) if f.type == pa.string() else f for f in t.schema]
        )
    )


def generate(n: int, lines_per_claim: float, out: Path, seed: int = 0) -> tuple[int, int]:
    """Write claims.parquet and claim_lines.parquet (canonical columns) with random values."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    n_cards, n_fac, n_doc = max(1, n // 4), 2000, 20000
    cards = pc.binary_join_element_wise(
        pa.array(np.array(["HS4", "DN4", "HT3", "TE1"])[rng.integers(0, 4, n_cards)]),
        _ids("79", rng.integers(0, 10**10, n_cards), 10),
        "",
    )
    facs = _ids("", np.arange(79000, 79000 + n_fac), 5)
    docs = _ids("BS", np.arange(n_doc), 6)
    dx = pa.array([f"{c}{i:02d}" for c in "ABCEIJKMNR" for i in range(20)])
    start = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64)
    month = np.int64(30 * 24 * 3600) * 10**9
    admit = start + rng.integers(0, month, n, dtype=np.int64)
    stay = rng.integers(0, 3 * 24 * 3600, n, dtype=np.int64) * 10**9
    card_idx = rng.integers(0, n_cards, n)
    birth = (
        np.datetime64("1940-01-01", "ns").astype(np.int64)
        + rng.integers(0, 80 * 365, n_cards, dtype=np.int64) * 86400 * 10**9
    )
    ts = pa.timestamp("ns")
    cost = rng.gamma(2.0, 200_000.0, n).round()
    claims = pa.table(
        {
            "claim_id": _ids("LK", np.arange(n), 10),
            "card_id": _take(cards, card_idx),
            "facility_id": _take(facs, rng.integers(0, n_fac, n)),
            "admit_time": pa.array(admit, ts),
            "discharge_time": pa.array(admit + stay, ts),
            "visit_type": pa.array(
                np.array(["outpatient", "inpatient", "day_care"])[
                    rng.choice(3, n, p=[0.85, 0.12, 0.03])
                ]
            ).dictionary_encode(),
            "primary_dx": _take(dx, rng.integers(0, len(dx), n)),
            "total_cost": cost,
            "insurance_paid": (cost * 0.8).round(),
            "drug_cost": (cost * 0.4).round(),
            "supply_cost": (cost * 0.1).round(),
            "patient_birth_date": pa.array(birth[card_idx], ts),
            "patient_sex": pa.array(np.array(["M", "F"])[card_idx % 2]).dictionary_encode(),
            "registered_facility_id": _take(facs, card_idx % n_fac),
            "doctor_id": _take(docs, rng.integers(0, n_doc, n)),
            "outcome": pa.array(
                np.array(["recovered", "improved"])[rng.integers(0, 2, n)]
            ).dictionary_encode(),
        }
    )
    pq.write_table(_large(claims), out / "claims.parquet")
    claim_ids = claims["claim_id"].combine_chunks()
    del claims
    per = rng.poisson(lines_per_claim - 1, n) + 1
    m = int(per.sum())
    owner = np.repeat(np.arange(n), per)
    kinds = rng.choice(3, m, p=[0.6, 0.3, 0.1])
    items = _ids("IT", np.arange(3000), 4)
    lines = pa.table(
        {
            "claim_id": claim_ids.take(pa.array(owner)),
            "line_type": pa.array(
                np.array(["drug", "service", "supply"])[kinds]
            ).dictionary_encode(),
            "item_code": _take(items, rng.integers(0, 3000, m)),
            "quantity": rng.integers(1, 30, m).astype(float),
            "amount": rng.gamma(2.0, 50_000.0, m).round(),
            "doctor_id": _take(docs, rng.integers(0, n_doc, m)),
            "order_time": pa.array(admit[owner], ts),
        }
    )
    pq.write_table(_large(lines), out / "claim_lines.parquet")
    return n, m


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def child(mode: str, path: str, *extra: str) -> None:
    """One measurement (or preparation) in this fresh process; prints a JSON line."""
    if mode == "generate":
        n, m = generate(int(extra[0]), float(extra[1]), Path(path))
        print(json.dumps({"claims": n, "lines": m}))
        return
    if mode == "xmlfixture":
        write_xml_fixture(int(extra[0]), Path(path))
        print(json.dumps({}))
        return
    if mode == "pyarrow":
        t0 = time.perf_counter()
        rows = 0
        for name in ("claims", "claim_lines"):
            rows += pq.read_table(Path(path) / f"{name}.parquet").num_rows
        secs = time.perf_counter() - t0
    else:
        from claimguard.io import load_dataset

        t0 = time.perf_counter()
        ds = load_dataset(path)
        secs = time.perf_counter() - t0
        rows = sum(c["in"] for c in ds.counts.values())
        assert all(c["in"] == c["valid"] + c["quarantined"] for c in ds.counts.values())
    print(json.dumps({"mode": mode, "seconds": secs, "rows": rows, "peak_gb": _peak_gb()}))


def _run_child(mode: str, path: Path, *extra: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path), *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def write_xml_fixture(records: int, out: Path) -> None:
    """Small canonical tables -> XML 130 envelopes (1,000 HOSO per file)."""
    from claimguard.io import load_dataset
    from claimguard.io.xml130_writer import write_xml130

    generate(records, 3.0, out / "parquet", seed=1)
    ds = load_dataset(out / "parquet")
    write_xml130(ds, out / "xml", records_per_file=1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--claims", type=int, default=10_000_000)
    ap.add_argument("--lines-per-claim", type=float, default=3.0)
    ap.add_argument("--xml-records", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each read (best counts)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cg-ingest-"))
    try:
        # generate in a child so this parent stays small: Linux children inherit the
        # parent's peak RSS at fork, which would inflate the measured peaks
        t0 = time.perf_counter()
        gen = _run_child("generate", work / "data", str(args.claims), str(args.lines_per_claim))
        n, m = gen["claims"], gen["lines"]
        print(f"generated {n:,} claims + {m:,} lines in {time.perf_counter() - t0:.1f} s")
        runs: dict[str, list[dict]] = {"pyarrow": [], "load": []}
        for _ in range(args.repeat):  # interleaved, best of each: fair under machine noise
            for mode in ("pyarrow", "load"):
                runs[mode].append(_run_child(mode, work / "data"))
        base = min(runs["pyarrow"], key=lambda r: r["seconds"])
        load = min(runs["load"], key=lambda r: r["seconds"])
        rows = n + m
        print(
            f"bare pyarrow read : {base['seconds']:.2f} s  {rows / base['seconds']:,.0f} rows/s  "
            f"peak {base['peak_gb']:.2f} GB   (best of {args.repeat})"
        )
        print(
            f"load_dataset      : {load['seconds']:.2f} s  {rows / load['seconds']:,.0f} rows/s  "
            f"peak {max(r['peak_gb'] for r in runs['load']):.2f} GB   (best of {args.repeat})"
        )
        ratio = load["seconds"] / base["seconds"]
        print(
            f"ratio load/pyarrow: {ratio:.2f} (target <= 2.0); all runs: "
            f"pyarrow {[round(r['seconds'], 2) for r in runs['pyarrow']]}, "
            f"load {[round(r['seconds'], 2) for r in runs['load']]}"
        )
        if args.xml_records:
            _run_child("xmlfixture", work / "xml", str(args.xml_records))
            x = _run_child("load", work / "xml" / "xml")
            print(
                f"XML 130 read      : {args.xml_records:,} visit records in {x['seconds']:.2f} s = "
                f"{args.xml_records / x['seconds']:,.0f} records/s on one core "
                f"(target >= 5,000/s), peak {x['peak_gb']:.2f} GB"
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
