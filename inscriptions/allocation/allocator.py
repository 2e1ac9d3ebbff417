"""The allocator: the one writer that turns a service's pending applications into places.

One at a time per service
    Every pass takes the service's allocation lock first: a PostgreSQL advisory lock, held to
    the end of the pass's transaction (``pg_advisory_xact_lock``); on SQLite the write
    transaction (``BEGIN IMMEDIATE``) already serialises every writer. So however many web
    workers, counters or ``inscriptions allocation worker`` processes run, one pass at a time
    decides a service's places, and the others wait (or, for the worker, skip the service).

A batch is one short transaction
    A pass reads up to ``limit`` pending applications in queue order, locks the sessions they
    touch in increasing id order (reading the places held and whether anyone waits in the same
    statement), decides every wish in memory (:mod:`inscriptions.allocation.rules`), then
    writes the registrations, their references (one counter update per prefix), the decisions
    and the applications' new status, and commits. A crash anywhere in the pass rolls it all
    back: the next pass takes the same applications again, in the same order, and nothing is
    allocated twice.

Nothing slow under the lock
    E-mails and letters are queued by the caller after the commit (:func:`notify`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Row, and_, bindparam, exists, func, insert, literal, null, select, text, update

from inscriptions import clock
from inscriptions.allocation import confirmations, draw, draws, priority, rules
from inscriptions.definitions.registry import registry, version_definition
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.extensions import db
from inscriptions.models import (
    AllocationDecision,
    AllocationRun,
    Application,
    ApplicationStatus,
    Outcome,
    Registration,
    ServiceSession,
    Status,
    StatusChange,
    public_number,
)
from inscriptions.registrations import waitlist
from inscriptions.registrations.references import reserve_references
from inscriptions.registrations.status import active_statuses, holding_statuses

RECEIVED_JOB = "inscriptions.notifications:registration_received"


def lock_key(service_code: str) -> int:
    """The service's advisory lock key: a stable signed 64-bit number."""
    digest = hashlib.blake2b(f"inscriptions.allocation:{service_code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def take_lock(service_code: str, *, wait: bool = True) -> bool:
    """Take the service's allocation lock until the current transaction ends.

    ``wait=False`` returns False at once when another pass holds it. On SQLite the write
    transaction already excludes every other writer, so the lock is always granted.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    key = lock_key(service_code)
    if wait:
        db.session.execute(select(func.pg_advisory_xact_lock(key)))
        return True
    return bool(db.session.scalar(select(func.pg_try_advisory_xact_lock(key))))


@dataclass
class Pass:
    """What one pass decided (inside its transaction; read it after the commit too)."""

    run_id: int | None = None
    application_ids: list[int] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    decisions: dict[int, list[rules.WishDecision]] = field(default_factory=dict)
    # Per application: (registration id, status) of the registrations it made, in order.
    registrations: dict[int, list[tuple[int, str]]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """How many applications the pass decided."""
        return len(self.application_ids)


# What a pass reads of each pending application (plain rows: no ORM objects to build and track).
_PENDING_COLUMNS = (
    Application.id, Application.batch, Application.service_code, Application.form_version_id,
    Application.household_id, Application.channel, Application.keyed_by_id, Application.received_on,
    Application.mediation_reason, Application.note, Application.wishes, Application.participants,
    Application.waitlist_together,
)


def decide_pending(service_code: str, *, limit: int | None = None, up_to: int | None = None) -> Pass:
    """Decide the service's pending applications in queue order. Call inside a write transaction
    that holds the service's lock (:func:`take_lock`); nothing is committed here.

    ``up_to``: decide only applications numbered at most this (the worker passes
    :func:`inscriptions.allocation.queue.settled_number`, so an application that took its
    number first but committed a moment later is never overtaken).

    Set-based: a handful of statements whatever the batch's size (the sessions locked and
    counted once, the registrations, their history lines, the decisions and the applications'
    new status each written in one bulk statement).
    """
    started = clock.utcnow_naive()
    service = registry().get(service_code)
    if service is None:
        return Pass()
    order_by: tuple[Any, ...] = (Application.queue_number,)
    rule = service.definition.allocation
    if rule.uses_draw and rule.draw_at is not None:
        if started < draws.draw_moment(rule.draw_at) + draws.DRAW_GRACE:
            return Pass()  # everything waits for the ranking
        record = draws.ensure_draw(service_code)
        if record.drawn_at is None:
            draws.make_draw(record, service.definition)
        # The ranked applications (most points first, then) in their drawn order, then those sent
        # after the ranking by arrival (no points, no rank).
        order_by = (Application.draw_rank.asc().nulls_last(), Application.queue_number)
        if rule.rule == "points":
            order_by = (Application.points.desc().nulls_last(), *order_by)
    stmt = (
        select(*_PENDING_COLUMNS)
        .where(Application.service_code == service_code, Application.status == ApplicationStatus.PENDING)
        .order_by(*order_by)
    )
    if up_to is not None:
        stmt = stmt.where(Application.queue_number <= up_to)
    if limit is not None:
        stmt = stmt.limit(limit)
    apps = db.session.execute(stmt).all()
    result = Pass()
    if not apps:
        return result
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    live = service.definition
    now = clock.now()

    sessions, decided, by_app = _decide(live, apps, now, lock=True)

    run = AllocationRun(service_code=service_code, rule=rule.rule,
                        algorithm=_algorithm(rule.rule),
                        started_at=started, applications=len(apps), decisions=len(decided.decisions))
    db.session.add(run)
    db.session.flush()  # the run's id, for the decisions and the applications
    created = _write_registrations(apps, by_app, sessions, now)
    position = {app.id: n for n, app in enumerate(apps, start=1)}
    decisions = [
        {"run_id": run.id, "application_id": d.application_id, "position": position[d.application_id],
         "wish": d.wish, "session_code": d.session_code, "rank": d.rank, "outcome": d.outcome,
         "reason": d.reason, "places": d.places, "free_before": d.free_before}
        for d in decided.decisions
    ]
    # On PostgreSQL the decisions and the applications' new status are each one statement over
    # arrays, like the registrations (an executemany sends a statement per row, and the ORM's
    # bulk update builds each one in Python); elsewhere an executemany.
    if postgresql:
        db.session.execute(_INSERT_DECISIONS_POSTGRESQL,
                           {name: [row[name] for row in decisions] for name, _type in _DECISION_COLUMNS})
    else:
        db.session.execute(insert(AllocationDecision), decisions)
    decided_at = clock.utcnow_naive()
    # The answers now live in the registrations (or were refused): the queue keeps who and how many.
    kept = [[{"child_id": p.get("child_id"), "guardian_id": p.get("guardian_id"), "places": p.get("places", 1)}
             for p in app.participants] for app in apps]
    if postgresql:
        db.session.execute(_DECIDE_APPLICATIONS_POSTGRESQL, {
            "status": ApplicationStatus.DECIDED, "decided_at": decided_at, "run_id": run.id,
            "ids": [app.id for app in apps], "participants": [json.dumps(people) for people in kept],
        })
    else:
        db.session.execute(update(Application), [
            {"id": app.id, "status": ApplicationStatus.DECIDED, "decided_at": decided_at, "run_id": run.id,
             "participants": people}
            for app, people in zip(apps, kept, strict=True)
        ])
    for code in sorted(decided.to_promote, key=lambda c: sessions[c].id):
        waitlist.promote(sessions[code].id)
    # Everything but the commit: the pass's own time (bench/opening_day.py's allocations_per_s).
    run.finished_at = clock.utcnow_naive()
    db.session.flush()
    result.run_id = run.id
    result.application_ids = [app.id for app in apps]
    result.batches = [app.batch for app in apps]
    result.decisions, result.registrations = dict(by_app), created
    return result


@dataclass(frozen=True)
class TrialLine:
    """One application in a trial ranking: what it would get, never recorded."""

    public_id: str
    points: int | None
    draw_rank: int
    weight: int | None
    decisions: list[rules.WishDecision]


def trial(service_code: str, seed: str) -> list[TrialLine]:
    """What the ranking would decide now, with ``seed`` instead of the service's secret one: the
    pending applications sent so far, ranked and decided in memory against the places free now.
    Reads only (no lock, nothing written): the staff's preview before ``draw_at``, shown as a
    trial; the real order depends on the real seed, revealed at the draw."""
    service = registry().get(service_code)
    if service is None or not service.definition.allocation.uses_draw:
        return []
    defn = service.definition
    rows = draws.to_rank(service_code, clock.utcnow_naive())
    values = draws.rank(defn, seed, rows)
    rows.sort(key=lambda r: (-(values[r.id].get("points") or 0), values[r.id]["draw_rank"]))
    _sessions, _decided, by_app = _decide(defn, rows, clock.now(), lock=False)
    return [TrialLine(public_number(defn.reference_prefix, row.queue_number), values[row.id].get("points"),
                      values[row.id]["draw_rank"], values[row.id].get("draw_weight"), by_app[row.id])
            for row in rows]


def _decide(defn: ServiceDefinition, apps: Sequence[Any], now: dt.datetime, *, lock: bool) -> tuple[
        dict[str, rules.SessionState], rules.Decided, dict[int, list[rules.WishDecision]]]:
    """Decide ``apps`` (in the order given) against the sessions they ask for, read (and locked,
    with ``lock``) now: the sessions' state, the decisions, and the decisions per application."""
    codes = sorted({code for app in apps for wish in app.wishes for code in wish})
    sessions = _lock_sessions(defn.code, codes, now, lock=lock)
    taken, held = _active_keys(defn.code, {a.household_id for a in apps if a.household_id is not None})
    decided = rules.decide(
        [_request(app) for app in apps], sessions,
        rules.Policy(has_sessions=bool(defn.sessions), parent_chooses=defn.waitlist_siblings == "parent_chooses",
                     per_household=defn.limits.per_household),
        taken, held,
    )
    by_app: dict[int, list[rules.WishDecision]] = defaultdict(list)
    for decision in decided.decisions:
        by_app[decision.application_id].append(decision)
    return sessions, decided, by_app


