"""The triage web app through FastAPI's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from claimguard.schema import DECISION_COLUMNS
from claimguard.triage.app import create_app
from claimguard.triage.load import load_folder
from claimguard.triage.store import QueueFilter, Store
from claimguard.triage.story import compare_text
from tests.triage.pages import signed_in

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ALERT_LINK = re.compile(r'href="/alerts/([0-9a-f]+)\?')


def _token(html: str) -> str:
    m = TOKEN.search(html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def _first_alert(client: TestClient, query: str = "") -> tuple[str, str]:
    page = client.get(f"/queue?{query}")
    assert page.status_code == 200
    m = ALERT_LINK.search(page.text)
    assert m
    return m.group(1), page.text


def test_queue_page_ranks_filters_and_counts(client: TestClient, store: Store) -> None:
    r = client.get("/queue")
    assert r.status_code == 200
    assert "<b>36</b> cases match" in r.text and "10 on this page" in r.text
    assert 'rel="next"' in r.text and 'rel="prev"' not in r.text
    assert "Latest run: 36 alerts from" in r.text and "sample-1" in r.text
    assert r.headers["server-timing"].startswith("app;dur=")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    ids = ALERT_LINK.findall(r.text)
    assert ids == [row["alert_id"] for row in store.queue(QueueFilter(), page_size=10).rows]

    r = client.get("/queue?signal=doctor_load&entity_type=facility&score_min=&after=")
    n = store.queue(QueueFilter(signal="doctor_load", entity_type="facility")).total
    assert r.status_code == 200 and f"<b>{n}</b> cases match" in r.text
    assert all(
        store.alert(a)["entity_type"] == "facility"  # type: ignore[index]
        for a in ALERT_LINK.findall(r.text)
    )
    last = store.queue(QueueFilter(), page_size=30).next_cursor
    assert last is not None
    page4 = client.get("/queue", params={"after": last.encode()})
    assert "6 on this page" in page4.text and 'rel="next"' not in page4.text
    assert client.get("/queue?tier=central&province=Ha+Noi").status_code == 200


def test_invalid_filters_are_rejected_server_side(client: TestClient) -> None:
    for bad in ("score_min=2", "signal=nonsense", "status=approved", "after=0.5", "score_max=abc"):
        r = client.get(f"/queue?{bad}")
        assert r.status_code == 422, bad
        assert "Invalid request" in r.text


def test_alert_page_shows_reasons_evidence_and_context(client: TestClient, store: Store) -> None:
    card = store.queue(QueueFilter(entity_type="card")).rows[0]
    r = client.get(f"/alerts/{card['alert_id']}")
    assert r.status_code == 200
    alert = store.alert(card["alert_id"])
    assert alert is not None
    for reason in alert["reasons"]:
        assert reason["text"] in r.text
        assert compare_text(reason, "card") in r.text  # the peers' figure, said once
    claims = store.claims(alert["evidence_claim_ids"])
    positions = [r.text.index(c["claim_id"]) for c in claims]
    assert positions == sorted(positions)  # timeline in time order
    assert "Facilities this card visited" in r.text
    for v in store.card_facilities(card["entity_id"]):
        assert v["facility_id"] in r.text
    lines = client.get(f"/alerts/{card['alert_id']}/claims/{claims[0]['claim_id']}/lines")
    assert lines.status_code == 200 and lines.text.count("<tr>") == 1 + 2  # header + 2 lines
    assert client.get(f"/alerts/{card['alert_id']}/claims/other/lines").status_code == 404

    fac = store.queue(QueueFilter(entity_type="facility")).rows[0]
    r = client.get(f"/alerts/{fac['alert_id']}")
    assert "Doctors' daily loads" in r.text and 'class="spark"' in r.text
    assert client.get("/alerts/doesnotexist").status_code == 404


def test_missing_context_is_said_on_the_page(store: Store, tmp_path: Path) -> None:
    from claimguard.triage.sample import write_sample_folder

    folder = tmp_path / "bare"
    write_sample_folder(folder, n_cards=2, n_facilities=1)
    for name in ("evidence_claims", "evidence_lines", "card_facilities", "doctor_days"):
        (folder / f"{name}.parquet").unlink()
    load_folder(store, folder)
    client = signed_in(create_app(store))
    card = store.queue(QueueFilter(entity_type="card")).rows[0]["alert_id"]
    fac = store.queue(QueueFilter(entity_type="facility")).rows[0]["alert_id"]
    assert "has no <code>evidence_claims.parquet</code>" in client.get(f"/alerts/{card}").text
    assert "has no <code>card_facilities.parquet</code>" in client.get(f"/alerts/{card}").text
    assert "has no <code>doctor_days.parquet</code>" in client.get(f"/alerts/{fac}").text


def test_decision_roundtrip_with_csrf(client: TestClient, store: Store) -> None:
    aid, _ = _first_alert(client)
    page = client.get(f"/alerts/{aid}")
    form = {
        "csrf_token": _token(page.text),
        "decision": "confirmed_abuse",
        "reviewer": "sam",
        "note": "same card at 3 clinics in a day #borrowed_card",
        "back": "signal=cost",
    }
    r = client.post(f"/alerts/{aid}/decisions", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/alerts/{aid}?back=signal%3Dcost&saved=1")
    shown = client.get(r.headers["location"])
    assert "Decision recorded." in shown.text and "sam" in shown.text
    assert '<b id="reviewer">sam</b>' in shown.text  # the signed-in user, not a form field
    assert store.alert(aid)["status"] == "confirmed_abuse"  # type: ignore[index]
    assert store.history(aid)[0]["scenario"] == "borrowed_card"
    csv = client.get("/export/labels.csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="labels.csv"'
    labels = pd.read_csv(io.StringIO(csv.text))
    assert list(labels.columns) == list(DECISION_COLUMNS)
    assert labels[["scenario", "decision", "reviewer"]].values.tolist() == [
        ["borrowed_card", "confirmed_abuse", "sam"]
    ]
    assert "1</b> decided alert(s)" in client.get("/export").text


def test_forms_without_a_valid_csrf_token_are_refused(client: TestClient, store: Store) -> None:
    aid, _ = _first_alert(client)
    good = _token(client.get(f"/alerts/{aid}").text)
    base = {"decision": "dismissed", "reviewer": "ann", "note": ""}
    assert client.post(f"/alerts/{aid}/decisions", data=base).status_code == 403
    forged = {**base, "csrf_token": good[:-4] + "AAAA"}
    assert client.post(f"/alerts/{aid}/decisions", data=forged).status_code == 403
    # a token issued to another browser (other cookie) does not pass either
    other = signed_in(client.app)
    other_token = _token(other.get(f"/alerts/{aid}").text)
    r = client.post(f"/alerts/{aid}/decisions", data={**base, "csrf_token": other_token})
    assert r.status_code == 403 and "does not belong to this browser" in r.text
    fresh = signed_in(client.app)  # no cookie at all
    assert (
        fresh.post(f"/alerts/{aid}/decisions", data={**base, "csrf_token": good}).status_code == 403
    )
    assert store.history(aid) == []


def test_decision_validation_reports_problems(client: TestClient, store: Store) -> None:
    aid, _ = _first_alert(client)
    token = _token(client.get(f"/alerts/{aid}").text)
    bad = [
        {"decision": "approve", "reviewer": "ann"},
        {"decision": "dismissed", "reviewer": "ann", "note": "x" * 2001},
        {"decision": "dismissed", "note": "  "},  # a dismissal needs a reason
    ]
    for form in bad:
        r = client.post(f"/alerts/{aid}/decisions", data={**form, "csrf_token": token})
        assert r.status_code == 422, form
        assert "The decision was not saved" in r.text
    assert store.history(aid) == []
    ok = client.post(
        f"/alerts/{aid}/decisions",
        data={"decision": "dismissed", "note": "duplicate", "csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    gone = client.post(
        "/alerts/nope/decisions",
        data={"decision": "dismissed", "note": "duplicate", "csrf_token": token},
    )
    assert gone.status_code == 404


def test_script_in_claim_fields_renders_as_text(store: Store, tmp_path: Path) -> None:
    from claimguard.triage.sample import write_sample_folder

    folder = tmp_path / "hostile"
    write_sample_folder(folder, n_cards=2, n_facilities=1)
    evil = "<script>alert('x')</script>"
    claims = pd.read_parquet(folder / "evidence_claims.parquet")
    claims["secondary_dx"] = evil
    claims["doctor_id"] = evil
    claims.to_parquet(folder / "evidence_claims.parquet")
    alerts = pd.read_parquet(folder / "alerts.parquet")
    alerts["entity_id"] = alerts["entity_id"] + '"><img src=x onerror=alert(1)>'
    alerts.to_parquet(folder / "alerts.parquet")
    info = pd.read_parquet(folder / "entity_info.parquet")
    info["label"] = evil
    info.to_parquet(folder / "entity_info.parquet")
    load_folder(store, folder)
    client = signed_in(create_app(store))
    queue = client.get("/queue").text
    aid = ALERT_LINK.search(queue).group(1)  # type: ignore[union-attr]
    page = client.get(f"/alerts/{aid}").text
    for html in (queue, page):
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # only our own /static/app.js
    note = client.post(
        f"/alerts/{aid}/decisions",
        data={
            "decision": "dismissed",
            "reviewer": "ann",
            "note": evil,
            "csrf_token": _token(page),
        },
    )
    assert "<script>alert" not in note.text and "&lt;script&gt;" in note.text


def test_root_health_and_static(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/queue"
    assert client.get("/healthz").json()["alerts"] == 36
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_next_open_alert_follows_the_filtered_queue(client: TestClient, store: Store) -> None:
    rows = store.queue(QueueFilter(entity_type="card"), page_size=500).rows
    first, second, third = (r["alert_id"] for r in rows[:3])
    store.record_decision(second, "dismissed", "ann")
    page = client.get(f"/alerts/{first}?back=entity_type%3Dcard").text
    # the decided second alert is skipped; the link keeps the queue's filters
    assert f'id="next-open" href="/alerts/{third}?back=entity_type%3Dcard"' in page
    last = rows[-1]["alert_id"]
    assert 'id="next-open"' not in client.get(f"/alerts/{last}?back=entity_type%3Dcard").text
    # a back parameter that is not a valid queue query is dropped, not echoed
    evil = client.get(f"/alerts/{first}?back=%22%3E%3Cscript%3E").text
    assert "<script>" not in evil and 'href="/queue?"' in evil


def test_doctor_loads_sit_on_the_calendar_and_flag_the_cap() -> None:
    import datetime as dt

    from claimguard.triage.app import _doctor_loads

    d0 = dt.date(2024, 1, 1)
    rows = [
        {"doctor_id": "A", "day": d0, "examinations": 30.0},
        {"doctor_id": "A", "day": d0 + dt.timedelta(days=3), "examinations": 90.0},
        {"doctor_id": "B", "day": d0 + dt.timedelta(days=1), "examinations": 10.0},
    ]
    a, b = _doctor_loads(rows, cap=65)
    assert (a["doctor_id"], a["over"], a["max"], b["over"]) == ("A", 1, 90.0, 0)
    assert [bar["x"] for bar in a["bars"]] == [0, 24]  # day 4 after a 2-day gap
    assert [bar["over"] for bar in a["bars"]] == [False, True]
    assert a["bars"][1]["h"] > a["bars"][0]["h"] and a["width"] == b["width"] == 32
    assert 0 < a["cap_y"] < 46


def test_store_urls_are_normalised() -> None:
    from claimguard.triage.store import normalise_url

    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("triage.db") == "sqlite:///triage.db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_lines_of_a_claim_id_with_a_slash(store: Store, tmp_path: Path) -> None:
    from claimguard.triage.sample import write_sample_folder

    folder = tmp_path / "slash"
    alerts = write_sample_folder(folder, n_cards=1, n_facilities=1)
    for name in ("evidence_claims", "evidence_lines"):
        df = pd.read_parquet(folder / f"{name}.parquet")
        df["claim_id"] = "KCB/2024/" + df["claim_id"]
        df.to_parquet(folder / f"{name}.parquet")
    alerts["evidence_claim_ids"] = alerts["evidence_claim_ids"].str.replace('"C', '"KCB/2024/C')
    alerts.to_parquet(folder / "alerts.parquet")
    load_folder(store, folder)
    client = signed_in(create_app(store))
    aid = str(alerts["alert_id"].iloc[0])
    url = re.search(r'data-lines-url="([^"]+)"', client.get(f"/alerts/{aid}").text).group(1)  # type: ignore[union-attr]
    r = client.get(url)
    assert r.status_code == 200 and r.text.count("<tr>") == 3
