"""Where a Spark scoring run spends its time: Spark jobs, stages, tasks and driver gaps.

Why: the Spark path's cost on small and mid-sized months is mostly fixed cost per Spark
action (each ``collect``/``toPandas``/``count`` is a job, each shuffle a stage, each task
a Python worker call) and driver time between jobs (query planning, pandas on the
driver). This script scores one month on Spark with the event log on, then reads the
log back and prints one line per job (its call site, duration and stages) and the
totals: time inside jobs versus the span of the run. Use it before and after a change to
the Spark layer to see whether the number of jobs and the gaps went down.

    python bench/spark_profile.py                      # a generated 20,000-claim month
    python bench/spark_profile.py --data DIR --model MODEL --partitions 16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _data  # bench/_data.py: generated months

SEED = 5


def _score(data: Path, model: Path, out: Path, partitions: int, events: Path) -> dict:
    """Score ``data`` on Spark ``local[2]`` with the event log written to ``events``."""
    from claimguard.jobs.spark_score import score_on_spark
    from claimguard.model.bundle import load_bundle
    from claimguard.settings import Settings

    s = Settings()
    conf = {
        "spark.driver.memory": "4g",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.compress": "false",
        "spark.eventLog.dir": events.resolve().as_uri(),
    }
    spark = s.spark.model_copy(
        update={"master": "local[2]", "shuffle_partitions": partitions, "conf": conf}
    )
    s = s.model_copy(update={"engine": "spark", "spark": spark})
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    score_on_spark(str(data), load_bundle(model), s, out, timings=timings)
    timings["end to end"] = time.perf_counter() - t0
    return timings


def _events(events: Path) -> list[dict]:
    """Every event of the run's log (uncompressed JSON lines, one or more files)."""
    out = []
    for f in sorted(p for p in events.rglob("*") if p.is_file() and p.name.startswith("events")):
        out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return out


def report(events: list[dict]) -> None:
    """One line per job, then jobs / stages / tasks and job time versus span."""
    jobs: dict[int, dict] = {}
    stages: dict[int, tuple[int, float]] = {}
    tasks = 0
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerJobStart":
            site = e.get("Properties", {}).get("callSite.short", "")
            ids = [s["Stage ID"] for s in e["Stage Infos"]]
            jobs[e["Job ID"]] = {
                "start": e["Submission Time"],
                "end": None,
                "site": site,
                "st": ids,
            }
        elif kind == "SparkListenerJobEnd":
            jobs[e["Job ID"]]["end"] = e["Completion Time"]
        elif kind == "SparkListenerStageCompleted":
            si = e["Stage Info"]
            took = (si.get("Completion Time", 0) - si.get("Submission Time", 0)) / 1000
            stages[si["Stage ID"]] = (si["Number of Tasks"], took)
        elif kind == "SparkListenerTaskEnd":
            tasks += 1
    inside = 0.0
    for j, job in sorted(jobs.items()):
        took = ((job["end"] or job["start"]) - job["start"]) / 1000
        inside += took
        ran = [(s, stages[s][0], round(stages[s][1], 1)) for s in job["st"] if s in stages]
        print(f"job {j:3d} {took:7.1f} s  {job['site'][-50:]:50s} stages(id,tasks,s) {ran}")
    if jobs:
        first = min(j["start"] for j in jobs.values())
        last = max(j["end"] or j["start"] for j in jobs.values())
        span = (last - first) / 1000
        print(f"\n{len(jobs)} jobs, {len(stages)} stages run, {tasks} tasks")
        print(f"time inside jobs {inside:.1f} s of a {span:.1f} s span from the first job "
              f"to the last (the rest: the driver between jobs)")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="dataset folder (default: generated)")
    p.add_argument("--model", type=Path, default=None, help="bundle (default: trained locally)")
    p.add_argument("--claims", type=int, default=20_000, help="claims of the generated month")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--workdir", type=Path, default=None)
    a = p.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="cg-spark-profile-"))
    data = a.data or work / "month"
    if a.data is None and not (data / "claims.parquet").exists():
        _data.generate_month(data, a.claims, SEED, "2024-02-01", claimants_only=True)
    model = a.model or work / "model.joblib"
    if not model.exists():
        from claimguard.io.load import load_dataset
        from claimguard.model.bundle import save_bundle
        from claimguard.model.train import train
        from claimguard.settings import Settings

        save_bundle(train(load_dataset(data), Settings()), model)
    events = work / "events"
    events.mkdir(parents=True, exist_ok=True)
    timings = _score(data, model, work / "out", a.partitions, events)
    report(_events(events))
    print("\nstages of the run (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


if __name__ == "__main__":
    main()
