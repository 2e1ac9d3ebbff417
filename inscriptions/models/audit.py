"""The audit log: who read or changed which family's data, when, and why (append-only).

Rows are only ever inserted (through :func:`inscriptions.audit.log_access`). The ORM refuses to
update or delete one: a staff member whose reads are logged must not be able to rewrite the log
through the application. Removing rows past their retention period is the DPO's purge (a bulk
``DELETE`` by age, issue 5), the only other write this table will ever see.

No foreign keys to households, registrations or accounts: the log must outlive what it talks
about (a household deleted at the family's request still has its access history).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db


class AuditEvent(db.Model):
    """One logged action of a staff member on a household's data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive, index=True)
    actor_account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # read_household, read_registration, create_household, update_household, register, search, export...
    action: Mapped[str] = mapped_column(String(40))
    household_id: Mapped[int | None] = mapped_column(Integer, index=True)
    registration_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # The mediation reason given by the agent ("famille au guichet: ..."), empty when none applies.
    reason: Mapped[str] = mapped_column(Text, default="")


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    raise AppendOnlyError(f"audit event {target.id} cannot be changed: the audit log is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    raise AppendOnlyError(f"audit event {target.id} cannot be deleted: the audit log is append-only")
