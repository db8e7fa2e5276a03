"""Readable pages: ICD-10 titles, facility names, reasons said once, the entity's story."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from claimguard.features.catalog import CATALOG
from claimguard.scoring.reasons import reason_text
from claimguard.triage.codes import dx_label, dx_title
from claimguard.triage.load import load_folder
from claimguard.triage.store import QueueFilter, Store


def test_icd10_titles_come_from_the_who_list() -> None:
    assert dx_title("J06.9") == "Acute upper respiratory infection, unspecified"
    assert dx_title("j069") == dx_title("J06.9")  # without the dot, any case
    assert dx_title("E11.95") == "Type 2 diabetes mellitus (category)"  # unknown subcategory
    assert dx_title("not a code") is None and dx_title(None) is None
    assert dx_label("ZZZ") == "ZZZ"


def test_no_reason_sentence_repeats_itself() -> None:
    """Every catalogue sentence: the peers' figure at most once, never a relative one twice."""
    for name, spec in CATALOG.items():
        for entity_type in ("card", "facility"):
            text = reason_text(spec, name, 7.0, 1.0, entity_type)
            assert "1× rarer" not in text and "1.0×" not in text, text
            # the sentence's words after the number never appear a second time
            words = re.sub(r"[\d.,%×]+", "#", text)
            head = words.split(";")[0].strip(" #")
            assert words.count(head) == 1, text
    visits = CATALOG["card_max_visits_7d_count"]
    assert reason_text(visits, visits.name, 12, 2, "card") == (
        "12 visits in the busiest 7 days; similar patients: 2"
    )


def test_comparison_line_uses_the_sentence_unit() -> None:
    from claimguard.triage.story import compare_text

    share = {"feature": "f_share", "value": 0.18, "typical": 0.073, "text": "18% of visits"}
    assert compare_text(share, "facility") == "similar facilities: typically 7%, so 2.5× theirs"
    ratio = {"feature": "x_ratio_to_peers", "value": 3, "typical": 1, "text": "3.0× the cost"}
    assert compare_text(ratio, "card") == ""  # the sentence already compares


def test_alert_page_names_diagnoses_and_facilities(client: TestClient, store: Store) -> None:
    card = store.queue(QueueFilter(entity_type="card")).rows[0]
    alert = store.alert(card["alert_id"])
    assert alert is not None
    page = client.get(f"/alerts/{card['alert_id']}").text
    claims = store.claims(alert["evidence_claim_ids"])
    for c in claims:
        title = dx_title(c["primary_dx"])
        assert title and title in page
    # facilities by name, tier and province from entity_info, and a link to their page
    facs = store.entities("facility", [c["facility_id"] for c in claims])
    assert facs, "entity_info facilities are stored"
    for f in facs.values():
        assert f["name"] in page and f"/facilities/{f['entity_id']}" in page
    # secondary diagnoses listed one by one with their titles
    sec = next(c for c in claims if c["secondary_dx"])
    for code in re.split(r"[;,\s]+", sec["secondary_dx"]):
        assert f"<code>{code}</code>" in page


def test_line_items_show_their_name_when_the_dataset_has_one(
    store: Store, scored_folder: Path
) -> None:
    lines = pd.read_parquet(scored_folder / "evidence_lines.parquet")
    lines["item_name"] = "Paracetamol 500 mg"
    lines.to_parquet(scored_folder / "evidence_lines.parquet", index=False)
    load_folder(store, scored_folder)
    first = str(lines["claim_id"].iloc[0])
    assert {r["item_name"] for r in store.lines(first)} == {"Paracetamol 500 mg"}


def _charts(html: str) -> list[str]:
    return re.findall(r'<img class="chart"[^>]*src="(data:image/svg\+xml;base64,[^"]+)"', html)


def test_card_page_tells_every_visit_with_flags_and_charts(
    client: TestClient, store: Store
) -> None:
    row = store.queue(QueueFilter(entity_type="card")).rows[0]
    alert = store.alert(row["alert_id"])
    assert alert is not None
    r = client.get(f"/cards/{row['entity_id']}")
    assert r.status_code == 200
    visits = store.card_visits(row["entity_id"], alert["period_start"], alert["period_end"])
    evidence = set(alert["evidence_claim_ids"])
    assert len(visits) > len(evidence) > 0  # the whole period, not only the evidence
    items = re.findall(r'<li class="visit( evidence)?" data-claim="([^"]+)"', r.text)
    assert [c for _, c in items] == [v["claim_id"] for v in visits]  # every visit, in order
    assert {c for flag, c in items if flag} == evidence  # evidence flagged, nothing else
    for v in visits:
        assert dx_title(v["primary_dx"]) in r.text
    # one chart per reason, each an SVG with the card's value on the peers' distribution
    charts = _charts(r.text)
    assert len(charts) == len(alert["reasons"]) > 0
    import base64

    svg = base64.b64decode(charts[0].split(",", 1)[1]).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert f"/alerts/{row['alert_id']}" in r.text
    assert client.get("/cards/NOSUCHCARD").status_code == 404


