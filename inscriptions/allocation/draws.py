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
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from inscriptions import clock
from inscriptions.allocation import draw, priority
from inscriptions.allocation.facts import application_facts
from inscriptions.definitions.registry import registry, versions_synced
from inscriptions.definitions.schema import ServiceDefinition
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
    ensure_draws([s.code for s in registry().all() if s.definition.allocation.uses_draw])


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


def drawn_count(service_code: str) -> int | None:
    """How many applications the service's draw ranked (None before the draw is made)."""
    record = published_draw(service_code)
    return record.applications if record is not None and record.drawn_at is not None else None


def drawn_order(service_code: str, prefix: str) -> list[tuple[int, str, int]]:
    """``(rank, public id, weight)`` of every drawn application, in drawn order: what is published
    after the draw (no names: the numbers the families were given; the weight is what anyone
    needs to recompute a weighted draw)."""
    return [(rank, public_number(prefix, number), weight or 1) for rank, number, weight in db.session.execute(
        select(Application.draw_rank, Application.queue_number, Application.draw_weight)
        .where(Application.service_code == service_code, Application.draw_rank.is_not(None))
        .order_by(Application.draw_rank)
    )]


def rank(defn: ServiceDefinition, seed: str, rows: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """Each application's ranking values by id: ``draw_rank`` from ``seed``, the public ids and
    the weights, plus ``draw_weight`` (``weights``) and ``points`` / ``points_detail``
    (``rule: points``) from the facts as they are now. ``rows``: applications with ``id``,
    ``queue_number``, ``household_id`` and ``participants``. Reads, never writes."""
    allocation = defn.allocation
    facts = application_facts(defn, rows) if allocation.weights or allocation.criteria else {}
    values: dict[int, dict[str, Any]] = {row.id: {"id": row.id} for row in rows}
    weights: dict[str, int] = {}
    by_public: dict[str, int] = {}
    for row in rows:
        public_id = public_number(defn.reference_prefix, row.queue_number)
        by_public[public_id] = row.id
        if allocation.weights:
            weights[public_id] = priority.weight(allocation.weights, facts[row.id])
            values[row.id]["draw_weight"] = weights[public_id]
        if allocation.rule == "points":
            found = priority.score(allocation.criteria, facts[row.id])
            values[row.id]["points"], values[row.id]["points_detail"] = found.points, found.detail
    order = draw.draw_order(seed, [(pid, weights.get(pid, 1)) for pid in by_public])
    for public_id, drawn in draw.ranks(order).items():
        values[by_public[public_id]]["draw_rank"] = drawn
    return values


def to_rank(service_code: str, cutoff: dt.datetime) -> list[Any]:
    """The service's pending applications sent until ``cutoff`` (naive UTC): those a ranking takes."""
    return list(db.session.execute(
        select(Application.id, Application.queue_number, Application.household_id, Application.participants,
               Application.wishes, Application.waitlist_together)
        .where(Application.service_code == service_code, Application.status == ApplicationStatus.PENDING,
               Application.submitted_at <= cutoff, Application.queue_number.is_not(None))
    ).all())


def make_draw(record: AllocationDraw, defn: ServiceDefinition) -> int:
    """Rank the service's pending applications sent until ``draw_at`` (:func:`rank`, with the
    service's own seed) and record it. Call under the service's allocation lock; returns how
    many applications were drawn."""
    assert defn.allocation.draw_at is not None
    values = rank(defn, record.seed, to_rank(record.service_code, draw_moment(defn.allocation.draw_at)))
    if values and db.session.get_bind().dialect.name == "postgresql":
        # One statement and one JSON document, whatever the number of applications: an
        # executemany of 20,000 rows costs seconds of round trips, and an array of JSON texts
        # seconds of psycopg escaping their quotes one by one.
        db.session.execute(_RANK_POSTGRESQL, {"rows": json.dumps(list(values.values()))})
    elif values:
        db.session.execute(update(Application), list(values.values()))
    record.drawn_at = clock.utcnow_naive()
    record.applications = len(values)
    db.session.flush()
    return len(values)


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
        select(Application.queue_number, Application.draw_rank, Application.draw_weight)
        .where(Application.service_code == service_code, Application.draw_rank.is_not(None))
        .order_by(Application.draw_rank)
    ).all()
    recorded = [public_number(prefix, row.queue_number) for row in rows]
    if len(recorded) != record.applications:
        return Verification(False, len(recorded), f"{record.applications} applications were drawn, "
                            f"{len(recorded)} still carry a rank.")
    entries = [(public_id, row.draw_weight or 1) for public_id, row in zip(recorded, rows, strict=True)]
    ok = draw.verify(record.seed, record.commitment, entries, recorded)
    return Verification(ok, len(recorded), "The order recomputed from the seed is the recorded one." if ok
                        else "The order recomputed from the seed differs from the recorded one.")


# The ranking written on PostgreSQL: the rows as one JSON array of objects.
_RANK_POSTGRESQL = text(
    "UPDATE applications SET draw_rank = u.draw_rank, draw_weight = u.draw_weight, points = u.points,"
    " points_detail = u.points_detail"
    " FROM json_to_recordset(CAST(:rows AS json))"
    " AS u(id integer, draw_rank integer, draw_weight integer, points integer, points_detail json)"
    " WHERE applications.id = u.id"
)
