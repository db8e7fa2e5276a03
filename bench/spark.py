"""Benchmark the Spark engine against the local path on this machine.

Two measurements:

1. **Scoring one month** (``--claims``, default 10M): the same month and the same model
   scored by the local path (``score_dataset`` in one process) and by ``claimguard score
   --engine spark`` on ``local[2]``, side by side: seconds and claims/s per stage, end to
   end, the ratio Spark / local, and peak memory -- of the local process, and for Spark of
   the driver's Python, the driver JVM and the Python workers (the largest sum of their
   resident sets, sampled every 0.5 s). Target: Spark within 2x of local end to end.
2. **Training on a year** (``--train-months`` x ``--train-claims``, default 12 x 5M =
   60M claims): ``train_on_spark`` on ``local[2]`` with the driver JVM capped at
   ``--driver-memory`` (4g); time per stage and peak memory. Target: completes, driver
   <= 4 GB.

Each run is a fresh child process (its memory is its own). Months come from
bench/_data.py (2.5M-claim chunks; card registry = the month's claimants). A
--workdir that already holds the data is reused.

    python bench/spark.py --claims 1000000 --train-claims 500000   # a quick look
    python bench/spark.py                                          # the target sizes
    python bench/spark.py --skip-train / --skip-score
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _data  # bench/_data.py: chunked generation of a one-month dataset

TARGET_RATIO = 2.0
TARGET_DRIVER_GB = 4.0


class PeakMemory:
    """Largest resident set of this process's descendants, by kind, sampled in a thread."""

    def __init__(self, interval: float = 0.5) -> None:
        import psutil

        self._me = psutil.Process()
        self.peak = {"jvm": 0.0, "workers": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        import psutil

        while not self._stop.is_set():
            now = {"jvm": 0.0, "workers": 0.0}
            for p in self._me.children(recursive=True):
                try:
                    kind = "jvm" if "java" in p.name() else "workers"
                    now[kind] += p.memory_info().rss / 1024**3
                except psutil.Error:
                    continue
            for k, v in now.items():
                self.peak[k] = max(self.peak[k], v)
            self._stop.wait(interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _peak_self_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _spark_settings(master: str, partitions: int, driver_memory: str) -> object:
    from claimguard.settings import Settings

    s = Settings()
    conf = {"spark.driver.memory": driver_memory, "spark.local.dir": tempfile.gettempdir()}
    return s.model_copy(
        update={
            "engine": "spark",
            "spark": s.spark.model_copy(
                update={"master": master, "shuffle_partitions": partitions, "conf": conf}
            ),
        }
    )


def _local_score(data: Path, model: Path, out: Path) -> dict:
    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.output import write_score_folder
    from claimguard.scoring.score import score_dataset
    from claimguard.settings import Settings

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bundle = load_bundle(model)
    timings["Loading model"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    ds = load_dataset(data)
    timings["Reading data"] = time.perf_counter() - t1
    result = score_dataset(ds, bundle, Settings(), timings=timings)
    t2 = time.perf_counter()
    write_score_folder(result, out)
    timings["Writing outputs"] = time.perf_counter() - t2
    return {
        "claims": int(len(ds.claims)),
        "timings": timings,
        "end_to_end_s": time.perf_counter() - t0,
        "peak_gb": {"process": _peak_self_gb()},
        "alert_ids": sorted(result.alerts["alert_id"].astype(str)),
    }


def _spark_score(data: Path, model: Path, out: Path, master: str, parts: int, mem: str) -> dict:
    from claimguard.jobs.spark_score import SCORES_DATASET, score_on_spark
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.output import write_score_folder

    settings = _spark_settings(master, parts, mem)
    timings: dict[str, float] = {}
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        bundle = load_bundle(model)
        timings["Loading model"] = time.perf_counter() - t0
        result, staged = score_on_spark(str(data), bundle, settings, out, timings=timings)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        write_score_folder(result, out, {SCORES_DATASET: staged})
        timings["Writing outputs"] = time.perf_counter() - t2
        total = time.perf_counter() - t0
    return {
        "claims": int(result.run["claims_scored"]),
        "timings": timings,
        "end_to_end_s": total,
        "peak_gb": {"driver_python": _peak_self_gb(), **peak.peak},
        "alert_ids": sorted(result.alerts["alert_id"].astype(str)),
    }


def _spark_train(data: Path, model: Path, master: str, parts: int, mem: str) -> dict:
    from claimguard.jobs.spark import train_on_spark
    from claimguard.model.bundle import save_bundle

    settings = _spark_settings(master, parts, mem)
    timings: dict[str, float] = {}
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        bundle = train_on_spark(str(data), settings, timings=timings)  # type: ignore[arg-type]
        save_bundle(bundle, model)
        total = time.perf_counter() - t0
    return {
        "claims": int(bundle.fingerprint["counts"]["claims"]["in"]),
        "entities": bundle.fingerprint["n_feature_rows"],
        "timings": timings,
        "end_to_end_s": total,
        "peak_gb": {"driver_python": _peak_self_gb(), **peak.peak},
    }


def _year(root: Path, months: int, per_month: int) -> Path:
    """``months`` generated months as one dataset: ``claims/``, ``claim_lines/``,
    ``cards/`` folders with one file per month (the first month's facilities)."""
    for i in range(months):
        d = root / f"m{i + 1:02d}"
        if not (d / "claims.parquet").exists():
            t = _data.generate_month(
                d, per_month, 100 + i, f"2023-{i + 1:02d}-01", claimants_only=True
            )
            print(f"  month {i + 1}: {t:.0f} s", flush=True)
    data = root / "year"
    for name in ("claims", "claim_lines", "cards"):
        (data / name).mkdir(parents=True, exist_ok=True)
        for i in range(months):
            link = data / name / f"m{i + 1:02d}.parquet"
            if not link.exists():
                link.symlink_to(root / f"m{i + 1:02d}" / f"{name}.parquet")
    fac = data / "facilities.parquet"
    if not fac.exists():
        fac.symlink_to(root / "m01" / "facilities.parquet")
    return data


def _rates(local: dict | None, spark: dict, label: str) -> None:
    n = spark["claims"]
    print(f"\n{label}: {n:,} claims")
    for name, r in (("local", local), ("spark local[2]", spark)):
        if r is None:
            continue
        print(f"-- {name}")
        _data.print_rates(
            {k: v for k, v in r["timings"].items() if not k.startswith("Scoring total")}, n, "stage"
        )
        e2e = r["end_to_end_s"]
        print(f"{'end to end':<34}{e2e:>10.2f}{n / e2e:>14,.0f}")
        print("peak memory (GB): " + ", ".join(f"{k} {v:.2f}" for k, v in r["peak_gb"].items()))


def _bench_score(a: argparse.Namespace, work: Path, env: dict, common: list[str]) -> None:
    """The same month and model, scored locally and on Spark, side by side."""
    month, model = work / "score", work / "model.joblib"
    if not (month / "claims.parquet").exists():
        print(f"generating {a.claims:,} claims to score ...", flush=True)
        _data.generate_month(month, a.claims, 11, "2024-02-01", claimants_only=True)
    if not model.exists():
        train_claims = min(2_000_000, max(100_000, a.claims // 5))
        print(f"training the model (local, {train_claims:,} claims) ...", flush=True)
        _data.generate_month(work / "train", train_claims, 7, "2024-01-01", claimants_only=True)
        subprocess.run(
            [sys.executable, "-m", "claimguard", "-q", "train", str(work / "train"),
             "--model-out", str(model)],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    runs = {}
    for kind in ("local", "spark"):
        print(f"scoring, {kind} ...", flush=True)
        stage = [*common, "--_stage", kind, str(month), str(model), str(work / f"out_{kind}")]
        runs[kind] = _data.run_child(__file__, stage, env)
    _rates(runs["local"], runs["spark"], "scoring one month")
    ratio = runs["spark"]["end_to_end_s"] / runs["local"]["end_to_end_s"]
    same = runs["local"]["alert_ids"] == runs["spark"]["alert_ids"]
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"\nSpark / local end to end: {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x: {verdict}); "
          f"same alert ids: {same}")  # fmt: skip


def _bench_train(a: argparse.Namespace, work: Path, env: dict, common: list[str]) -> None:
    """A year of months trained on Spark: time per stage, peak memory."""
    total = a.train_months * a.train_claims
    print(f"\ngenerating {a.train_months} months x {a.train_claims:,} claims ...", flush=True)
    data = _year(work / "year", a.train_months, a.train_claims)
    print(f"training on Spark ({total:,} claims) ...", flush=True)
    stage = [*common, "--_stage", "train", str(data), str(work / "model_year.joblib")]
    r = _data.run_child(__file__, stage, env)
    _rates(None, r, f"training on {a.train_months} months")
    print(f"entities: {r['entities']}")
    driver = r["peak_gb"]["jvm"] + r["peak_gb"]["driver_python"]
    verdict = "met" if driver <= TARGET_DRIVER_GB else "NOT met"
    print(f"driver (JVM + Python) peak {driver:.2f} GB (target <= {TARGET_DRIVER_GB:.0f} GB: "
          f"{verdict})")  # fmt: skip


def _stage(a: argparse.Namespace) -> None:
    """Runs in the child process: one stage, its figures as JSON on the last line."""
    kind, *rest = a._stage
    paths = [Path(x) for x in rest]
    if kind == "local":
        r = _local_score(paths[0], paths[1], paths[2])
    elif kind == "spark":
        r = _spark_score(*paths[:3], a.master, a.partitions, a.driver_memory)
    else:
        r = _spark_train(paths[0], paths[1], a.master, a.partitions, a.driver_memory)
    print(json.dumps(r))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", type=int, default=10_000_000, help="claims in the scored month")
    p.add_argument("--train-months", type=int, default=12)
    p.add_argument("--train-claims", type=int, default=5_000_000, help="claims per training month")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--partitions", type=int, default=16, help="card/facility partitions")
    p.add_argument("--driver-memory", default="4g", help="spark.driver.memory (JVM heap)")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--skip-score", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--_stage", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._stage:
        _stage(a)
        return
    work = a.workdir or Path(tempfile.mkdtemp(prefix="cg-bench-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    common = ["--master", a.master, "--partitions", str(a.partitions)]
    common += ["--driver-memory", a.driver_memory]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    if not a.skip_score:
        _bench_score(a, work, env, common)
    if not a.skip_train:
        _bench_train(a, work, env, common)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
