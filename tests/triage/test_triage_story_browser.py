"""Every page at a phone's width (390 x 844) in real Chromium: no sideways scrolling.

Screenshots at 1400 px and 390 px of each page go to $CLAIMGUARD_ARTIFACTS/triage-390
(else tmp_path). On the case page the decision form comes before the evidence on a
phone, and a fixed "Decide" button jumps to it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claimguard.triage.store import QueueFilter, Store
from tests.triage.test_triage_browser import ARGS, CHROMIUM, _sign_in, live_app

__all__ = ["live_app"]  # the fixture, shared with the reviewer-session test
pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1400, "height": 900}


def test_every_page_fits_a_phone_and_the_decision_is_reachable(
    live_app: tuple[str, Store], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    root = os.environ.get("CLAIMGUARD_ARTIFACTS")
    shots = Path(root) / "triage-390" if root else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    base, store = live_app
    card = store.queue(QueueFilter(entity_type="card"), page_size=1).rows[0]
    fac = store.queue(QueueFilter(entity_type="facility"), page_size=1).rows[0]
    card_alert = store.alert(card["alert_id"])
    assert card_alert is not None
    claim = card_alert["evidence_claim_ids"][0]
    pages = {
        "queue": "/queue",
        "queue-cards": "/queue?entity_type=card",
        "case-card": f"/alerts/{card['alert_id']}",
        "case-facility": f"/alerts/{fac['alert_id']}",
        "lines": f"/alerts/{card['alert_id']}/claims/{claim}/lines",
        "card": f"/cards/{card['entity_id']}",
        "facility": f"/facilities/{fac['entity_id']}",
        "export": "/export",
        "trends": "/trends",
        "not-found": "/alerts/nope",
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=PHONE)
        page.goto(f"{base}/login")
        wide = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(shots / "login-390.png"), full_page=True)
        assert wide <= 390, f"sign-in page is {wide} px wide"
        _sign_in(page, "sue")
        too_wide = {}
        for name, path in pages.items():
            page.set_viewport_size(DESK)
            page.goto(f"{base}{path}")
            page.screenshot(path=str(shots / f"{name}-1400.png"), full_page=True)
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(50)
            wide = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(shots / f"{name}-390.png"), full_page=True)
            if wide > 390:
                too_wide[name] = wide
        assert not too_wide, f"pages wider than 390 px: {too_wide}"

        # the case page on a phone: reasons, then the decision, then the evidence
        page.goto(f"{base}/alerts/{card['alert_id']}")
        y = {
            sel: page.locator(sel).bounding_box()["y"]  # type: ignore[index]
            for sel in (".reasons-box", "#decision", ".evidence-box")
        }
        assert y[".reasons-box"] < y["#decision"] < y[".evidence-box"], y
        jump = page.locator("#jump-decide")
        assert jump.is_visible()
        jump.click()
        page.wait_for_timeout(100)
        assert page.locator("#save-decision").is_visible()
        assert page.locator("#save-decision").bounding_box()["y"] < 844  # type: ignore[index]
        # charts scale down to the screen
        page.goto(f"{base}/cards/{card['entity_id']}")
        widths = page.eval_on_selector_all(
            "img.chart", "els => els.map(e => e.getBoundingClientRect().right)"
        )
        assert widths and max(widths) <= 390, widths
        page.set_viewport_size(DESK)
        page.goto(f"{base}/alerts/{card['alert_id']}")
        assert not page.locator("#jump-decide").is_visible()  # wide screens: side column
        browser.close()