def _algorithm(rule: str) -> str:
    """What decided a pass, recorded with it: the rule's order and the allocation's own version."""
    if rule == "points":
        return f"{rules.ALGORITHM}+{priority.ALGORITHM}+{draw.ALGORITHM}"
    return rules.ALGORITHM if rule == "arrival" else f"{rules.ALGORITHM}+{draw.ALGORITHM}"


def _request(app: Row) -> rules.Request:
    return rules.Request(
        id=app.id,
        household_id=app.household_id or 0,
        people=tuple(rules.Person(p.get("child_id"), p.get("guardian_id"), int(p.get("places", 1)))
                     for p in app.participants),
        wishes=tuple(tuple(w) for w in app.wishes),
        waitlist_together=app.waitlist_together,
    )


def _lock_sessions(service_code: str, codes: list[str], now: dt.datetime, *,
                   lock: bool = True) -> dict[str, rules.SessionState]:
    """Lock the sessions (increasing id order), then read the places held and whether anyone waits.

    Two statements on purpose: a statement reads with the snapshot taken when it starts, so a
    count made in the locking statement itself would miss what the previous holder of the lock
    committed while this one waited for it.
    """
    if not codes:
        return {}
    query = (
        select(ServiceSession.id, ServiceSession.code, ServiceSession.capacity, ServiceSession.starts_at)
        .where(ServiceSession.service_code == service_code, ServiceSession.code.in_(codes))
        .order_by(ServiceSession.id)
    )
    rows = db.session.execute(query.with_for_update() if lock else query).all()
    if not rows:
        return {}
    reg = Registration
    held = (
        select(func.coalesce(func.sum(reg.places), 0))
        .where(reg.session_id == ServiceSession.id, reg.status.in_(holding_statuses()))
        .scalar_subquery()
    )
    waiting = exists().where(and_(reg.session_id == ServiceSession.id, reg.status == Status.WAITLISTED))
    counts = {row.id: (int(row[1] or 0), bool(row[2])) for row in db.session.execute(
        select(ServiceSession.id, held, waiting).where(ServiceSession.id.in_([r.id for r in rows]))
    )}
    return {
        row.code: rules.SessionState(
            code=row.code, id=row.id, capacity=row.capacity, held=counts[row.id][0], waiting=counts[row.id][1],
            started=row.starts_at.replace(tzinfo=dt.UTC) <= now,
        )
        for row in rows
    }


