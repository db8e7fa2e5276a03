"""Triage queue speed: the queue page with 100,000 alerts must render in < 300 ms server time.

Writes a sample scored folder with N alerts (90% cards, 10% facilities), loads it into a
fresh store (SQLite file by default, or --db URL, e.g. PostgreSQL), records decisions on
1% of the alerts, then requests the queue page through the real app (FastAPI TestClient)
and reads the app's own ``Server-Timing`` header: the time from request to rendered HTML,
including every SQL query (page rows, per-status counts, filter choices). Prints median
and p95 per variant (first page, filters, deep page), the load rate, and PASS/FAIL.

    python bench/triage.py                     # 100,000 alerts on SQLite
    python bench/triage.py --alerts 20000      # a quick look
    python bench/triage.py --db postgresql://claimguard:claimguard@127.0.0.1:5432/claimguard_test
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

LIMIT_MS = 300.0


def _server_ms(client: object, url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        r = client.get(url)  # type: ignore[attr-defined]
        assert r.status_code == 200, (url, r.status_code)
        out.append(float(r.headers["server-timing"].split("dur=")[1]))
    return out


def main() -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from claimguard.triage.app import create_app
    from claimguard.triage.load import load_folder
    from claimguard.triage.sample import write_sample_folder
    from claimguard.triage.store import QueueFilter, Store

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts in the store")
    parser.add_argument("--db", default=None, help="store URL (default: SQLite in a temp dir)")
    parser.add_argument("--repeat", type=int, default=15, help="requests per variant")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scored"
        n_fac = max(1, args.alerts // 10)
        t0 = time.perf_counter()
        write_sample_folder(folder, n_cards=args.alerts - n_fac, n_facilities=n_fac, context=False)
        t_write = time.perf_counter() - t0
        url = args.db or f"sqlite:///{Path(tmp) / 'triage.db'}"
        store = Store.open(url)
        if args.db:  # a shared server: start from an empty store
            with store.engine.begin() as conn:
                for t in ("alert_signals", "decisions", "alerts", "runs"):
                    conn.execute(text(f"DELETE FROM {t}"))
        t0 = time.perf_counter()
        summary = load_folder(store, folder)
        t_load = time.perf_counter() - t0
        if store.dialect == "postgresql":
            with store.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        ids = [r["alert_id"] for r in store.queue(QueueFilter(), 1, args.alerts // 100).rows]
        for i, aid in enumerate(ids):
            store.record_decision(aid, ("confirmed_abuse", "dismissed")[i % 2], "bench", "")

        client = TestClient(create_app(store, page_size=50))
        pages = store.queue(QueueFilter(), 1, 50).pages
        province = store.facets().provinces[0]
        variants = {
            "first page": "/queue",
            "signal filter": "/queue?signal=doctor_load",
            "status open": "/queue?status=open",
            "status decided": "/queue?status=dismissed",
            "card + province": f"/queue?entity_type=card&province={province.replace(' ', '+')}",
            "tier + score range": "/queue?tier=district&score_min=0.6&score_max=0.9",
            "page 100": "/queue?page=100",
            f"last page ({pages})": f"/queue?page={pages}",
        }
        print(
            f"store: {store.dialect}, {summary.alerts:,} alerts "
            f"(sample folder written in {t_write:.1f} s; "
            f"loaded in {t_load:.1f} s = {summary.alerts / t_load:,.0f} alerts/s)"
        )
        print(f"{'variant':<24}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}")
        worst = 0.0
        for name, path in variants.items():
            _server_ms(client, path, 2)  # warm caches (facets, SQLite page cache)
            ms = sorted(_server_ms(client, path, args.repeat))
            p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
            worst = max(worst, statistics.median(ms))
            print(f"{name:<24}{statistics.median(ms):>10.1f}{p95:>9.1f}{ms[-1]:>9.1f}")
        t0 = time.perf_counter()
        r = client.get(f"/alerts/{ids[0]}")
        print(
            f"alert page: {(time.perf_counter() - t0) * 1000:.1f} ms round trip ({r.status_code})"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {rss:,.0f} MiB")
        verdict = "PASS" if worst < LIMIT_MS else "FAIL"
        print(f"{verdict}: slowest median {worst:.1f} ms (limit {LIMIT_MS:.0f} ms server time)")
        store.close()


if __name__ == "__main__":
    main()
