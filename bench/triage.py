"""Triage load run: 100,000 cases, a real uvicorn server, 20 signed-in clients; p95 < 300 ms.

Generates the cases straight into a fresh store (bulk INSERTs, not via scoring): cards and
facilities with scores, amounts at stake, signals, two evidence claims each, a card's
visited facility, links to two runs of two models, and a review team's work (10% assigned,
10% decided). Starts the app in a uvicorn subprocess on loopback, signs 20 clients in
(httpx, one user each) and lets them work for a fixed time: the queue's first page under
a random filter or sort, up to three "Next" pages through the keyset cursors, then one case
page of the last listing. Prints p50/p95/p99 per page kind (round trip on the client), the
errors (any 5xx or failed request), requests/s, and PASS/FAIL against p95 < 300 ms.

Runs on SQLite (a file in a temporary folder) and, when CLAIMGUARD_TEST_PG_URL or
``--pg-url`` is set, on PostgreSQL too (in a schema of its own, dropped afterwards):

    python bench/triage.py                         # SQLite (+ PostgreSQL if the env is set)
    python bench/triage.py --seconds 30
    python bench/triage.py --db sqlite:////tmp/t.db --cases 20000 --seconds 10
    python bench/triage.py --workers 2 --think-s 2   # `serve --workers 2`; + reviewers reading

``--workers N`` serves with N uvicorn worker processes, as `claimguard serve --workers N`.
``--think-s T`` adds a second phase on the same server in which each client, like a
reviewer, reads every page for 0.5-1.5 x T seconds before the next click; the closed loop
(no think time) always runs first and is always printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

LIMIT_MS = 300.0
PASSWORD = "bench password 123"
PROVINCES = ("Ha Noi", "Ho Chi Minh", "Da Nang", "Can Tho", "Hai Phong", "Nghe An")
TIERS = ("central", "provincial", "district", "commune", "private")
CARD_SIGNALS = ("visit_frequency", "multi_facility", "drug_oversupply", "geography", "cost")
FACILITY_SIGNALS = ("doctor_load", "service_intensity", "admission_pattern", "sick_leave", "cost")
CHUNK = 5_000
ALERT_LINK = re.compile(r'class="alert-link" href="/alerts/([^"?]+)\?')
NEXT_LINK = re.compile(r'href="/queue\?([^"]+)" rel="next"')
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


# --------------------------------------------------------------------------- data


def generate(store: Any, n: int, users: list[str], seed: int = 7) -> dict[str, Any]:
    """Insert ``n`` cases (90% cards) and their context in chunks; returns ids for the clients."""
    from sqlalchemy import insert

    from claimguard.triage.auth import add_user
    from claimguard.triage.store import (
        Alert,
        AlertSignal,
        CardFacility,
        CaseRun,
        Claim,
        Decision,
        Run,
    )

    rng = random.Random(seed)
    now = dt.datetime(2024, 2, 5, 9, 0)
    n_fac = max(1, n // 10)
    facilities = [f"F{i:07d}" for i in range(n_fac)]
    for name in users:
        add_user(store, name, PASSWORD, "supervisor" if name.endswith("00") else "reviewer")
    with store.engine.begin() as conn:
        run_ids = []
        for model in ("bench-m1", "bench-m2"):
            ctx = {"evidence_claims": 2 * n, "evidence_lines": None, "entity_info": n,
                   "card_facilities": n - n_fac, "doctor_days": None}  # fmt: skip
            run_ids.append(
                conn.execute(
                    insert(Run).returning(Run.id),
                    [
                        {
                            "folder": f"/bench/{model}",
                            "model_version": model,
                            "loaded_at": now,
                            "n_alerts": n,
                            "context": json.dumps(ctx),
                        }
                    ],  # fmt: skip
                ).scalar_one()
            )
    cards: list[str] = []
    for start in range(0, n, CHUNK):
        alerts, signals, links, claims, visits, decisions = [], [], [], [], [], []
        for i in range(start, min(n, start + CHUNK)):
            is_fac = i < n_fac
            etype = "facility" if is_fac else "card"
            eid = facilities[i] if is_fac else f"HN{i:08d}"
            if not is_fac and len(cards) < 2000:
                cards.append(eid)
            aid = f"b{i:07d}"
            sigs = rng.sample(FACILITY_SIGNALS if is_fac else CARD_SIGNALS, rng.randint(1, 3))
            reasons = [
                {"signal": s, "feature": f"{s}_ratio", "value": 9.1, "typical": 2.0,
                 "text": f"{s.replace('_', ' ')} 4.5x its peers"}
                for s in sigs
            ]  # fmt: skip
            paid = [round(rng.lognormvariate(13, 1.2), -3) for _ in range(2)]
            fac = eid if is_fac else rng.choice(facilities)
            roll = rng.random()
            state, status, assignee, reviewer = "new", "open", None, None
            if roll < 0.10:
                state, status = "decided", rng.choice(("dismissed", "confirmed_abuse"))
                reviewer = rng.choice(users)
            elif roll < 0.20:
                state, assignee = rng.choice(("assigned", "in_review")), rng.choice(users)
            score = rng.uniform(0.5, 0.999)
            alerts.append(
                {
                    "alert_id": aid,
                    "entity_type": etype,
                    "entity_id": eid,
                    "period_start": dt.date(2024, 1, 1),
                    "period_end": dt.date(2024, 1, 31),
                    "score": score,
                    "rank": i + 1,
                    "top_signal": sigs[0],
                    "reasons": json.dumps(reasons),
                    "n_evidence": 2,
                    "evidence_claim_ids": json.dumps([f"C{aid}-0", f"C{aid}-1"]),
                    "model_version": "bench-m1",
                    "province": rng.choice(PROVINCES),
                    "tier": rng.choice(TIERS) if is_fac else None,
                    "label": f"{etype} {eid}",
                    "run_id": run_ids[0],
                    "status": status,
                    "status_at": now if reviewer else None,
                    "status_reviewer": reviewer,
                    "state": state,
                    "assignee": assignee,
                    "due_at": now + dt.timedelta(days=14),
                    "version": 1 if roll < 0.2 else 0,
                    "amount_at_stake": sum(paid),
                }  # fmt: skip
            )
            signals += [{"alert_id": aid, "signal": s} for s in sigs]
            links.append({"alert_id": aid, "run_id": run_ids[0], "source_alert_id": aid,
                          "model_version": "bench-m1", "score": score, "top_signal": sigs[0]})  # fmt: skip
            if rng.random() < 0.3:
                links.append({"alert_id": aid, "run_id": run_ids[1], "source_alert_id": f"m2{aid}",
                              "model_version": "bench-m2", "score": score, "top_signal": sigs[0]})  # fmt: skip
            for k in range(2):
                claims.append(
                    {
                        "claim_id": f"C{aid}-{k}",
                        "card_id": eid if not is_fac else f"HN9{i:07d}",
                        "facility_id": fac,
                        "admit_time": now - dt.timedelta(days=20 - k),
                        "discharge_time": now - dt.timedelta(days=19 - k),
                        "visit_type": "outpatient",
                        "primary_dx": "J06.9",
                        "secondary_dx": None,
                        "total_cost": paid[k] * 1.25,
                        "drug_cost": paid[k] * 0.4,
                        "doctor_id": "D1",
                        "sick_leave_days": None,
                        "outcome": "improved",
                        "facility_province": None,
                        "facility_tier": None,
                        "extra": json.dumps({"insurance_paid": paid[k]}),
                    }  # fmt: skip
                )
            if not is_fac:
                visits.append({"card_id": eid, "facility_id": fac, "visits": 3.0,
                               "total_cost": sum(paid), "first_visit": now - dt.timedelta(days=20),
                               "last_visit": now - dt.timedelta(days=19)})  # fmt: skip
            if reviewer:
                decisions.append({"alert_id": aid, "entity_type": etype, "entity_id": eid,
                                  "decision": status, "scenario": sigs[0], "note": "bench",
                                  "reviewer": reviewer, "decided_at": now})  # fmt: skip
        with store.engine.begin() as conn:
            for table, rows in ((Alert, alerts), (AlertSignal, signals), (CaseRun, links),
                                (Claim, claims), (CardFacility, visits), (Decision, decisions)):  # fmt: skip
                if rows:
                    conn.execute(insert(table), rows)
    return {"facilities": facilities[:2000], "cards": cards, "run_ids": run_ids}


# --------------------------------------------------------------------------- server


def serve(url: str, port: int, workers: int) -> None:
    """The child process: the app on ``url`` under uvicorn, as `claimguard serve --workers`
    runs it (each worker builds its app from the environment)."""
    import uvicorn

    from claimguard.triage.app import KEEP_ALIVE_S, SERVE_ENV

    os.environ[SERVE_ENV] = json.dumps({"url": url, "page_size": 50})
    uvicorn.run(
        "claimguard.triage.app:app_from_environment",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    import httpx

    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not answer {base}/healthz within {timeout_s:.0f} s")


# --------------------------------------------------------------------------- clients


def _queue_query(rng: random.Random, user: str, ids: dict[str, Any]) -> str:
    """A first-page query a reviewer might ask for."""
    choices = [
        "",
        "sort=amount",
        f"signal={rng.choice(CARD_SIGNALS)}",
        f"entity_type=card&province={quote(rng.choice(PROVINCES))}",
        "state=new",
        "state=assigned&sort=amount",
        "mine=1",
        f"q={rng.choice(ids['cards'])}",
        f"facility={rng.choice(ids['facilities'])}",
        "amount_min=2000000&sort=amount",
        "score_min=0.9&status=open",
        f"run={ids['run_ids'][1]}",
        "model=bench-m2&sort=amount",
        f"assignee={user}",
        "entity_type=facility&tier=district",
    ]
    return rng.choice(choices)


async def _sign_in(http: Any, user: str) -> None:
    page = await http.get("/login")
    token = TOKEN.search(page.text)
    assert token, "no CSRF token on the sign-in page"
    r = await http.post(
        "/login", data={"username": user, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert r.status_code in (200, 303) and "cg_session" in http.cookies, r.status_code


async def _client(
    i: int, http: Any, user: str, ids: dict[str, Any], t_end: float,
    timings: dict[str, list[float]], errors: list[str], think_s: float = 0.0,
) -> int:  # fmt: skip
    """One reviewer at work until ``t_end``: queue, next pages, a case; returns requests made.

    ``think_s`` > 0: after each page the reviewer reads it for a random 0.5-1.5 x
    ``think_s`` seconds before the next click (all clients start at once); 0 is the closed
    loop (every client's next request at once).
    """
    import httpx

    rng = random.Random(100 + i)
    n = 0

    async def get(kind: str, url: str) -> str | None:
        nonlocal n
        if think_s > 0 and n:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
        t0 = time.perf_counter()
        try:
            resp = await http.get(url)
        except httpx.HTTPError as exc:
            errors.append(f"{kind}: {type(exc).__name__}")
            return None
        timings[kind].append((time.perf_counter() - t0) * 1000)
        n += 1
        if resp.status_code != 200:
            errors.append(f"{kind}: HTTP {resp.status_code}")
            return None
        return str(resp.text)

    while time.monotonic() < t_end:
        query = _queue_query(rng, user, ids)
        html = await get("queue (filtered)" if query else "queue", f"/queue?{query}")
        for _ in range(rng.randint(0, 3)):
            m = NEXT_LINK.search(html or "")
            if m is None or time.monotonic() >= t_end:
                break
            html = await get("queue (next page)", "/queue?" + m.group(1).replace("&amp;", "&"))
        links = ALERT_LINK.findall(html or "")
        if links and time.monotonic() < t_end:
            await get("case", f"/alerts/{rng.choice(links)}")
    return n


def _pct(ms: list[float], q: int) -> float:
    if len(ms) == 1:
        return ms[0]
    return statistics.quantiles(ms, n=100, method="inclusive")[q - 1]


def _report(title: str, timings: dict[str, list[float]], errors: list[str], rps: float) -> bool:
    """Print one phase's figures; True when p95 of every page kind < limit and no errors."""
    print(title)
    print(f"{'page':<20}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    ok = True
    everything: list[float] = []
    for kind in ("queue", "queue (filtered)", "queue (next page)", "case"):
        ms = timings.get(kind, [])
        everything += ms
        if not ms:
            print(f"{kind:<20}{0:>9}")
            ok = False
            continue
        p95 = _pct(ms, 95)
        ok = ok and p95 < LIMIT_MS
        print(f"{kind:<20}{len(ms):>9,}{_pct(ms, 50):>9.1f}{p95:>9.1f}{_pct(ms, 99):>9.1f}")
    if everything:
        print(
            f"{'all':<20}{len(everything):>9,}{_pct(everything, 50):>9.1f}"
            f"{_pct(everything, 95):>9.1f}{_pct(everything, 99):>9.1f}"
        )
    server_errors = [e for e in errors if "HTTP 5" in e or "Error" in e]
    print(
        f"errors: {len(errors)} ({len(server_errors)} 5xx or failed)"
        + (f", first: {errors[0]}" if errors else "")
    )
    print(f"throughput: {rps:,.1f} requests/s")
    ok = ok and not errors
    print(f"{'PASS' if ok else 'FAIL'}: p95 of every page < {LIMIT_MS:.0f} ms and no errors")
    return ok


async def _phase(
    base: str, users: list[str], ids: dict[str, Any], seconds: float, think: float
) -> tuple[dict[str, list[float]], list[str], float]:
    """Sign every client in, let them work for ``seconds``; (timings, errors, requests/s)."""
    import httpx

    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    limits = httpx.Limits(max_connections=1)  # one connection per client, kept alive
    https = [httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) for _ in users]
    try:
        for http, user in zip(https, users, strict=True):  # argon2: one at a time
            await _sign_in(http, user)
        start = time.monotonic()
        counts = await asyncio.gather(
            *(_client(i, h, users[i], ids, start + seconds, timings, errors, think)
              for i, h in enumerate(https))
        )  # fmt: skip
        return timings, errors, sum(counts) / (time.monotonic() - start)
    finally:
        for http in https:
            await http.aclose()


def run_one(url: str, args: argparse.Namespace, label: str) -> bool:
    """Generate, serve, load; print the figures; True when p95 of every page kind < limit.

    With ``--think-s`` two phases run on the same server: the closed loop, then reviewers
    who read each page; the verdict is the think-time phase's (both are printed).
    """
    from sqlalchemy import text

    from claimguard.triage.store import Store

    users = [f"bench{i:02d}" for i in range(args.clients)]
    store = Store.open(url)
    t0 = time.perf_counter()
    ids = generate(store, args.cases, users)  # includes 20 argon2 password hashes
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    t_gen = time.perf_counter() - t0
    store.close()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", url, "--port", str(port),
           "--workers", str(args.workers)]  # fmt: skip
    proc = subprocess.Popen(cmd)  # noqa: S603 - our own script
    phases = [0.0] + ([args.think_s] if args.think_s > 0 else [])
    verdicts = []
    try:
        _wait_ready(base, proc)
        print(
            f"\n{label}: {args.cases:,} cases generated in {t_gen:.1f} s; {args.clients} "
            f"signed-in clients, {args.workers} server worker(s) on {base}"
        )
        for think in phases:
            timings, errors, rps = asyncio.run(_phase(base, users, ids, args.seconds, think))
            how = (
                "closed loop (each client's next request at once)"
                if think == 0
                else f"reviewers reading each page 0.5-1.5 x {think:g} s"
            )
            verdicts.append(_report(f"-- {how}, {args.seconds:.0f} s", timings, errors, rps))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return verdicts[-1] if verdicts else False