def _active_keys(service_code: str, household_ids: set[int]) -> tuple[set[tuple], dict[int, int]]:
    """:func:`rules.person_key` of every active registration of these households in the service,
    and how many active registrations each household has there."""
    if not household_ids:
        return set(), {}
    # The households written in the statement as numbers (integers only), not bound parameters:
    # the same statement every pass would be prepared by psycopg after five runs, and
    # PostgreSQL's generic plan then searches the hundreds of parameters one by one for every
    # registration of the service it reads (from the tenth pass of a drain, ten times the whole
    # rest of the pass). A statement planned with the numbers hashes them.
    households = bindparam("households", sorted(int(h) for h in household_ids), expanding=True,
                           literal_execute=True)
    rows = db.session.execute(
        select(Registration.household_id, Registration.child_id, Registration.guardian_id, ServiceSession.code)
        .outerjoin(ServiceSession, ServiceSession.id == Registration.session_id)
        .where(Registration.service_code == service_code,
               Registration.household_id.in_(households),
               Registration.status.in_(active_statuses()))
    ).all()
    held: dict[int, int] = defaultdict(int)
    for r in rows:
        held[r.household_id] += 1
    return {(r.household_id, r.child_id, r.guardian_id, r.code) for r in rows}, dict(held)


def _write_registrations(apps: list[Row], by_app: dict[int, list[rules.WishDecision]],
                         sessions: dict[str, rules.SessionState], now: dt.datetime) -> dict[int, list[tuple[int, str]]]:
    """Insert the registrations of the places given and of the waiting entries, with their first
    history line; references are reserved with one counter update per prefix. Returns, per
    application, its registrations' ids and statuses."""
    year = now.astimezone(clock.local_zone()).year
    at = now.astimezone(dt.UTC).replace(tzinfo=None)
    rows: list[dict[str, Any]] = []
    owners: list[tuple[Row, str]] = []  # the application and reference prefix of each row
    for app in apps:
        version = version_definition(app.form_version_id)
        defn = version[1] if version else registry().get(app.service_code).definition  # type: ignore[union-attr]
        placed = Status.ACCEPTED if defn.workflow == "automatic" else Status.SUBMITTED
        for decision in by_app.get(app.id, []):
            if decision.outcome == Outcome.REFUSED:
                continue
            status = placed if decision.outcome == Outcome.ACCEPTED else Status.WAITLISTED
            session_id = sessions[decision.session_code].id if decision.session_code else None
            for person in app.participants:
                rows.append({
                    "service_code": app.service_code, "form_version_id": app.form_version_id,
                    "household_id": app.household_id, "child_id": person.get("child_id"),
                    "guardian_id": person.get("guardian_id"), "session_id": session_id,
                    "places": int(person.get("places", 1)), "answers": person.get("answers", {}),
                    "price": Decimal(str(person.get("price", "0.00"))), "price_unit": person.get("price_unit", ""),
                    "price_detail": list(person.get("price_detail", [])), "channel": app.channel,
                    "keyed_by_id": app.keyed_by_id, "received_on": app.received_on,
                    "mediation_reason": app.mediation_reason, "batch": app.batch, "application_id": app.id,
                    "status": status,
                    # The waiting list is ordered by this moment, then by id (see registrations.waitlist).
                    "waitlisted_at": at if status == Status.WAITLISTED else None,
                    "created_at": at, "updated_at": at,
                })
                owners.append((app, defn.reference_prefix))
    created: dict[int, list[tuple[int, str]]] = {app.id: [] for app in apps}
    if not rows:
        return created
    by_prefix: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row, (_app, prefix) in zip(rows, owners, strict=True):
        by_prefix[prefix].append(row)
    for prefix, group in by_prefix.items():
        for row, reference in zip(group, reserve_references(prefix, year, len(group)), strict=True):
            row["reference"] = reference
    # Not one INSERT ... VALUES of every row: psycopg re-parses a statement that long on every
    # pass, which cost more than the whole rest of the pass. On PostgreSQL one statement over
    # column arrays (below) that also writes the history lines and returns the ids; elsewhere an
    # executemany, then the history lines and the ids in a statement each. The history lines are
    # written from the rows themselves (only this pass has registrations of these applications:
    # they were pending).
    if db.session.get_bind().dialect.name == "postgresql":
        made = db.session.execute(_INSERT_REGISTRATIONS_POSTGRESQL, {
            **{column: [json.dumps(row[column]) if column in _JSON_COLUMNS else row[column] for row in rows]
               for column, _type in _REGISTRATION_COLUMNS},
            "history_at": at,
        }).all()
    else:
        db.session.execute(insert(Registration), rows)
        app_ids = sorted(created)
        db.session.execute(insert(StatusChange).from_select(
            ["registration_id", "from_status", "to_status", "at", "by_id", "reason"],
            select(Registration.id, null(), Registration.status, literal(at, DateTime()), Application.keyed_by_id,
                   func.coalesce(Application.note, ""))
            .join(Application, Application.id == Registration.application_id)
            .where(Registration.application_id.in_(app_ids))
            .order_by(Registration.id)
        ))
        made = db.session.execute(
            select(Registration.id, Registration.application_id, Registration.status)
            .where(Registration.application_id.in_(app_ids)).order_by(Registration.id)
        ).all()
    for reg_id, app_id, status in made:
        created[app_id].append((reg_id, status))
    return created


