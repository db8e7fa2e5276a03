"""The Trends page of a drifting facility in real headless Chromium, at a phone's width.

Reached from the facility's alert page; the warning sentence and the warned chart must be
visible. Screenshots go to ``$CLAIMGUARD_ARTIFACTS/triage`` (else tmp_path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from claimguard.triage.app import create_app
from claimguard.triage.auth import add_user
from claimguard.triage.load import load_folder
from claimguard.triage.sample import write_sample_folder
from claimguard.triage.store import Store
from tests.scoring.monitor_frames import DRIFTING
from tests.triage.pages import served
from tests.triage.test_triage_browser import ARGS, CHROMIUM
from tests.triage.test_triage_trends import write_monitor_sample

PASSWORD = "correct horse battery"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "scored"
    write_sample_folder(folder, n_cards=10, n_facilities=4, seed=5)
    # the sample's first facility alert is the drifting facility of the monitor sample
    alerts = pd.read_parquet(folder / "alerts.parquet")
    first = alerts.index[alerts["entity_type"] == "facility"][0]
    alerts.loc[first, "entity_id"] = DRIFTING
    alerts.to_parquet(folder / "alerts.parquet", index=False)
    store = Store.open(f"sqlite:///{tmp_path / 'triage.db'}")
    load_folder(store, folder)
    add_user(store, "rita", PASSWORD, "reviewer")
    with served(create_app(store, trends_dir=write_monitor_sample(tmp_path / "monitor"))) as base:
        yield base
    store.close()


def test_trends_page_of_a_drifting_facility_shows_the_warning(live: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium; .ci/run does)")
    from playwright.sync_api import expect, sync_playwright

    root = os.environ.get("CLAIMGUARD_ARTIFACTS")
    shots = Path(root) / "trends" if root else tmp_path / "screenshots"  # its own folder
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live}/queue?entity_type=facility")  # sent to sign in first
        page.fill("#username", "rita")
        page.fill("#password", PASSWORD)
        page.click("#sign-in")
        page.wait_for_selector("#whoami")
        page.goto(f"{live}/queue?entity_type=facility")
        page.locator("a.alert-link", has_text=DRIFTING).first.click()
        page.click("#trends-link")
        page.wait_for_url(f"**/trends/facility/{DRIFTING}")
        rows = page.locator("#warnings li.warning")
        expect(rows.first).to_contain_text("admissions per visit (mix-adjusted) up")
        expect(rows.first).to_contain_text("same-tier peers")
        chart = page.locator("#chart-admission_rate")
        expect(chart).to_have_class("warned")
        expect(chart.locator("figcaption")).to_contain_text("warned")
        img = chart.locator("img")
        img.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=img.element_handle()
        )
        box = img.bounding_box()
        assert box is not None and box["width"] <= 390
        # no sideways scrolling at a phone's width
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(shots / "trends-drifting-facility.png"), full_page=True)
        assert not errors, errors
        browser.close()
    assert (shots / "trends-drifting-facility.png").stat().st_size > 0
