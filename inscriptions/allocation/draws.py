"""A service's verifiable draw in the database (``allocation: draw``).

The seed is made as soon as the definition asks for a draw (``services sync``), and only its
SHA-256 is shown until the draw: the town cannot pick a seed after seeing who applied. At
``draw_at`` the allocator's first pass draws every application sent until then, web, counter
and paper alike (:func:`make_draw`: each application's ``draw_rank``), then decides them in that
order; applications sent later follow by arrival. ``inscriptions allocation verify SERVICE``
(:func:`verify_draw`) recomputes the order from the revealed seed and the public ids.

The order is :mod:`inscriptions.allocation.draw`'s, which needs nothing but the seed and the
public ids (``LOI-D000437``), so anyone can check it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from inscriptions import clock
from inscriptions.allocation import draw
from inscriptions.definitions.registry import registry, versions_synced
from inscriptions.extensions import db
from inscriptions.models import AllocationDraw, Application, ApplicationStatus, public_number

# How long after ``draw_at`` the draw waits before it is made: a send that started before
# ``draw_at`` commits within this (every write transaction gives up on a lock far sooner), so no
# application sent in time misses the draw.
DRAW_GRACE = dt.timedelta(seconds=10)


def draw_moment(draw_at: dt.datetime) -> dt.datetime:
    """``draw_at`` of a definition (local time) as the database's naive UTC."""
    return clock.as_local_aware(draw_at).astimezone(dt.UTC).replace(tzinfo=None)


def ensure_draw(service_code: str) -> AllocationDraw:
    """The service's draw; the first call makes its secret seed (flushed, not committed)."""
    found = db.session.scalar(select(AllocationDraw).filter_by(service_code=service_code))
    if found is None:
        seed = draw.new_seed()
        found = AllocationDraw(service_code=service_code, algorithm=draw.ALGORITHM, seed=seed,
                               commitment=draw.commitment(seed), applications=0)
        db.session.add(found)
        db.session.flush()
    return found


def ensure_draws(service_codes: list[str]) -> None:
    """Make the seeds of these services' draws, each committed at once (its hash is public from
    then on). Two processes doing it at once: the second finds the first one's."""
    for code in service_codes:
        try:
            ensure_draw(code)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()


@versions_synced.connect
def _seeds(_sender: object, **_: object) -> None:
    # A definition that asks for a draw has its seed (and the published hash) from then on.
    ensure_draws([s.code for s in registry().all() if s.definition.allocation.rule == "draw"])


@dataclass(frozen=True)
class PublishedDraw:
    """What anyone may read of a service's draw: the seed only once drawn."""

    algorithm: str
    commitment: str
    drawn_at: dt.datetime | None
    seed: str | None
    applications: int


def published_draw(service_code: str) -> PublishedDraw | None:
    """The public part of the service's draw (None before its definition was synced)."""
    record = db.session.scalar(select(AllocationDraw).filter_by(service_code=service_code))
    if record is None:
        return None
    drawn = record.drawn_at is not None
    return PublishedDraw(record.algorithm, record.commitment, record.drawn_at,
                         record.seed if drawn else None, record.applications)


def drawn_order(service_code: str, prefix: str) -> list[tuple[int, str]]:
    """``(rank, public id)`` of every drawn application, in drawn order: what is published after
    the draw (no names: the numbers the families were given)."""
    return [(rank, public_number(prefix, number)) for rank, number in db.session.execute(
        select(Application.draw_rank, Application.queue_number)
        .where(Application.service_code == service_code, Application.draw_rank.is_not(None))
        .order_by(Application.draw_rank)
    )]


def make_draw(record: AllocationDraw, prefix: str, draw_at: dt.datetime) -> int:
    """Draw the service's pending applications sent until ``draw_at``: their ``draw_rank`` from
    the seed and their public ids. Call under the service's allocation lock; returns how many."""
    cutoff = draw_moment(draw_at)
    rows = db.session.execute(
        select(Application.id, Application.queue_number)
        .where(Application.service_code == record.service_code, Application.status == ApplicationStatus.PENDING,
               Application.submitted_at <= cutoff, Application.queue_number.is_not(None))
    ).all()
    by_public = {public_number(prefix, row.queue_number): row.id for row in rows}
    order = draw.draw_order(record.seed, by_public)
    if order:
        db.session.execute(update(Application), [
            {"id": by_public[pid], "draw_rank": rank} for pid, rank in draw.ranks(order).items()])
    record.drawn_at = clock.utcnow_naive()
    record.applications = len(order)
    db.session.flush()
    return len(order)


@dataclass(frozen=True)
class Verification:
    """What ``inscriptions allocation verify`` found."""

    ok: bool
    applications: int
    message: str


def verify_draw(service_code: str, prefix: str) -> Verification:
    """Recompute the service's draw from its revealed seed and the drawn applications' public ids,
    and compare with the ranks recorded."""
    record = db.session.scalar(select(AllocationDraw).filter_by(service_code=service_code))
    if record is None:
        return Verification(False, 0, "This service has no draw.")
    if record.drawn_at is None:
        return Verification(False, 0, "The draw has not been made yet: its seed is still secret.")
    rows = db.session.execute(
        select(Application.queue_number, Application.draw_rank)
        .where(Application.service_code == service_code, Application.draw_rank.is_not(None))
        .order_by(Application.draw_rank)
    ).all()
    recorded = [public_number(prefix, row.queue_number) for row in rows]
    if len(recorded) != record.applications:
        return Verification(False, len(recorded), f"{record.applications} applications were drawn, "
                            f"{len(recorded)} still carry a rank.")
    ok = draw.verify(record.seed, record.commitment, recorded, recorded)
    return Verification(ok, len(recorded), "The order recomputed from the seed is the recorded one." if ok
                        else "The order recomputed from the seed differs from the recorded one.")
