"""Jobs recorded in the transaction that made them necessary (the transactional outbox)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db


class OutboxJob(db.Model):
    """One job to run exactly once (see :mod:`inscriptions.outbox`): its path and JSON arguments
    (ids only: nothing personal), when it was handed to the jobs backend, and when it ran."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (Index("ix_outbox_jobs_done_at_id", "done_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(200))
    args: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    relayed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    relays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
