"""Applications (what a family asks for), the allocator's runs and the decisions they made.

An application is recorded by every channel through ``create_registrations()``; places are
then decided by the service's allocator (:mod:`inscriptions.allocation`), which turns each wish
of the application into registrations (accepted, submitted for review, or waitlisted) or a
refusal, and writes one :class:`AllocationDecision` per wish so staff and the family can see why.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db


class ApplicationStatus(enum.StrEnum):
    # Validated before opening, kept until the family sends it (no queue number yet).
    PREPARED = "prepared"
    # In the queue: waiting for the allocator.
    PENDING = "pending"
    # The allocator decided every wish (see its decisions and registrations).
    DECIDED = "decided"


class Application(db.Model):
    """One request of one household to one service, whatever the channel.

    ``wishes`` is what is asked, shared by every participant of the application (siblings stay
    together per session): a list of wishes, each a ranked list of session codes (rank 1 first),
    e.g. ``[["juil-1"], ["juil-2"]]`` for two weeks, ``[["mar-17h", "jeu-17h"]]`` for a slot
    with an alternative; ``[]`` for a service without sessions. ``participants`` holds, per
    person, who they are and what the validated answers give (answers, places, price): the
    allocator copies it into the registrations, then keeps only who and how many places.
    """

    __tablename__ = "applications"
    __table_args__ = (
        # The allocator's one read: a service's pending applications in queue order.
        Index("ix_applications_service_status_queue", "service_code", "status", "queue_number"),
        # The confirmations' sweep: decided applications whose family was not told yet.
        Index("ix_applications_notified_at", "notified_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Shared with the registrations the application produced (and the draft / submission key that
    # made it): replays and confirmation pages find it by this value.
    batch: Mapped[str] = mapped_column(String(32), unique=True)
    service_code: Mapped[str] = mapped_column(String(40))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    # None once anonymised with its registrations.
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    keyed_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    received_on: Mapped[dt.date | None] = mapped_column(Date)
    mediation_reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    wishes: Mapped[list] = mapped_column(JSON, default=list)
    participants: Mapped[list] = mapped_column(JSON, default=list)
    # ``waitlist_siblings: parent_chooses``: the family agreed to wait together rather than fewer.
    waitlist_together: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10))
    # Arrival order, across services (one counter): the allocator takes applications by it.
    # None while prepared (not sent yet).
    queue_number: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Prepared applications: the earliest moment they may be sent (opening, or the family's
    # priority window), and the web draft they were prepared from.
    opens_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # When the family's confirmation of the decision was sent (inscriptions.allocation.confirmations):
    # a decided application without it is a message still owed, whatever died since the decision.
    notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("allocation_runs.id"), index=True)
    # ``allocation: draw``: the application's rank in the service's draw (1 first), set when the
    # draw is made; None for applications sent after it (they follow by arrival).
    draw_rank: Mapped[int | None] = mapped_column(Integer)
    # ``weights``: the tickets the application held in the draw (None: one), recorded so the draw
    # can be recomputed as it was made.
    draw_weight: Mapped[int | None] = mapped_column(Integer)
    # ``allocation: points``: the application's points at the ranking, and every criterion with
    # whether it was met (``[{"code", "label", "points", "met"}]``), what the family is shown.
    points: Mapped[int | None] = mapped_column(Integer)
    points_detail: Mapped[list | None] = mapped_column(JSON)

    decisions: Mapped[list[AllocationDecision]] = relationship(
        back_populates="application", order_by="AllocationDecision.id", cascade="all, delete-orphan"
    )

    def public_id(self, prefix: str) -> str:
        """The number safe to publish and to quote on the phone, e.g. ``LOI-D000437`` ("" before
        the application is sent)."""
        return public_number(prefix, self.queue_number) if self.queue_number is not None else ""


def public_number(prefix: str, queue_number: int) -> str:
    """An application's public number from its service's prefix and its queue number (what
    :meth:`Application.public_id` gives, for code that reads plain columns)."""
    return f"{prefix}-D{queue_number:06d}"


class AllocationRun(db.Model):
    """One pass of a service's allocator over a batch of pending applications."""

    __tablename__ = "allocation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(String(40), index=True)
    rule: Mapped[str] = mapped_column(String(20))
    # The algorithm's name and version, so a decision can be explained as it was made.
    algorithm: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    applications: Mapped[int] = mapped_column(Integer, default=0)
    decisions: Mapped[int] = mapped_column(Integer, default=0)


class AllocationDraw(db.Model):
    """A service's verifiable draw (``allocation: draw``): the seed, committed to by its SHA-256
    (published from opening) and revealed once drawn, and when it was drawn. The order itself is
    each application's ``draw_rank``, recomputable from the seed and the public ids."""

    __tablename__ = "allocation_draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(String(40), unique=True)
    algorithm: Mapped[str] = mapped_column(String(40))
    commitment: Mapped[str] = mapped_column(String(64))
    # Secret until ``drawn_at``: shown to no one before (the public page shows the commitment).
    seed: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    drawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    applications: Mapped[int] = mapped_column(Integer, default=0)


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"  # a place (accepted, or submitted for review in manual services)
    WAITLISTED = "waitlisted"
    REFUSED = "refused"


class AllocationDecision(db.Model):
    """What the allocator decided for one wish of one application, and why (``reason`` code)."""

    __tablename__ = "allocation_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("allocation_runs.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    # Position of the application in the run (1 = decided first).
    position: Mapped[int] = mapped_column(Integer)
    wish: Mapped[int] = mapped_column(Integer)
    # The session obtained or waited for (None: no sessions, or refused), and its rank in the wish.
    session_code: Mapped[str | None] = mapped_column(String(40))
    rank: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(30))
    places: Mapped[int] = mapped_column(Integer, default=0)
    # Places free in the session just before this decision (the figure the reason refers to).
    free_before: Mapped[int | None] = mapped_column(Integer)

    application: Mapped[Application] = relationship(back_populates="decisions")
    run: Mapped[AllocationRun] = relationship()
