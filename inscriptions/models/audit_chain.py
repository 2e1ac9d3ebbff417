"""The audit journal's hash chain: one seal per entry, and the purge's checkpoints.

An :class:`AuditSeal` chains one :class:`~inscriptions.models.AuditEvent`: its position in the
chain (``seq``), the previous seal's hash, and the SHA-256 of the previous hash, the position and
a canonical serialisation of the event's columns (listed in ``fields``). The seals are written by
:func:`inscriptions.privacy.integrity.seal`, never changed; the retention purge removes the oldest
ones with their events and records an :class:`AuditCheckpoint`: the last removed seal's position
and hash, from which the kept chain goes on. See :mod:`inscriptions.privacy.integrity`.

Kept apart from ``audit_events`` so that the application's database role only ever *inserts* into
the journal (docs/production.md, "The journal's roles"): a seal is a new row, not an update.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from inscriptions.extensions import db
from inscriptions.models.audit import _PURGE_ALLOWED, AppendOnlyError


class AuditSeal(db.Model):
    """One link of the chain: the hash of one audit event, chained to the previous one."""

    __tablename__ = "audit_seals"

    # Position in the chain, given by the seal (1, 2, 3... continuing after a purge's checkpoint).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The event's columns hashed, comma-separated: a column added later is not part of older seals.
    fields: Mapped[str] = mapped_column(Text)
    sealed_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditCheckpoint(db.Model):
    """Where the chain starts again after a retention purge removed its oldest entries."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The last removed seal: the first kept seal is seq + 1, and its prev_hash is this hash.
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[int] = mapped_column(Integer)
    cutoff: Mapped[dt.datetime] = mapped_column(DateTime)
    # The application's clock, and the database's own (PostgreSQL's now(); SQLite: the real time).
    as_of: Mapped[dt.datetime] = mapped_column(DateTime)
    db_clock: Mapped[dt.datetime] = mapped_column(DateTime)
    retention_months: Mapped[int] = mapped_column(Integer)
    actor_account_id: Mapped[int | None] = mapped_column(Integer)
    # The database role that ran the purge (PostgreSQL's session_user; "sqlite" on SQLite).
    db_user: Mapped[str] = mapped_column(String(63))


@event.listens_for(AuditSeal, "before_update")
@event.listens_for(AuditCheckpoint, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: AuditSeal | AuditCheckpoint) -> None:
    raise AppendOnlyError(f"{target.__tablename__} rows cannot be changed: the journal is append-only")


@event.listens_for(AuditSeal, "before_delete")
@event.listens_for(AuditCheckpoint, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: AuditSeal | AuditCheckpoint) -> None:
    raise AppendOnlyError(f"{target.__tablename__} rows cannot be deleted: the journal is append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    # As for the events (inscriptions.models.audit): only the retention purge deletes seals.
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is None or mapper.class_ not in (AuditSeal, AuditCheckpoint):
        return
    if state.is_delete and mapper.class_ is AuditSeal and _PURGE_ALLOWED.get():
        return
    raise AppendOnlyError("the journal's seals and checkpoints cannot be changed or deleted")
