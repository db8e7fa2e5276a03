"""A reviewer's session in real headless Chromium (Debian's, via Playwright; no download).

The app runs under uvicorn in a thread on a free localhost port; the test opens the
queue, filters by a signal, opens an alert, opens a claim's lines, records a decision,
exports labels and checks the downloaded file. Screenshots of every page are kept
under ``test-artifacts/triage`` when CLAIMGUARD_ARTIFACTS is set, else in tmp_path.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from claimguard.schema import DECISION_COLUMNS
from claimguard.triage.app import create_app
from claimguard.triage.auth import add_user
from claimguard.triage.load import load_folder
from claimguard.triage.sample import write_sample_folder
from claimguard.triage.store import QueueFilter, Store
from tests.triage.pages import served

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "correct horse battery"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("CLAIMGUARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    folder = tmp_path / "scored"
    write_sample_folder(folder, n_cards=40, n_facilities=8, seed=11)
    store = Store.open(f"sqlite:///{tmp_path / 'triage.db'}")
    load_folder(store, folder)
    add_user(store, "ann", PASSWORD, "reviewer")
    add_user(store, "sue", PASSWORD, "supervisor")
    with served(create_app(store, page_size=20)) as base:
        yield base, store
    store.close()


def _sign_in(page: Page, username: str) -> None:
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_selector("#whoami")


def _no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_signed_out_visitor_is_sent_to_sign_in_on_every_route(
    live_app: tuple[str, Store],
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    base, store = live_app
    aid = store.queue(QueueFilter(), page_size=1).rows[0]["alert_id"]
    alert = store.alert(aid)
    assert alert is not None
    claim = alert["evidence_claim_ids"][0]
    paths = [
        "/",
        "/queue",
        f"/alerts/{aid}",
        f"/alerts/{aid}/claims/{claim}/lines",
        "/export",
        "/export/labels.csv",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        for path in paths:
            page.goto(f"{base}{path}")
            assert page.url.startswith(f"{base}/login?next="), path
            assert page.locator("h1").inner_text() == "Sign in", path
        browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    root = os.environ.get("CLAIMGUARD_ARTIFACTS")
    out = Path(root) / "triage" if root else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_reviewer_session_in_chromium(
    live_app: tuple[str, Store], shots: Path, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium; .ci/run does)")
    from playwright.sync_api import expect, sync_playwright

    base, store = live_app
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

        # 0. signed out: the queue sends the visitor to sign in, then back
        page.goto(f"{base}/queue")
        expect(page.locator("h1")).to_have_text("Sign in")
        page.set_viewport_size({"width": 390, "height": 800})
        page.screenshot(path=str(shots / "0-sign-in-390.png"), full_page=True)
        assert _no_sideways_scroll(page)
        page.set_viewport_size({"width": 1400, "height": 900})
        _sign_in(page, "ann")

        # 1. the queue, ranked
        expect(page.locator("#whoami")).to_have_text("ann · reviewer")
        expect(page.locator("#summary")).to_contain_text("48 cases match")
        page.screenshot(path=str(shots / "1-queue.png"), full_page=True)

        # 2. filter by a signal
        page.select_option("#f-signal", "doctor_load")
        page.click("#apply")
        page.wait_for_url("**/queue?*signal=doctor_load*")
        n = store.queue(QueueFilter(signal="doctor_load")).total
        expect(page.locator("#summary")).to_contain_text(f"{n} cases match")
        page.screenshot(path=str(shots / "2-queue-filtered.png"), full_page=True)

        # 3. open the first alert (a facility with doctors' loads)
        first = page.locator("a.alert-link").first
        entity = first.inner_text()
        first.click()
        expect(page.locator("h1")).to_have_text(entity)
        expect(page.locator("#status")).to_have_text("Open")
        details = page.locator("details.lines").first
        details.locator("summary").click()
        expect(details.locator("table.lines-table tbody tr")).to_have_count(2)
        page.screenshot(path=str(shots / "3-alert.png"), full_page=True)

        # 3b. claim the case and add a note (the review starts)
        page.click("#claim")
        expect(page.locator("#assignee")).to_have_text("ann")
        page.fill("#case-note", "Asked the facility for the rosters.")
        page.click("#add-note")
        expect(page.locator("#notes")).to_contain_text("Asked the facility for the rosters.")
        expect(page.locator("#case-state")).to_have_text("in review")
        alert_url = page.url.split("#")[0]

        # 4. record a decision (tag a scenario with the chip)
        page.check("input[name=decision][value=confirmed_abuse]")
        page.fill("#note", "Doctor D2 above the cap on most days.")
        page.click("button.tag[data-tag='#doctor_overload']")
        page.click("#save-decision")
        expect(page.locator("p.ok")).to_have_text("Decision recorded.")
        expect(page.locator("#status")).to_have_text("Confirmed abuse")
        expect(page.locator("ol.history-list li")).to_have_count(1)
        page.screenshot(path=str(shots / "4-decision.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 800})
        page.screenshot(path=str(shots / "4-decision-390.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 900})

        # back to the filtered queue: the decision shows there too
        page.click("text=Back to the queue")
        page.wait_for_url("**signal=doctor_load**")
        expect(page.locator("nav.tabs a.st-confirmed_abuse b")).to_have_text("1")

        # a card alert: the other facilities the card visited
        page.goto(f"{base}/queue?entity_type=card")
        page.locator("a.alert-link").first.click()
        expect(page.locator("table.visited tbody tr")).to_have_count(3)
        page.screenshot(path=str(shots / "6-card-alert.png"), full_page=True)

        # 5. a reviewer may not export; the supervisor may
        page.goto(f"{base}/export")
        expect(page.locator("h1")).to_have_text("This page needs the supervisor role")
        assert [e for e in console_errors if "403" not in e] == []  # that refusal only
        console_errors.clear()
        page.click("#sign-out")
        _sign_in(page, "sue")
        # the supervisor sees the audit trail of the case and reassigns it
        page.goto(alert_url)
        page.click("#audit summary")
        audit = page.locator("#audit")
        for entry in ("ann claim", "ann note", "ann start_review", "ann decide"):
            expect(audit).to_contain_text(entry)
        page.fill("#assign-to", "sue")
        page.click("#assign")
        expect(page.locator("#assignee")).to_have_text("sue")
        page.click("#audit summary")
        expect(page.locator("#audit")).to_contain_text("sue assign")
        page.screenshot(path=str(shots / "7-supervisor-case.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 800})
        page.screenshot(path=str(shots / "7-supervisor-case-390.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(f"{base}/export")
        page.screenshot(path=str(shots / "5-export.png"), full_page=True)
        with page.expect_download() as dl:
            page.click("#download-labels")
        path = tmp_path / "labels.csv"
        dl.value.save_as(path)
        browser.close()

    labels = pd.read_csv(path)
    assert list(labels.columns) == list(DECISION_COLUMNS)
    assert len(labels) == 1
    row = labels.iloc[0]
    assert (row["decision"], row["reviewer"], row["scenario"]) == (
        "confirmed_abuse",
        "ann",
        "doctor_overload",
    )
    assert row["entity_type"] == "facility"
    assert console_errors == []
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "0-sign-in-390.png",
        "1-queue.png",
        "2-queue-filtered.png",
        "3-alert.png",
        "4-decision-390.png",
        "4-decision.png",
        "5-export.png",
        "6-card-alert.png",
        "7-supervisor-case-390.png",
        "7-supervisor-case.png",
    ]


@pytest.fixture
def attacker_site() -> Iterator[tuple[str, dict[str, tuple[str, str]]]]:
    """A page server on another localhost port: path -> (Set-Cookie header, HTML)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, tuple[str, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            cookie, html = pages.get(self.path, ("", "<p>nothing here</p>"))
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # any free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _forged_page(action: str, token: str) -> str:
    fields = {"decision": "dismissed", "reviewer": "Mallory", "note": "forged", "csrf_token": token}
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    return (
        f'<form id="f" method="post" action="{action}">{inputs}</form>'
        "<script>document.getElementById('f').submit()</script>"
    )


def test_a_page_on_another_port_cannot_plant_the_csrf_cookie_and_forge_a_decision(
    live_app: tuple[str, Store], attacker_site: tuple[str, dict[str, tuple[str, str]]]
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium; .ci/run does)")
    import re

    import httpx
    from playwright.sync_api import expect, sync_playwright

    from claimguard.triage.csrf import COOKIE

    base, store = live_app
    evil, pages = attacker_site
    aid = store.queue(QueueFilter(), page_size=1).rows[0]["alert_id"]
    action = f"{base}/alerts/{aid}/decisions"
    token_re = re.compile(r'name="csrf_token" value="([^"]+)"')
    # 1. a cookie value the attacker chose, with the token the app renders for it
    chosen = "chosen-by-the-attacker"
    page_for_chosen = httpx.get(f"{base}/login", cookies={COOKIE: chosen}).text
    chosen_token = token_re.search(page_for_chosen).group(1)  # type: ignore[union-attr]
    pages["/chosen"] = (f"{COOKIE}={chosen}; Path=/", _forged_page(action, chosen_token))
    # 2. a cookie and token the app issued to the attacker's own client
    issued = httpx.get(f"{base}/login")
    issued_token = token_re.search(issued.text).group(1)  # type: ignore[union-attr]
    issued_cookie = issued.cookies[COOKIE]
    pages["/issued"] = (f"{COOKIE}={issued_cookie}; Path=/", _forged_page(action, issued_token))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/queue")  # the reviewer has the app open (and its cookies)
        _sign_in(page, "ann")
        for path in ("/chosen", "/issued"):
            with page.expect_response(lambda r: r.request.method == "POST") as posted:
                page.goto(f"{evil}{path}")
            assert posted.value.status == 403, path
            assert store.history(aid) == [], path
        # the reviewer's own form still works in the same browser afterwards
        page.goto(f"{base}/alerts/{aid}")
        page.check("input[name=decision][value=confirmed_abuse]")
        page.click("#save-decision")
        expect(page.locator("p.ok")).to_have_text("Decision recorded.")
        browser.close()
    assert [(d["reviewer"], d["decision"]) for d in store.history(aid)] == [
        ("ann", "confirmed_abuse")
    ]
