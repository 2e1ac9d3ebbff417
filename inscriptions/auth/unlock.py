"""The owner's way back in when an account's log-in is locked by someone else's attempts.

The per-account limit (``LOGIN_LIMIT_PER_ACCOUNT``) stops password guessing, but anyone can type
a family's e-mail ten times and lock it. So, the first time the limit is reached in a window,
the account's address gets a link (:func:`send_unlock_link`, once per ``UNLOCK_RESEND`` seconds
whatever the attempts); opening it lets that browser log in to that account despite the limit
(:func:`unlocked_for`), the per-address limit and the password still applying. The link is
signed with the app's secret, bound to the password hash (a password change kills it) and
expires after ``LOGIN_UNLOCK_MAX_AGE`` seconds; nothing is stored but a counter in the rate
limiter's storage (memory or Redis) that keeps the e-mails to one per window.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Account

SALT = "inscriptions.login-unlock"
SESSION_KEY = "login_unlocked"
# One e-mail per account in this many seconds, however many attempts are refused.
UNLOCK_RESEND = 15 * 60


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(account: Account) -> str:
    return hashlib.sha256(b"unlock\x00" + (account.password_hash or "").encode()).hexdigest()[:32]


def make_unlock_token(account: Account) -> str:
    """A link token that lets one browser log in to ``account`` despite the per-account limit."""
    return _serializer().dumps({"a": account.id, "h": _fingerprint(account)})


def account_for_unlock_token(token: str) -> Account | None:
    """The active account ``token`` was made for, or None (forged, expired, password changed)."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["LOGIN_UNLOCK_MAX_AGE"])
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("a"), int) or not isinstance(data.get("h"), str):
        return None
    account = db.session.get(Account, data["a"])
    if account is None or not account.is_active or not hmac.compare_digest(data["h"], _fingerprint(account)):
        return None
    return account


def unlock_browser(account: Account) -> None:
    """This browser may log in to ``account`` despite the per-account limit (its session only)."""
    session[SESSION_KEY] = account.email


def unlocked_for(email: str) -> bool:
    """Whether this browser opened the unlock link of the account ``email`` (any case)."""
    return bool(email) and session.get(SESSION_KEY) == email.strip().lower()


def first_in_window(storage: object, email: str) -> bool:
    """Whether this is the first lock of ``email`` in :data:`UNLOCK_RESEND` seconds (counted in
    the limiter's storage, shared by every worker when it is Redis)."""
    key = "inscriptions-unlock-mail:" + hashlib.sha256(email.encode()).hexdigest()
    return storage.incr(key, UNLOCK_RESEND) == 1  # type: ignore[attr-defined]


def send_unlock_link(account_id: int, link: str) -> int:
    """Job: e-mail the unlock ``link`` to the account; returns how many messages were sent."""
    account = db.session.get(Account, account_id)
    if account is None:
        return 0
    return send_templated("emails/login_unlock", [account.email], link=link,
                          minutes=current_app.config["LOGIN_UNLOCK_MAX_AGE"] // 60)
