"""Password reset by a signed, expiring, single-use link.

The link carries the account id and a fingerprint of the current password hash, signed with the
app's secret (:mod:`itsdangerous`). It expires after ``PASSWORD_RESET_MAX_AGE`` seconds and dies
as soon as it is used, since setting a new password changes the hash it is bound to; nothing is
stored on the server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from flask import current_app
from flask_babel import format_datetime
from itsdangerous import BadSignature, URLSafeTimedSerializer

from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Account

SALT = "inscriptions.password-reset"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(account: Account) -> str:
    # A digest of the hash, not the hash itself: the link may end up in logs or mail archives.
    return hashlib.sha256((account.password_hash or "").encode()).hexdigest()[:32]


def make_reset_token(account: Account) -> str:
    """A reset token for ``account``, valid until it is used or expires."""
    return _serializer().dumps({"a": account.id, "h": _fingerprint(account)})


def dummy_reset_token() -> str:
    """A token for no account: the same work as :func:`make_reset_token`, for equal timing."""
    return _serializer().dumps({"a": 0, "h": "0" * 32})


def account_for_reset_token(token: str) -> Account | None:
    """The active account ``token`` was made for, or None when it is forged, expired or used."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not isinstance(data, dict) or not isinstance(data.get("a"), int) or not isinstance(data.get("h"), str):
        return None
    account = db.session.get(Account, data["a"])
    if account is None or not account.is_active:
        return None
    if not hmac.compare_digest(data["h"], _fingerprint(account)):
        return None
    return account


def send_password_reset(account_id: int, link: str) -> int:
    """Job: e-mail the reset ``link`` to the account; returns how many messages were sent."""
    account = db.session.get(Account, account_id)
    if account is None:
        return 0
    return send_templated("emails/password_reset", [account.email], link=link,
                          minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60)


def send_password_changed(account_id: int, reset_link: str, changed_at: str) -> int:
    """Job: tell the account holder their password was changed at ``changed_at`` (ISO 8601, with
    its offset), with the way back in if it was not them (``reset_link``, the page asking for a
    reset link); returns how many messages were sent.

    Sent after both a change from the account page and a reset by e-mailed link: whoever took
    over an account would otherwise lock its owner out without a trace.
    """
    account = db.session.get(Account, account_id)
    if account is None:
        return 0
    when = format_datetime(dt.datetime.fromisoformat(changed_at), "EEEE d MMMM y, HH:mm")
    return send_templated("emails/password_changed", [account.email], link=reset_link, when=when)