# A pass's registrations on PostgreSQL: one statement over one array per column (unnest), whatever
# the number of rows; an executemany costs tens of microseconds of Python per row.
_REGISTRATION_COLUMNS = (
    ("service_code", "varchar"), ("form_version_id", "integer"), ("household_id", "integer"),
    ("child_id", "integer"), ("guardian_id", "integer"), ("session_id", "integer"), ("places", "integer"),
    ("answers", "text"), ("price", "numeric"), ("price_unit", "varchar"), ("price_detail", "text"),
    ("channel", "varchar"), ("keyed_by_id", "integer"), ("received_on", "date"), ("mediation_reason", "text"),
    ("batch", "varchar"), ("application_id", "integer"), ("status", "varchar"), ("waitlisted_at", "timestamp"),
    ("created_at", "timestamp"), ("updated_at", "timestamp"), ("reference", "varchar"),
)
_JSON_COLUMNS = frozenset({"answers", "price_detail"})
# Built once from the constant column list above (no outside input reaches it; the values are
# bound parameters, one array each).
_NAMES = ", ".join(name for name, _type in _REGISTRATION_COLUMNS)
_VALUES = ", ".join(f"u.{name}::json" if name in _JSON_COLUMNS else f"u.{name}" for name, _ in _REGISTRATION_COLUMNS)
_ARRAYS = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _REGISTRATION_COLUMNS)
_INSERT_REGISTRATIONS_SQL = (
    # The history lines in the same statement, by registration id as the other databases write
    # them (a separate INSERT ... SELECT, then a query for the ids, cost two more round trips
    # each looking the pass's applications up again); the ids come back by RETURNING.
    f"WITH made AS (INSERT INTO registrations ({_NAMES}) SELECT {_VALUES} FROM unnest({_ARRAYS})"  # noqa: S608
    f" AS u({_NAMES}) RETURNING id, application_id, status),"
    " history AS (INSERT INTO status_changes (registration_id, from_status, to_status, at, by_id, reason)"
    " SELECT made.id, NULL, made.status, CAST(:history_at AS timestamp), a.keyed_by_id, coalesce(a.note, '')"
    " FROM made JOIN applications a ON a.id = made.application_id ORDER BY made.id)"
    " SELECT id, application_id, status FROM made ORDER BY id"
)
_INSERT_REGISTRATIONS_POSTGRESQL = text(_INSERT_REGISTRATIONS_SQL)