def test_facility_page_has_indicators_loads_diagnoses_and_cards(
    client: TestClient, store: Store
) -> None:
    row = store.queue(QueueFilter(entity_type="facility")).rows[0]
    fid = row["entity_id"]
    r = client.get(f"/facilities/{fid}")
    assert r.status_code == 200
    alert = store.alert(row["alert_id"])
    assert alert is not None
    assert len(_charts(r.text)) == len(alert["reasons"]) + 1  # indicators + doctor-day histogram
    days = store.doctor_days(fid)
    over = sum(float(d["examinations"]) > 65 for d in days)
    assert f"{over} of {len(days)} doctor-days above the cap" in r.text
    top = store.facility_diagnoses(fid)
    assert top and all(d["primary_dx"] in r.text for d in top)
    cards = store.facility_card_alerts(fid)
    assert cards, "sample cards visit the first facilities"
    for c in cards:
        assert f"/cards/{c['entity_id']}" in r.text
    # a facility only seen in evidence (no alert) still has its page; unknown ones do not
    assert client.get("/facilities/NOSUCH").status_code == 404


def test_story_pages_need_a_signed_in_reviewer(store: Store, scored_folder: Path) -> None:
    from claimguard.triage.app import create_app
    from tests.triage.conftest import add_test_users
    from tests.triage.pages import sign_in

    load_folder(store, scored_folder)
    add_test_users(store)
    row = store.queue(QueueFilter(entity_type="card")).rows[0]
    with TestClient(create_app(store)) as c:
        r = c.get(f"/cards/{row['entity_id']}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        sign_in(c, "rita")
        assert c.get(f"/cards/{row['entity_id']}").status_code == 200


def test_supervisor_exports_cases_with_notes_and_full_history(
    client: TestClient, store: Store
) -> None:
    import io

    first, second, untouched = (r["alert_id"] for r in store.queue(QueueFilter(), page_size=3).rows)
    store.record_decision(first, "needs_information", "rita", "ask the clinic #borrowed_card")
    store.record_decision(first, "confirmed_abuse", "sam", '=HYPERLINK("http://x")')
    store.add_note(first, "rita", "called the facility")
    store.add_note(second, "sam", "+1 looks like a duplicate")  # a note only: still a case
    r = client.get("/export/cases.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    df = pd.read_csv(io.StringIO(r.text), dtype=str, keep_default_na=False)
    assert untouched not in set(df["alert_id"])
    row = df.set_index("alert_id").loc[first]
    assert row["model_version"] == "sample-1" and row["state"] == "decided"
    assert row["status"] == "confirmed_abuse" and row["n_decisions"] == "2"
    history = row["decision_history"].split("\n")
    assert "rita needs_information [borrowed_card]: ask the clinic" in history[0]
    assert "sam confirmed_abuse" in history[1] and '=HYPERLINK("http://x")' in history[1]
    assert "rita: called the facility" in row["notes"]
    noted = df.set_index("alert_id").loc[second]
    assert noted["n_notes"] == "1" and noted["decision_history"] == ""
    # a cell that starts like a formula is neutralised (a model version from a hostile folder)
    from sqlalchemy import update

    from claimguard.triage.store import Alert

    with store.engine.begin() as conn:
        conn.execute(update(Alert).where(Alert.alert_id == first).values(model_version="=1+2"))
    df = pd.read_csv(io.StringIO(client.get("/export/cases.csv").text), dtype=str)
    assert df.set_index("alert_id").loc[first, "model_version"] == "'=1+2"


def test_reviewers_may_not_export_cases(store: Store, scored_folder: Path) -> None:
    from claimguard.triage.app import create_app
    from tests.triage.conftest import add_test_users
    from tests.triage.pages import sign_in

    load_folder(store, scored_folder)
    add_test_users(store)
    with TestClient(create_app(store)) as c:
        sign_in(c, "rita")
        assert c.get("/export/cases.csv").status_code == 403
