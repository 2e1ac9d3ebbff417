"""Account look-ups shared by the log-in views and Flask-Login."""

from __future__ import annotations

import hmac
from functools import cache
from urllib.parse import urlsplit

from flask import current_app, session
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from inscriptions import clock
from inscriptions.auth.passwords import hash_password, needs_rehash, verify_password
from inscriptions.digits import is_digits
from inscriptions.extensions import db
from inscriptions.models import Account, Guardian, Household
from inscriptions.models.account import login_fingerprint, session_clock


def load_account(account_id: str) -> Account | None:
    """Flask-Login's user loader: the account, or None when the id is stale, malformed or its
    fingerprint no longer matches.

    ``account_id`` is :meth:`Account.get_id`'s ``"<id>:<fingerprint>"``. The fingerprint follows
    the password hash, so a session or remember-me cookie from before a password change is
    refused; a bare id (no fingerprint) is refused too.

    Runs on every signed-in request: the guardian, household and staff grants that nearly every
    page (and the menu) reads come in the same query instead of three more.
    """
    parsed = parse_login_id(account_id)
    if parsed is None:
        return None
    key, fingerprint, issued = parsed
    account = db.session.get(
        Account, key, options=[joinedload(Account.guardian).joinedload(Guardian.household),
                               joinedload(Account.staff_roles)]
    )
    if account is None or not hmac.compare_digest(fingerprint.encode(), account.login_fingerprint(issued).encode()):
        return None
    account._issued = issued  # type: ignore[attr-defined]  # get_id gives back the same value
    return account


def parse_login_id(value: object) -> tuple[int, str, int] | None:
    """``(account id, fingerprint, issued)`` of a session's or remember-me cookie's user id, or
    None when it is malformed or its log-in is older than ``REMEMBER_COOKIE_DURATION``."""
    if not isinstance(value, str):
        return None
    raw_id, sep, rest = value.partition(":")
    fingerprint, sep2, raw_issued = rest.partition(":")
    if not sep or not sep2 or not fingerprint or not is_digits(raw_id) or len(raw_id) > 12 \
            or not is_digits(raw_issued) or len(raw_issued) > 12:
        return None
    issued = int(raw_issued)
    max_age = current_app.config["REMEMBER_COOKIE_DURATION"]
    # A few minutes ahead are tolerated: servers' clocks may differ that much.
    if not -300 <= session_clock() - issued <= max_age.total_seconds():
        return None
    return int(raw_id), fingerprint, issued


def session_household_id() -> int | None:
    """The household of the family signed in by this request's session cookie, read with one
    small query and without building the account (the opening-morning send, where every
    millisecond of CPU is a family less per second); None when the session holds no valid
    family account (no log-in, a stale fingerprint, a staff account): callers then take
    Flask-Login's usual path (remember-me cookie, log-in page, 403).

    Checks exactly what :func:`load_account` checks: the id and the fingerprint of the password hash.
    """
    parsed = parse_login_id(session.get("_user_id"))
    if parsed is None:
        return None
    account_id, fingerprint, issued = parsed
    # On the session's connection (Core): the ORM session's execute would cost more than the query.
    row = db.session.connection().execute(
        select(Account.password_hash, Account.session_generation, Guardian.household_id)
        .join(Guardian, Guardian.id == Account.guardian_id)
        .where(Account.id == account_id, Account.active.is_(True))
    ).first()
    if row is None or not hmac.compare_digest(
            fingerprint.encode(), login_fingerprint(row.password_hash, row.session_generation, issued).encode()):
        return None
    return int(row.household_id)


def find_account(email: str) -> Account | None:
    """The account whose log-in is ``email``, whatever its case."""
    return db.session.scalar(select(Account).where(func.lower(Account.email) == email.strip().lower()))


@cache
def _dummy_hash() -> str:
    return hash_password("no account has this password")


def authenticate(email: str, password: str) -> Account | None:
    """The active account matching ``email`` and ``password``, or None.

    When the e-mail is unknown a hash is still checked, so the answer takes as long either way
    and response times do not reveal which e-mails have an account. A hash in an earlier format
    is replaced by today's (saved with the log-in, :func:`record_login`): the account's other
    sessions then end, as after a password change (see :meth:`Account.get_id`).
    """
    account = find_account(email)
    if account is None:
        verify_password(_dummy_hash(), password)
        return None
    if not account.check_password(password) or not account.is_active:
        return None
    if needs_rehash(account.password_hash):
        account.set_password(password)
    return account


def record_login(account: Account) -> None:
    account.last_login_at = clock.utcnow_naive()
    db.session.commit()


def create_family_account(
    *,
    email: str,
    password: str | None = None,
    password_hash: str | None = None,
    first_name: str,
    last_name: str,
    phone: str | None,
    address_line1: str,
    postcode: str,
    city: str,
) -> Account:
    """Create the household, its first guardian and the guardian's account, in one transaction.

    Give ``password``, or ``password_hash`` when the password was hashed earlier (a sign-up
    confirmed by e-mail carries only the hash).

    Raises :class:`sqlalchemy.exc.IntegrityError` (nothing saved) when the e-mail is taken by a
    sign-up running at the same moment.
    """
    household = Household(address_line1=address_line1, postcode=postcode, city=city)
    guardian = Guardian(first_name=first_name, last_name=last_name, email=email.lower(), phone=phone)
    # The log-in address: its owner confirmed it by the sign-up link.
    guardian.email_confirmed_at = clock.utcnow_naive()
    household.guardians.append(guardian)
    account = Account(email=email.lower(), guardian=guardian)
    if password_hash is not None:
        account.password_hash = password_hash
    elif password is not None:
        account.set_password(password)
    else:
        raise ValueError("a password or a password hash is needed")
    db.session.add_all([household, account])
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return account


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirect after log-in)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "/\\evil.example" as "//evil.example"; control characters hide tricks too.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
