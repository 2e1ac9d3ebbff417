"""Log-in accounts. A family account belongs to a guardian; staff accounts have none."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
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
    # Raised by a log-out, a password change or an administrator's "end all sessions": every
    # session and remember-me cookie issued before then stops working (see get_id).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    guardian: Mapped[Guardian | None] = relationship()
    # Read-only view of the account's grants (written through permissions.grant_role), so the
    # per-request user loader can bring them in its one query.
    staff_roles: Mapped[list[StaffRole]] = relationship(viewonly=True, order_by="StaffRole.id")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login
        """``"<id>:<fingerprint>:<issued>"``: what the session and the remember-me cookie store.

        Flask-Login's "alternative token". ``issued`` is when the log-in happened (Unix seconds);
        the fingerprint is a keyed digest of the password hash, the account's session generation
        and ``issued``. So a password change (a new random salt), a log-out or an administrator's
        "end all sessions" (a new generation) ends every session and remember-me cookie of the
        account, and a cookie older than ``REMEMBER_COOKIE_DURATION`` is refused, however it was
        kept (:func:`inscriptions.auth.accounts.load_account` checks all three). Needs an app
        context.
        """
        issued = getattr(self, "_issued", None)
        if issued is None:
            issued = self._issued = session_clock()
        return f"{self.id}:{self.login_fingerprint(issued)}:{issued}"

    def login_fingerprint(self, issued: int) -> str:
        """A short keyed digest of what ends the account's sessions (never the password hash
        itself: it goes into cookies)."""
        return login_fingerprint(self.password_hash, self.session_generation or 0, issued)

    def end_sessions(self) -> None:
        """End every session and remember-me cookie of this account (flushed with the session's
        next commit)."""
        self.session_generation = (self.session_generation or 0) + 1

    @property
    def household(self) -> Household | None:
        return self.guardian.household if self.guardian else None

    def set_password(self, password: str) -> None:
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)


def session_clock() -> int:
    """Now, in Unix seconds, for the age of log-ins (the machine's clock, not the engine's
    business clock that tests move by months)."""
    return int(time.time())


def login_fingerprint(password_hash: str | None, generation: int, issued: int) -> str:
    """:meth:`Account.login_fingerprint` of an account whose password hash is ``password_hash``
    and session generation ``generation``, for a log-in made at ``issued``."""
    key = current_app.config["SECRET_KEY"]
    if isinstance(key, str):
        key = key.encode()
    # The prefix keeps this digest apart from any other HMAC of the hash under the same key.
    message = b"inscriptions.login\x00" + (password_hash or "").encode() + f"\x00{generation}\x00{issued}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]