# A pass's decisions on PostgreSQL, the same way (the names and types below are the only text
# formatted into the statement).
_DECISION_COLUMNS = (
    ("run_id", "integer"), ("application_id", "integer"), ("position", "integer"), ("wish", "integer"),
    ("session_code", "varchar"), ("rank", "integer"), ("outcome", "varchar"), ("reason", "varchar"),
    ("places", "integer"), ("free_before", "integer"),
)
_DECISION_NAMES = ", ".join(name for name, _type in _DECISION_COLUMNS)
_DECISION_ARRAYS = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _DECISION_COLUMNS)
_INSERT_DECISIONS_SQL = (
    f"INSERT INTO allocation_decisions ({_DECISION_NAMES})"  # noqa: S608
    f" SELECT {_DECISION_NAMES} FROM unnest({_DECISION_ARRAYS}) AS u({_DECISION_NAMES})"
)
_INSERT_DECISIONS_POSTGRESQL = text(_INSERT_DECISIONS_SQL)
# The applications a pass decided: one status, moment and run for all, each its participants
# (who and how many places; JSON text cast here, as for the registrations' answers).
_DECIDE_APPLICATIONS_POSTGRESQL = text(
    "UPDATE applications SET status = :status, decided_at = CAST(:decided_at AS timestamp),"
    " run_id = :run_id, participants = u.participants::json"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:participants AS text[])) AS u(id, participants)"
    " WHERE applications.id = u.id"
)


def notify(decided: Pass) -> None:
    """After a pass's commit: hand its families' confirmations, owed since the decisions
    (:mod:`inscriptions.allocation.confirmations`), and the waiting list's offers to the jobs
    backend."""
    confirmations.hand_over(decided.application_ids)
    waitlist.notify_pending()
