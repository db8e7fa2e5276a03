"""CSRF protection for the triage forms: a signed double-submit token.

Why: reviewers are logged into an internal network where any other page they open
could post a forged decision. Each browser gets a random token in a SameSite=Strict,
HttpOnly cookie; every form carries that token signed with the store's secret
(itsdangerous, with an expiry). A POST passes only when the form's signed token
unsigns to exactly the cookie's value, so a page on another origin — which can
neither read the cookie nor sign — cannot forge one.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

COOKIE = "cg_csrf"
FIELD = "csrf_token"
MAX_AGE_S = 12 * 3600


class Csrf:
    """Issue and check signed double-submit tokens."""

    def __init__(self, secret: str) -> None:
        self._ser = URLSafeTimedSerializer(secret, salt="claimguard-triage-csrf")

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def form_token(self, cookie_value: str) -> str:
        """The value of the hidden form field for this browser's cookie."""
        return self._ser.dumps(cookie_value)

    def check(self, cookie_value: str | None, form_value: str | None) -> str | None:
        """None when the pair is valid, else a short reason (for the 403 page)."""
        if not cookie_value:
            return "your browser sent no CSRF cookie (cookies blocked, or the page is stale)"
        if not form_value:
            return "the form carried no CSRF token"
        try:
            unsigned = self._ser.loads(form_value, max_age=MAX_AGE_S)
        except SignatureExpired:
            return "the form expired; reload the page and submit again"
        except BadSignature:
            return "the form's CSRF token is not valid"
        if not isinstance(unsigned, str) or not hmac.compare_digest(unsigned, cookie_value):
            return "the form's CSRF token does not belong to this browser"
        return None
