"""Generated benchmark months, shared by bench/features.py and bench/score.py.

Why chunks: ``claimguard.synth.generate`` sizes its insured population from claims per
year, so one 10M-claim month implies ~53M registry cards and needs ~16 GB to generate.
Above CHUNK_CLAIMS a month is generated as chunks (seeds seed, seed+1, ...) that are
merged: card numbers are made distinct by writing the chunk number into the first
digit of the 10-digit serial (characters 6..15), claim ids get a chunk prefix,
facilities come from the first chunk with the others' added.

Not a benchmark itself (``make bench`` runs it and it does nothing); import it as
``import _data`` (the scripts' folder is on ``sys.path`` when they run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

CHUNK_CLAIMS = 2_500_000  # the generator builds one month's registry in memory; stay small


def generate_month(
    out: Path, claims: int, seed: int, start: str = "2024-01-01", *, claimants_only: bool = False
) -> float:
    """Generate one month into ``out`` in a child process (its memory is not the
    caller's); returns the seconds it took. See :func:`generate_into`."""
    here = str(Path(__file__).resolve().parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); from pathlib import Path; import _data; "
        f"_data.generate_into(Path({str(out)!r}), {int(claims)}, {int(seed)}, {start!r}, "
        f"claimants_only={bool(claimants_only)})"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def generate_into(
    out: Path, claims: int, seed: int, start: str = "2024-01-01", *, claimants_only: bool = False
) -> None:
    """One month of ``claims`` claims with their lines, in chunks above CHUNK_CLAIMS.

    ``claimants_only`` keeps of the card registry only the cards that have claims in
    the month (the registry extract a monthly scoring job receives); otherwise the
    whole synthetic population is written (~5.3 cards per claim in a month).
    Chunked months carry no labels/traps/truth files (benchmarks do not need them).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from claimguard.synth.generate import generate, write_synthetic

    out.mkdir(parents=True, exist_ok=True)
    k = max(1, -(-claims // CHUNK_CLAIMS))
    parts = []
    for i in range(k):  # a handful of chunks
        d = out if k == 1 else out / f"chunk{i}"
        write_synthetic(generate(claims // k, seed + i, start=start), d)
        parts.append(d)

    def fix(table: pa.Table, i: int) -> pa.Table:
        if k == 1:
            return table
        for col in ("claim_id", "card_id"):
            if col not in table.column_names:
                continue
            arr = table[col]
            if col == "claim_id":
                prefix = pa.scalar(f"K{i}", type=arr.type)
                new = pc.binary_join_element_wise(prefix, arr, pa.scalar("", type=arr.type))
            else:
                new = pc.utf8_replace_slice(arr, start=5, stop=6, replacement=str(i))
            table = table.set_column(table.column_names.index(col), col, new)
        return table

    def registry(d: Path, i: int) -> pa.Table:
        table = pq.read_table(d / "cards.parquet")
        if claimants_only:
            have = pc.unique(pq.read_table(d / "claims.parquet", columns=["card_id"])["card_id"])
            table = table.filter(pc.is_in(table["card_id"], value_set=have))
        return fix(table, i)

    if k == 1:
        if claimants_only:
            pq.write_table(registry(out, 0), out / "cards.parquet")
        return
    for name in ("claims", "claim_lines", "cards"):
        if name == "cards":
            tables = [registry(d, i) for i, d in enumerate(parts)]
        else:
            tables = [fix(pq.read_table(d / f"{name}.parquet"), i) for i, d in enumerate(parts)]
        pq.write_table(
            pa.concat_tables(tables, promote_options="permissive"), out / f"{name}.parquet"
        )
        del tables
    fac = pd.concat([pd.read_parquet(d / "facilities.parquet") for d in parts])
    fac.drop_duplicates("facility_id").to_parquet(out / "facilities.parquet", index=False)
    for d in parts:
        for f in d.iterdir():
            f.unlink()
        d.rmdir()


def run_child(script: str, args: list[str], env: dict[str, str]) -> dict:
    """Run one benchmark stage as ``python script args`` in a fresh process (so its peak
    memory is the stage's own) and return the JSON object it prints on its last line."""
    child = subprocess.run(
        [sys.executable, script, *args], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def print_rates(timings: dict[str, float], n: int, label: str, width: int = 34) -> None:
    """One line per stage: seconds and claims per second for ``n`` claims."""
    print(f"{label:<{width}}{'seconds':>10}{'claims/s':>14}")
    for stage, sec in timings.items():
        print(f"{stage:<{width}}{sec:>10.2f}{n / sec if sec > 0 else float('inf'):>14,.0f}")
