"""The Trends pages over a monitor folder: index, facility, province, fund, charts."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from claimguard.features.monthly import tidy_indicators
from claimguard.scoring.monitor import MonitorResult, write_monitor_folder
from claimguard.scoring.warnings import find_warnings
from claimguard.settings import MonitorSettings
from claimguard.triage.app import create_app
from claimguard.triage.store import Store
from tests.scoring.monitor_frames import DRIFTING, monthly_sums
from tests.triage.pages import signed_in


def write_monitor_sample(out: Path) -> Path:
    """A monitor folder from the hand-made sums (one drifting facility)."""
    sums, fac = monthly_sums()
    ind = tidy_indicators(sums, fac)
    write_monitor_folder(MonitorResult(ind, find_warnings(ind, MonitorSettings())), out)
    return out


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    store = Store.open(f"sqlite:///{tmp_path / 'triage.db'}")
    app = create_app(store, trends_dir=write_monitor_sample(tmp_path / "monitor"))
    return signed_in(app, "rita")


def test_trends_index_lists_the_warned_facility(client: TestClient) -> None:
    r = client.get("/trends")
    assert r.status_code == 200
    assert f"/trends/facility/{DRIFTING}" in r.text
    assert "admissions per visit (mix-adjusted) up" in r.text


def test_facility_page_shows_its_warning_and_charts(client: TestClient) -> None:
    r = client.get(f"/trends/facility/{DRIFTING}")
    assert r.status_code == 200
    assert 'class="warning"' in r.text and "same-tier peers" in r.text
    assert f"/trends/chart/facility/admission_rate.svg?entity={DRIFTING}" in r.text
    svg = client.get(f"/trends/chart/facility/admission_rate.svg?entity={DRIFTING}")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content and b"d62728" in svg.content  # the warned months in red


def test_province_and_fund_pages(client: TestClient) -> None:
    r = client.get("/trends/province/01")
    assert r.status_code == 200 and f"/trends/facility/{DRIFTING}" in r.text
    assert client.get("/trends/fund").status_code == 200


def test_trends_need_a_signed_in_user(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'triage.db'}")
    anonymous = TestClient(create_app(store, trends_dir=write_monitor_sample(tmp_path / "m")))
    for path in ("/trends", f"/trends/facility/{DRIFTING}", "/trends/fund"):
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code in (303, 401) and "/trends" not in r.headers.get("content", "")


def test_unknown_entities_and_charts_are_404(client: TestClient) -> None:
    assert client.get("/trends/facility/NOPE").status_code == 404
    assert client.get("/trends/chart/facility/nope.svg?entity=F000").status_code == 404
    assert client.get("/trends/chart/galaxy/admission_rate.svg?entity=F000").status_code == 404


def test_without_a_monitor_folder_the_page_says_how_to_get_one(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'triage.db'}")
    c = signed_in(create_app(store), "rita")
    r = c.get("/trends")
    assert r.status_code == 200 and "claimguard monitor" in r.text
    assert c.get(f"/trends/facility/{DRIFTING}").status_code == 404
