"""The audit log: who read or changed which family's data, when, and why (append-only).

Rows are only ever inserted (through :func:`inscriptions.audit.log_access`). The ORM refuses to
update or delete one: a staff member whose reads are logged must not be able to rewrite the log
through the application. Removing rows past their retention period is the DPO's purge (a bulk
``DELETE`` by age, issue 5), the only other write this table will ever see.

No foreign keys to households, registrations or accounts: the log must outlive what it talks
about (a household deleted at the family's request still has its access history).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, event, text
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

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
    # The actor's role(s) that gave this access ("agent:cantine", "admin", "parent"; several
    # comma-separated), and the channel it came through (web, api, cli, job): filled by
    # inscriptions.audit.log_access from the request or command it runs in.
    role: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    channel: Mapped[str] = mapped_column(String(10), default="", server_default=text("''"))


class AuditEventHousehold(db.Model):
    """One household an event concerns, when it concerns several (a search, a queue page, an export).

    Written with its event, in the same transaction; the event's ``detail["households"]`` holds the
    same ids (covered by the journal's integrity checks), this table lets each household's history
    find the event. A row goes only with its event (``ON DELETE CASCADE``: the retention purge).
    """

    __tablename__ = "audit_event_households"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("audit_events.id", ondelete="CASCADE"), primary_key=True
    )
    household_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEventHousehold, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: AuditEvent | AuditEventHousehold) -> None:
    raise AppendOnlyError(f"audit event {_event_id(target)} cannot be changed: the audit log is append-only")


@event.listens_for(AuditEvent, "before_delete")
@event.listens_for(AuditEventHousehold, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: AuditEvent | AuditEventHousehold) -> None:
    raise AppendOnlyError(f"audit event {_event_id(target)} cannot be deleted: the audit log is append-only")


def _event_id(target: AuditEvent | AuditEventHousehold) -> int | None:
    return target.event_id if isinstance(target, AuditEventHousehold) else target.id


# Set only inside :func:`retention_purge`: the one code path allowed to delete audit rows.
_PURGE_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("audit_purge_allowed", default=False)


@contextlib.contextmanager
def retention_purge() -> Iterator[None]:
    """Allow the ORM's bulk ``DELETE`` of audit events (and of their seals) for the block.

    Used by :func:`inscriptions.privacy.integrity.purge_journal` alone, on SQLite (rows older than
    the audit log's retention period). Bulk ``UPDATE`` stays refused, and so do ORM updates and
    deletes of single rows, inside the block too. On PostgreSQL the purge goes through the
    database function ``audit_purge()`` instead (migration d5b2f8c0e4a6): the application's role
    may not delete from the journal at all, and no session setting opens the trigger any more.
    """
    token = _PURGE_ALLOWED.set(True)
    try:
        yield
    finally:
        _PURGE_ALLOWED.reset(token)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    # Bulk UPDATE and DELETE statements on the table (``session.execute(...)``) do not go through
    # the mapper events above: refuse them here, except the retention purge's delete.
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is None or mapper.class_ not in (AuditEvent, AuditEventHousehold):
        return
    if state.is_delete and _PURGE_ALLOWED.get():
        return
    raise AppendOnlyError("audit events cannot be changed or deleted: the audit log is append-only")
