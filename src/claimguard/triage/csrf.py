"""CSRF protection for the triage forms: a server-issued session and a token bound to it.

Why: reviewers are logged into an internal network where any other page they open
could post a forged decision. Cookies do not keep ports apart, so a page served from
another port of the same host can plant a cookie for the app and auto-submit a form
(it is "same-site", so SameSite=Strict does not stop it). Two defences:

* The session cookie is issued by the server only: a random id signed with the store's
  secret (itsdangerous). A value the client chose does not verify and is replaced by a
  fresh one; it is never signed into a form. The form token is an HMAC, with an expiry,
  of that session id under the same secret (another salt), so it is derived from
  server-side material only and belongs to exactly one session.
* A POST must come from the app's own origin. Browsers say where a request comes from
  (``Sec-Fetch-Site``, else ``Origin``); a form posted by a page on another origin —
  another port included — is refused even if it carries a valid pair that the attacker
  fetched from the app for itself and planted. Clients that send neither header are not
  browsers, so they cannot be the victim of a forged form.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer

COOKIE = "cg_csrf"
FIELD = "csrf_token"
MAX_AGE_S = 12 * 3600


class Csrf:
    """Issue server-signed sessions and check the form tokens bound to them."""

    def __init__(self, secret: str) -> None:
        self._cookie = Signer(secret, salt="claimguard-triage-session")
        self._ser = URLSafeTimedSerializer(secret, salt="claimguard-triage-csrf")

    def new_cookie(self) -> str:
        """A fresh session cookie value: a random id signed by the server."""
        return self._cookie.sign(secrets.token_urlsafe(24)).decode()

    def session(self, cookie_value: str | None) -> str | None:
        """The session id in a cookie the server issued, else None (absent or planted)."""
        if not cookie_value:
            return None
        try:
            return self._cookie.unsign(cookie_value).decode()
        except BadSignature:
            return None

    def form_token(self, cookie_value: str) -> str:
        """The value of the hidden form field for this browser's (server-issued) cookie."""
        sid = self.session(cookie_value)
        if sid is None:
            raise ValueError("not a session cookie issued by this server")
        return self._ser.dumps(sid)

    def check(self, cookie_value: str | None, form_value: str | None) -> str | None:
        """None when the pair is valid, else a short reason (for the 403 page)."""
        if not cookie_value:
            return "your browser sent no CSRF cookie (cookies blocked, or the page is stale)"
        sid = self.session(cookie_value)
        if sid is None:
            return "your browser's CSRF cookie was not issued by this server; reload the page"
        if not form_value:
            return "the form carried no CSRF token"
        try:
            unsigned = self._ser.loads(form_value, max_age=MAX_AGE_S)
        except SignatureExpired:
            return "the form expired; reload the page and submit again"
        except BadSignature:
            return "the form's CSRF token is not valid"
        if not isinstance(unsigned, str) or not hmac.compare_digest(unsigned, sid):
            return "the form's CSRF token does not belong to this browser"
        return None


def cross_origin(headers: Mapping[str, str]) -> str | None:
    """A reason when the browser says the request comes from another origin, else None."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site.lower() in ("same-origin", "none"):
            return None
        return f"the form was posted from another site or port (Sec-Fetch-Site: {site[:40]})"
    origin = headers.get("origin")
    if origin is None:
        return None
    host = (headers.get("host") or "").lower()
    if origin != "null" and urlsplit(origin).netloc.lower() == host and host:
        return None
    return "the form was posted from another origin"
