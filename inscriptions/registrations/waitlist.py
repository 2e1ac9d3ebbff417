"""The waiting list of a full session: its order, positions, promotion, offers and their expiry.

Order
    The waitlisted registrations of a session are ordered by the moment they joined the list
    (``waitlisted_at``), then by id. Siblings registered in one action (one ``batch``) are ONE
    entry: they take their position together and are promoted together, or not at all.

Promotion (:func:`promote`)
    Runs inside the transaction that freed places (cancellation, rejection, capacity increase,
    offer declined or expired). Free places are computed from rows (capacity minus places held
    by submitted, accepted and offered registrations), never from a counter. The list is walked
    strictly first in, first out: when the next entry needs more places than are free, the
    walk stops; a smaller entry behind it does NOT jump ahead (a family of three waiting first
    keeps its rank, and gets the places once enough are free). Nothing moves once the session
    has started or the service's registration has closed: entries stay waitlisted.

    The service's ``waiting_list.mode`` says what promotion means: ``offer`` (default) holds the
    places for the entry until a deadline (``offer_hours``, never later than the session start),
    the family accepts or declines; ``automatic`` registers the entry at once (accepted, or
    submitted for services reviewed by hand).

Locks (PostgreSQL; SQLite serialises write transactions with ``BEGIN IMMEDIATE``)
    The session row first (``SELECT ... FOR UPDATE``), then its registrations, always in this
    order; several sessions are locked in increasing id order. Bookings lock the session row
    too, so whoever frees or takes a place of a session holds its lock: two cancellations at the
    same moment run one after the other and never promote the same entry twice.

Notifications
    Promotions are remembered on the database session and handed to the job queue by
    :func:`notify_pending` once the transaction has committed (never while locks are held).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import event, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from inscriptions import clock, outbox
from inscriptions.database import write_transaction
from inscriptions.definitions.registry import registry
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.extensions import db
from inscriptions.models import Registration, ServiceSession, Status
from inscriptions.registrations.status import holding_statuses, record_status

PENDING_KEY = "inscriptions.waitlist.pending"
READY_KEY = "inscriptions.waitlist.ready"
OFFER_JOB = "inscriptions.waitlist_notifications:offer_made"
PROMOTED_JOB = "inscriptions.waitlist_notifications:waitlist_promoted"


class OfferRefused(Exception):
    """The offer cannot be answered; ``str(exc)`` says why, for the family."""


class OfferExpired(OfferRefused):
    """The deadline has passed: the offer is now cancelled and the place went to the next entry."""


@dataclass(frozen=True)
class WaitingEntry:
    """One entry of a waiting list: one registration, or siblings registered together."""

    batch: str
    registrations: tuple[Registration, ...]
    joined_at: dt.datetime

    @property
    def places(self) -> int:
        return sum(r.places for r in self.registrations)

    @property
    def first_id(self) -> int:
        return min(r.id for r in self.registrations)


@dataclass(frozen=True)
class Promotion:
    """Registrations of one entry moved off the waiting list, and to which status."""

    session_id: int
    batch: str
    registration_ids: tuple[int, ...]
    status: str


@dataclass
class ExpirySummary:
    """What :func:`expire_offers` did."""

    expired: list[int] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)

    def lines(self) -> list[str]:
        offered = [p for p in self.promotions if p.status == Status.OFFERED]
        registered = [p for p in self.promotions if p.status != Status.OFFERED]
        return [
            f"expired offers: {len(self.expired)} registration(s)",
            f"new offers: {len(offered)} entr{'y' if len(offered) == 1 else 'ies'} "
            f"({sum(len(p.registration_ids) for p in offered)} registration(s))",
            f"registered from the waiting list: {len(registered)} entr{'y' if len(registered) == 1 else 'ies'} "
            f"({sum(len(p.registration_ids) for p in registered)} registration(s))",
        ]


# -- time helpers ---------------------------------------------------------------------------------

def _aware(value: dt.datetime) -> dt.datetime:
    """A moment stored in the database (naive UTC) as an aware datetime."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def moment_text(value: dt.datetime) -> str:
    """A deadline in words, in the town's time zone: ``jeudi 17 septembre 2026, 08:00``."""
    return format_datetime(_aware(value), "EEEE d MMMM y, HH:mm")


