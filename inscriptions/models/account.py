"""Log-in accounts. A family account belongs to a guardian; staff accounts have none."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import TYPE_CHECKING

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.auth.passwords import hash_password, verify_password
from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models.household import Guardian, Household

if TYPE_CHECKING:
    from inscriptions.models.staff import StaffRole


class Account(UserMixin, db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: e-mail is the log-in and must be unique whatever the case typed.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL"), unique=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # When ``inscriptions privacy purge`` warned that this inactive account will be deleted
    # (a log-in after it cancels the warning).
    deletion_warned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    guardian: Mapped[Guardian | None] = relationship()
    # Read-only view of the account's grants (written through permissions.grant_role), so the
    # per-request user loader can bring them in its one query.
    staff_roles: Mapped[list[StaffRole]] = relationship(viewonly=True, order_by="StaffRole.id")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login
        """``"<id>:<fingerprint>"``: what the session and the remember-me cookie store.

        Flask-Login's "alternative token": the fingerprint follows the password hash, which has a
        new random salt at every password change, so changing the password ends every other
        session and remember-me cookie of the account (:func:`inscriptions.auth.accounts.load_account`
        refuses a fingerprint that no longer matches). Needs an app context.
        """
        return f"{self.id}:{self.login_fingerprint()}"

    def login_fingerprint(self) -> str:
        """A short keyed digest of the password hash (never the hash itself: it goes into cookies)."""
        return login_fingerprint(self.password_hash)

    @property
    def household(self) -> Household | None:
        return self.guardian.household if self.guardian else None

    def set_password(self, password: str) -> None:
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)


def login_fingerprint(password_hash: str | None) -> str:
    """:meth:`Account.login_fingerprint` of an account whose password hash is ``password_hash``."""
    key = current_app.config["SECRET_KEY"]
    if isinstance(key, str):
        key = key.encode()
    # The prefix keeps this digest apart from any other HMAC of the hash under the same key.
    message = b"inscriptions.login\x00" + (password_hash or "").encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]
