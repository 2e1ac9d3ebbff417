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

from sqlalchemy import JSON, DateTime, Integer, String, Text, event
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


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    raise AppendOnlyError(f"audit event {target.id} cannot be changed: the audit log is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    raise AppendOnlyError(f"audit event {target.id} cannot be deleted: the audit log is append-only")


# Set only inside :func:`retention_purge`: the one code path allowed to delete audit rows.
_PURGE_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("audit_purge_allowed", default=False)


# PostgreSQL: a trigger (migration f1a2b3c4d5e6) refuses UPDATE and DELETE on audit_events even
# in raw SQL, unless this transaction-local setting is 'on' (DELETE only).
PG_PURGE_SETTING = "inscriptions.audit_purge"


@contextlib.contextmanager
def retention_purge(session: Session | None = None) -> Iterator[None]:
    """Allow a bulk ``DELETE`` of audit events for the duration of the block.

    Used by :func:`inscriptions.privacy.purge.purge` alone (rows older than the audit log's
    retention period). Bulk ``UPDATE`` stays refused, and so do ORM updates and deletes of single
    rows, inside the block too. On PostgreSQL, give the ``session``: the database trigger is
    opened for this transaction only, and closed again at the end of the block.
    """
    from sqlalchemy import text

    postgres = session is not None and session.get_bind().dialect.name == "postgresql"
    token = _PURGE_ALLOWED.set(True)
    try:
        if postgres:
            session.execute(text(f"SET LOCAL {PG_PURGE_SETTING} = 'on'"))  # type: ignore[union-attr]
        yield
        if postgres:
            session.execute(text(f"SET LOCAL {PG_PURGE_SETTING} = 'off'"))  # type: ignore[union-attr]
    finally:
        _PURGE_ALLOWED.reset(token)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    # Bulk UPDATE and DELETE statements on the table (``session.execute(...)``) do not go through
    # the mapper events above: refuse them here, except the retention purge's delete.
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is None or mapper.class_ is not AuditEvent:
        return
    if state.is_delete and _PURGE_ALLOWED.get():
        return
    raise AppendOnlyError("audit events cannot be changed or deleted: the audit log is append-only")