def session_started(session_row: ServiceSession, now: dt.datetime | None = None) -> bool:
    return _aware(session_row.starts_at) <= (now or clock.now())


def _live_definition(service_code: str) -> ServiceDefinition | None:
    """The service's current definition; None when the service is no longer served."""
    service = registry().get(service_code)
    return service.definition if service is not None else None


def can_move(session_row: ServiceSession, defn: ServiceDefinition | None, now: dt.datetime | None = None) -> bool:
    """Whether this session's waiting list may move: not started, registration not closed."""
    now = now or clock.now()
    if defn is None or session_started(session_row, now):
        return False
    return now <= clock.as_local_aware(defn.closing)


# -- locks ------------------------------------------------------------------------------------------

def lock_sessions(session_ids: Iterable[int | None]) -> dict[int, ServiceSession]:
    """Lock session rows ``FOR UPDATE`` one by one in increasing id order (no deadlock cycle)."""
    locked: dict[int, ServiceSession] = {}
    for session_id in sorted({i for i in session_ids if i is not None}):
        row = db.session.scalar(
            select(ServiceSession)
            .where(ServiceSession.id == session_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is not None:
            locked[session_id] = row
    return locked


def lock_registration(registration_id: int) -> tuple[Registration | None, ServiceSession | None]:
    """Lock a registration's session, then the registration itself (the one lock order).

    Returns ``(None, None)`` when the registration does not exist. The values are read fresh
    from the database (``populate_existing``), not from what the session remembered.
    """
    found = db.session.execute(
        select(Registration.session_id).where(Registration.id == registration_id)
    ).first()
    if found is None:
        return None, None
    session_row = lock_sessions([found.session_id]).get(found.session_id) if found.session_id else None
    registration = db.session.scalar(
        select(Registration)
        .where(Registration.id == registration_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return registration, session_row


# -- reading the list -------------------------------------------------------------------------------

def places_held(session_id: int) -> int:
    """Places counted against the capacity: submitted, accepted and offered registrations."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Registration.places), 0)).where(
                Registration.session_id == session_id, Registration.status.in_(holding_statuses())
            )
        )
        or 0
    )


def places_and_queue(session_id: int) -> tuple[int, bool]:
    """:func:`places_held` and whether anyone waits for the session, in one query.

    The booking path reads both under the session's lock: one round trip instead of two keeps
    that lock short.
    """
    held = (
        select(func.coalesce(func.sum(Registration.places), 0))
        .where(Registration.session_id == session_id, Registration.status.in_(holding_statuses()))
        .scalar_subquery()
    )
    waiting = exists().where(Registration.session_id == session_id, Registration.status == Status.WAITLISTED)
    found, anyone = db.session.execute(select(held, waiting)).one()
    return int(found or 0), bool(anyone)


def waiting_entries(session_id: int, *, lock: bool = False, first: int | None = None) -> list[WaitingEntry]:
    """The session's waiting list in order; ``lock`` locks its rows (inside a write transaction).

    ``first``: only the first entries of the list, this many at most. The database picks them
    (entries ordered as below, and as :func:`positions` counts them) and only their
    registrations are read, and locked: after an opening's draw a list holds thousands of
    registrations, which :func:`promote` would otherwise load, each an object, every time a
    place frees.
    """
    stmt = (
        select(Registration)
        .where(Registration.session_id == session_id, Registration.status == Status.WAITLISTED)
        .order_by(Registration.id)
    )
    if first is not None:
        other = aliased(Registration)
        heads = (
            select(other.batch)
            .where(other.session_id == session_id, other.status == Status.WAITLISTED)
            .group_by(other.batch)
            .order_by(func.min(func.coalesce(other.waitlisted_at, other.created_at)), func.min(other.id))
            .limit(first)
        )
        stmt = stmt.where(Registration.batch.in_(heads.scalar_subquery()))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    batches: dict[str, list[Registration]] = {}
    for reg in db.session.scalars(stmt):
        batches.setdefault(reg.batch, []).append(reg)
    entries = [
        WaitingEntry(batch, tuple(regs), min(r.waitlisted_at or r.created_at for r in regs))
        for batch, regs in batches.items()
    ]
    entries.sort(key=lambda e: (e.joined_at, e.first_id))
    return entries


def positions(registrations: Iterable[Registration]) -> dict[int, int]:
    """Waiting-list position (1 = next) of each waitlisted registration given, by id.

    Entries are counted, not people: siblings waiting together are one entry ahead. Ranked by the
    database (one query per session, a window over the session's entries, in the order of
    :func:`waiting_entries`) so a page showing one family's position reads only that family's
    rows, not the whole list (on an opening morning, thousands of entries).
    """
    wanted = [r for r in registrations if r.status == Status.WAITLISTED and r.session_id is not None]
    found: dict[tuple[int, str], int] = {}
    for session_id in sorted({r.session_id for r in wanted if r.session_id is not None}):
        batches = sorted({r.batch for r in wanted if r.session_id == session_id})
        entries = (
            select(
                Registration.batch,
                func.row_number().over(order_by=(
                    func.min(func.coalesce(Registration.waitlisted_at, Registration.created_at)),
                    func.min(Registration.id),
                )).label("position"),
            )
            .where(Registration.session_id == session_id, Registration.status == Status.WAITLISTED)
            .group_by(Registration.batch)
            .subquery()
        )
        for batch, number in db.session.execute(
            select(entries.c.batch, entries.c.position).where(entries.c.batch.in_(batches))
        ):
            found[(session_id, batch)] = int(number)
    return {r.id: found[(r.session_id, r.batch)] for r in wanted if (r.session_id, r.batch) in found}


def position(registration: Registration) -> int | None:
    """The registration's waiting-list position (1 = next), or None when it is not waiting."""
    return positions([registration]).get(registration.id)


def offered_together(registration: Registration) -> list[Registration]:
    """The offered registrations answered with this one (siblings of the same entry), for display."""
    if registration.status != Status.OFFERED:
        return []
    return list(db.session.scalars(
        select(Registration)
        .where(
            Registration.batch == registration.batch,
            Registration.session_id == registration.session_id,
            Registration.status == Status.OFFERED,
        )
        .order_by(Registration.id)
    ))


def offer_overdue(registration: Registration, now: dt.datetime | None = None) -> bool:
    """Whether an offer can no longer be accepted (its deadline passed, even if no job ran yet)."""
    if registration.status != Status.OFFERED:
        return False
    now = now or clock.now()
    if registration.offer_expires_at is not None and _aware(registration.offer_expires_at) <= now:
        return True
    return registration.session is not None and session_started(registration.session, now)


# -- promotion --------------------------------------------------------------------------------------

def promote(session_id: int, *, by_id: int | None = None) -> list[Promotion]:
    """Give the session's free places to its waiting list, in order. Call inside a write transaction.

    Locks the session row (again: it is a no-op when the caller holds it) and the waiting rows it
    reads, the head of the list (whoever changes the list holds the session's lock). Returns
    the promotions made; their families are told by :func:`notify_pending` after commit.
    """
    session_row = lock_sessions([session_id]).get(session_id)
    if session_row is None:
        return []
    defn = _live_definition(session_row.service_code)
    now = clock.now()
    if defn is None or not can_move(session_row, defn, now):
        return []
    free = session_row.capacity - places_held(session_row.id)
    if free <= 0:
        return []
    promotions: list[Promotion] = []
    walking = True
    while walking:
        # Only the head of the list is read: an entry takes at least one place, so at most
        # ``free`` entries can move, and the one after them shows where the walk stops.
        wanted = free + 1
        entries = waiting_entries(session_row.id, lock=True, first=wanted)
        # Read on only when every entry read moved (possible only for entries of no place:
        # ``places: sum_of`` fields answered 0); those promoted have left the list by then.
        walking = len(entries) == wanted
        for entry in entries:
            if entry.places > free:
                # Strictly first in, first out: never skip this entry for a smaller one behind it.
                walking = False
                break
            free -= entry.places
            promotions.append(_move(entry, session_row, defn, now, by_id))
        if walking:
            db.session.flush()
    if promotions:
        db.session.flush()
        db.session().info.setdefault(PENDING_KEY, []).extend(promotions)
        for promotion in promotions:
            # The family's message, recorded with the promotion (inscriptions.outbox).
            outbox.record(OFFER_JOB if promotion.status == Status.OFFERED else PROMOTED_JOB,
                          list(promotion.registration_ids))
    return promotions


def _move(entry: WaitingEntry, session_row: ServiceSession, defn: ServiceDefinition, now: dt.datetime,
          by_id: int | None) -> Promotion:
    """Offer the places to one entry, or register it (the service's ``waiting_list.mode``)."""
    if defn.waiting_list.mode == "offer":
        target = Status.OFFERED
        deadline = min(now + dt.timedelta(hours=defn.waiting_list.offer_hours), _aware(session_row.starts_at))
        reason = _("A place is free: it is offered until %(when)s.", when=moment_text(deadline))
    else:
        target = Status.ACCEPTED if defn.workflow == "automatic" else Status.SUBMITTED
        deadline = None
        reason = _("A place became free: registered from the waiting list.")
    for reg in entry.registrations:
        record_status(reg, target, by_id=by_id, reason=reason)
        reg.offer_expires_at = _naive(deadline) if deadline is not None else None
    return Promotion(session_row.id, entry.batch, tuple(r.id for r in entry.registrations), target)


def promote_sessions(session_ids: Iterable[int]) -> list[Promotion]:
    """:func:`promote` several sessions, locked in increasing id order."""
    ids = sorted(set(session_ids))
    lock_sessions(ids)
    return [p for session_id in ids for p in promote(session_id)]


# Promotions become "ready" only when their transaction commits; a rollback forgets them.
@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        session.info.setdefault(READY_KEY, []).extend(pending)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(PENDING_KEY, None)


def notify_pending() -> list[Promotion]:
    """Hand over the messages of committed promotions, recorded with them (call after the commit,
    outside any lock); returns those promotions.

    Each job re-reads the registrations and writes only about those still in the promoted status.
    """
    ready: list[Promotion] = db.session().info.pop(READY_KEY, None) or []
    outbox.relay_recorded()
    return ready


# -- answering an offer -----------------------------------------------------------------------------

def _offered_batch(registration: Registration) -> list[Registration]:
    """The offered registrations of the registration's entry (siblings answer together), locked."""
    return list(db.session.scalars(
        select(Registration)
        .where(
            Registration.batch == registration.batch,
            Registration.session_id.is_(None)
            if registration.session_id is None
            else Registration.session_id == registration.session_id,
            Registration.status == Status.OFFERED,
        )
        .order_by(Registration.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ))


def _expire(regs: Iterable[Registration]) -> list[int]:
    reason = _("The offer was not answered before its deadline.")
    done = []
    for reg in regs:
        record_status(reg, Status.CANCELLED, by_id=None, reason=reason)
        done.append(reg.id)
    db.session.flush()
    return done


def answer_offer(registration_id: int, *, accept: bool, by_id: int | None) -> list[Registration]:
    """Accept or decline the place offered to a registration and its siblings of the same entry.

    Accepting registers them (accepted, or submitted for services reviewed by hand); declining
    cancels them and offers the places to the next entry. One short write transaction, session
    then registrations locked. An overdue offer is expired right here (cancelled, next entry
    promoted, committed) and :class:`OfferExpired` is raised. Raises :class:`OfferRefused`
    when there is no offer to answer.
    """
    expired = False
    with write_transaction():
        registration, session_row = lock_registration(registration_id)
        if registration is None:
            raise OfferRefused(_("This registration does not exist."))
        if registration.status != Status.OFFERED:
            raise OfferRefused(_("There is no place offered to answer for this registration."))
        batch = _offered_batch(registration)
        if offer_overdue(registration):
            _expire(batch)
            expired = True
        elif accept:
            defn = _live_definition(registration.service_code)
            workflow = defn.workflow if defn is not None else "manual"
            target = Status.ACCEPTED if workflow == "automatic" else Status.SUBMITTED
            for reg in batch:
                record_status(reg, target, by_id=by_id, reason=_("Offer accepted."))
        else:
            for reg in batch:
                record_status(reg, Status.CANCELLED, by_id=by_id, reason=_("Offer declined."))
        db.session.flush()
        if session_row is not None and (expired or not accept):
            promote(session_row.id)
    notify_pending()
    if expired:
        raise OfferExpired(_(
            "The deadline to answer this offer has passed: the place was offered to the next family "
            "on the waiting list."
        ))
    return batch


def accept_offer(registration_id: int, *, by_id: int | None) -> list[Registration]:
    """Accept the offered place (see :func:`answer_offer`)."""
    return answer_offer(registration_id, accept=True, by_id=by_id)


def decline_offer(registration_id: int, *, by_id: int | None) -> list[Registration]:
    """Decline the offered place; the next entry gets it (see :func:`answer_offer`)."""
    return answer_offer(registration_id, accept=False, by_id=by_id)


# -- the periodic job: expiry and a safety sweep ---------------------------------------------------

def expire_offers() -> ExpirySummary:
    """Cancel overdue offers and offer their places to the next entries; idempotent.

    Meant to run every few minutes (``inscriptions waitlist expire`` from cron). One short
    transaction per session. It then sweeps the sessions whose waiting list could move (free
    places, entries waiting) so a place freed by any path is never left unused.
    """
    summary = ExpirySummary()
    now_naive = clock.utcnow_naive()
    overdue_sessions = sorted(set(db.session.scalars(
        select(Registration.session_id)
        .join(ServiceSession, ServiceSession.id == Registration.session_id)
        .where(
            Registration.status == Status.OFFERED,
            # The deadline passed, or the session started (its start moved earlier since the offer).
            or_(Registration.offer_expires_at <= now_naive, ServiceSession.starts_at <= now_naive),
        )
    )))
    for session_id in overdue_sessions:
        with write_transaction():
            lock_sessions([session_id])
            overdue = [
                reg for reg in db.session.scalars(
                    select(Registration)
                    .where(Registration.session_id == session_id, Registration.status == Status.OFFERED)
                    .order_by(Registration.id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
                if offer_overdue(reg)
            ]
            summary.expired += _expire(overdue)
            summary.promotions += promote(session_id)
        notify_pending()
    summary.promotions += sweep()
    return summary


def sweep() -> list[Promotion]:
    """Promote every session whose waiting list can move; cheap unlocked check first."""
    promotions: list[Promotion] = []
    waiting = sorted(set(db.session.scalars(
        select(Registration.session_id).where(
            Registration.status == Status.WAITLISTED, Registration.session_id.is_not(None)
        )
    )))
    for session_id in waiting:
        row = db.session.get(ServiceSession, session_id)
        if row is None or not can_move(row, _live_definition(row.service_code)):
            continue
        if row.capacity - places_held(session_id) <= 0:
            continue
        with write_transaction():
            promotions += promote(session_id)
        notify_pending()
    db.session.commit()
    return promotions
