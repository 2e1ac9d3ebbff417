"""API bearer tokens: issued once, kept only as a SHA-256 hash, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from inscriptions import clock
from inscriptions.database import commit_keeping_loaded
from inscriptions.extensions import db
from inscriptions.models import Account, ApiToken, Guardian

PREFIX = "insc_"
# last_used_at is written at most this often per token: a write on every request would put a
# write (and, on SQLite, the database write lock) on the path of every API call.
LAST_USED_EVERY = dt.timedelta(minutes=5)


def hash_token(secret: str) -> str:
    """The stored form of a token. A plain SHA-256 is enough: the secret is 256 random bits."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(account: Account, name: str) -> str:
    """Create a token for ``account`` and return its secret, which is never stored nor shown again."""
    secret = PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(account_id=account.id, name=name.strip()[:100], token_hash=hash_token(secret)))
    db.session.commit()
    return secret


def revoke_tokens(account: Account, name: str | None = None) -> int:
    """Revoke the account's live tokens (only those called ``name`` when given); returns how many."""
    stmt = update(ApiToken).where(ApiToken.account_id == account.id, ApiToken.revoked_at.is_(None))
    if name is not None:
        stmt = stmt.where(ApiToken.name == name)
    count = db.session.execute(stmt.values(revoked_at=clock.utcnow_naive())).rowcount
    db.session.commit()
    return int(count or 0)


def account_for_token(secret: str) -> Account | None:
    """The active account owning the live token ``secret``, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = db.session.execute(
        select(ApiToken, Account)
        .join(Account, Account.id == ApiToken.account_id)
        .where(ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None))
        # What every API call reads next (the household, the permissions) comes in this query.
        .options(joinedload(Account.guardian), joinedload(Account.staff_roles))
    ).unique().first()
    if row is None:
        return None
    token, account = row
    if not account.is_active:
        return None
    now = clock.utcnow_naive()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        token.last_used_at = now
        # The account just read stays loaded (no reload of it on the next attribute read).
        commit_keeping_loaded()
    return account


@dataclass(frozen=True)
class TokenOwner:
    """Who a live token belongs to, read without building the account (the opening-morning send)."""

    account_id: int
    household_id: int | None  # the family's household; None for a staff account


def token_owner(secret: str) -> TokenOwner | None:
    """The active account owning the live token ``secret`` in one small query, or None; checks
    what :func:`account_for_token` checks and records the use the same way, without committing
    (the caller's transaction does: see ``api.views.send_application``)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = db.session.execute(
        select(ApiToken.id, ApiToken.last_used_at, Account.id.label("account_id"), Account.active,
               Guardian.household_id)
        .join(Account, Account.id == ApiToken.account_id)
        .outerjoin(Guardian, Guardian.id == Account.guardian_id)
        .where(ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row.active:
        return None
    now = clock.utcnow_naive()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        db.session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return TokenOwner(row.account_id, row.household_id)
