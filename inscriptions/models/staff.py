"""Staff roles granted to accounts, and API tokens.

Parents are not listed here: an account with a guardian is a parent of that guardian's
household. Staff are accounts with one or more grants; what each role may do is written once,
in :mod:`inscriptions.permissions`.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models.account import Account


class Role(enum.StrEnum):
    AGENT = "agent"  # counter agent of one service: keys in counter, paper, phone and mail bookings
    MANAGER = "manager"  # manager of one service
    ADMIN = "admin"  # the town's IT: every service
    DPO = "dpo"  # data protection officer


# Roles granted for one service; the others are town-wide and carry no service code.
SERVICE_ROLES = (Role.AGENT, Role.MANAGER)


class StaffRole(db.Model):
    """One grant: ``account`` has ``role`` (for ``service_code`` when the role is per service)."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        UniqueConstraint("account_id", "role", "service_code"),
        # A per-service role without its service (or a town-wide one with a service) would be
        # read either as every service or as none: refuse both.
        CheckConstraint(
            "(role IN ('agent', 'manager') AND service_code IS NOT NULL)"
            " OR (role IN ('admin', 'dpo') AND service_code IS NULL)",
            name="role_scope",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    service_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)

    account: Mapped[Account] = relationship()


class ApiToken(db.Model):
    """A bearer token of an account. Only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    account: Mapped[Account] = relationship()