def _pg_schema_url(pg_url: str) -> tuple[str, Any, str]:
    """A fresh schema on the PostgreSQL server, so the run never touches other data."""
    from sqlalchemy import create_engine, text

    from claimguard.triage.store import normalise_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(pg_url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    return f"{normalise_url(pg_url)}{sep}options={quote(f'-csearch_path={schema}')}", admin, schema


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the store")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the load")
    parser.add_argument("--clients", type=int, default=20, help="concurrent signed-in clients")
    parser.add_argument("--db", default=None, help="only this store URL (default: see above)")
    parser.add_argument("--pg-url", default=os.environ.get("CLAIMGUARD_TEST_PG_URL"),
                        help="PostgreSQL server to run on too (default: CLAIMGUARD_TEST_PG_URL)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="server processes (uvicorn)")
    parser.add_argument("--think-s", type=float, default=0.0,
                        help="also run a phase where each client reads each page for "
                             "0.5-1.5 x this many seconds (a reviewer at work)")  # fmt: skip
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.db:
            results.append(run_one(args.db, args, args.db.split(":", 1)[0]))
        else:
            results.append(run_one(f"sqlite:///{Path(tmp) / 'triage.db'}", args, "SQLite"))
            if args.pg_url:
                from sqlalchemy import text

                url, admin, schema = _pg_schema_url(args.pg_url)
                try:
                    results.append(run_one(url, args, "PostgreSQL"))
                finally:
                    with admin.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    admin.dispose()
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
