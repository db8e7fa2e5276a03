"""CSRF attacks on the triage app: cookies planted by a page on another port."""

from __future__ import annotations

from fastapi.testclient import TestClient

from claimguard.triage.csrf import COOKIE
from claimguard.triage.store import Store
from tests.triage.pages import signed_in

from .pages import csrf_token as _token
from .pages import first_alert_id as _alert_id

FORM = {"decision": "confirmed_abuse", "reviewer": "Mallory", "note": "forged"}


def test_a_planted_csrf_cookie_with_its_matching_token_is_refused(
    client: TestClient, store: Store
) -> None:
    aid = _alert_id(store)
    url = f"/alerts/{aid}/decisions"
    # the attacker picks a cookie value and asks the app for the token that "matches" it
    attacker = signed_in(client.app)
    attacker.cookies.set(COOKIE, "chosen-by-the-attacker")
    planted_token = _token(attacker.get(f"/alerts/{aid}").text)
    victim = signed_in(client.app)
    victim.cookies.set(COOKIE, "chosen-by-the-attacker")
    r = victim.post(url, data={**FORM, "csrf_token": planted_token}, follow_redirects=False)
    assert r.status_code == 403, r.text

    # a pair the app really issued (to the attacker), planted in the victim's browser and
    # submitted from a page on another port of the same host
    attacker = signed_in(client.app)
    issued_token = _token(attacker.get(f"/alerts/{aid}").text)
    issued_cookie = attacker.cookies[COOKIE]
    for headers in (
        {"Origin": "http://testserver:8666", "Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver:8666"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        victim = signed_in(client.app)
        victim.cookies.set(COOKIE, issued_cookie)
        r = victim.post(
            url, data={**FORM, "csrf_token": issued_token}, headers=headers, follow_redirects=False
        )
        assert r.status_code == 403, headers
    assert store.history(aid) == []

    # the app's own form, submitted from its own page, is accepted
    own = signed_in(client.app)
    token = _token(own.get(f"/alerts/{aid}").text)
    r = own.post(
        url,
        data={**FORM, "reviewer": "Ann", "csrf_token": token},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert [d["reviewer"] for d in store.history(aid)] == ["sam"]  # the signed-in user


def test_the_csrf_cookie_is_issued_by_the_server(client: TestClient, store: Store) -> None:
    """A cookie value the server did not issue is replaced, never signed into a form."""
    c = signed_in(client.app)
    c.cookies.set(COOKIE, "chosen-by-the-attacker")
    r = c.get(f"/alerts/{_alert_id(store)}")
    assert r.status_code == 200
    fresh = r.cookies.get(COOKIE)
    assert fresh and fresh != "chosen-by-the-attacker"
    assert "chosen-by-the-attacker" not in _token(r.text)
