"""Sign-up confirmed by e-mail, so the sign-up page never tells whether an address has an account.

The sign-up form always ends on the same "check your mailbox" page. The e-mail is what differs:

* a new address gets an expiring link (``SIGNUP_CONFIRM_MAX_AGE`` seconds, 48 hours by default)
  that carries what the form said (names, phone, address, e-mail and the password's *hash*, never
  the password itself), **encrypted and authenticated** (Fernet, key derived from the app's
  secret): a link that leaks into a mail scanner or a proxy log shows nothing; opening it and
  pressing the button creates the household and logs the parent in;
* an address that already has an account gets a message saying so, with links to log in and to
  choose a new password.

Nothing is stored on the server until the link is used. The link works once in effect: when the
account exists, it only offers to log in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Account

SALT = "inscriptions.signup"
DEFAULT_MAX_AGE = 48 * 3600


@dataclass(frozen=True)
class PendingSignup:
    """What the sign-up form said, as carried by the confirmation link."""

    email: str
    password_hash: str
    first_name: str
    last_name: str
    phone: str | None
    address_line1: str
    postcode: str
    city: str


def _fernet() -> Fernet:
    # A key of its own, derived from the app's secret: rotating the secret voids pending links.
    digest = hashlib.sha256(f"{SALT}:{current_app.config['SECRET_KEY']}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def max_age() -> int:
    """Seconds a confirmation link works (setting ``SIGNUP_CONFIRM_MAX_AGE``)."""
    return int(current_app.config.get("SIGNUP_CONFIRM_MAX_AGE") or DEFAULT_MAX_AGE)


def make_signup_token(pending: PendingSignup) -> str:
    """The encrypted, timestamped token of the confirmation link for ``pending``."""
    payload = zlib.compress(json.dumps(asdict(pending), separators=(",", ":")).encode())
    return _fernet().encrypt(payload).decode().rstrip("=")


def pending_signup_for_token(token: str) -> PendingSignup | None:
    """The sign-up ``token`` carries, or None when it is forged, damaged or expired."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(zlib.decompress(_fernet().decrypt(padded.encode(), ttl=max_age())))
    except (InvalidToken, ValueError, zlib.error):  # forged, damaged or expired
        return None
    if not isinstance(data, dict):
        return None
    try:
        pending = PendingSignup(**data)
    except TypeError:
        return None
    required = (pending.email, pending.password_hash, pending.first_name, pending.last_name,
                pending.address_line1, pending.postcode, pending.city)
    if not all(isinstance(value, str) and value for value in required):
        return None
    if pending.phone is not None and not isinstance(pending.phone, str):
        return None
    return pending


def _send(template: str, to: str, **context: object) -> int:
    return send_templated(f"emails/{template}", [to], **context)


def send_signup_confirmation(link: str) -> int:
    """Job: e-mail the link that creates the account; returns how many messages were sent.

    The job's only argument is the link, whose token is encrypted: the queue (Redis in
    production) holds no readable personal data. The address is read back from the token.
    """
    pending = pending_signup_for_token(link.rstrip("/").rsplit("/", 1)[-1])
    if pending is None:  # expired while queued
        return 0
    return _send("signup_confirm", pending.email, link=link, hours=max_age() // 3600)


def send_signup_existing(account_id: int, login_link: str, reset_link: str) -> int:
    """Job: tell the owner of an existing account that someone tried to sign up with it."""
    account = db.session.get(Account, account_id)
    if account is None:
        return 0
    return _send("signup_existing", account.email, login_link=login_link, reset_link=reset_link)
