"""The review workflow of a service: who may move a registration where, and the timed moves.

Which moves exist is the engine's business (:func:`inscriptions.registrations.status.moves_for`);
which staff role may make which of them is the service's (``workflow.transitions`` in its
definition). Every move goes through :func:`inscriptions.registrations.status.transition` (one
short write transaction under the session's lock: capacity checked, waiting list promoted), with
its history line and its audit event committed together; the family is told after the commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, select

from inscriptions import clock, jobs
from inscriptions.audit import log_access
from inscriptions.database import BusyError
from inscriptions.definitions.registry import registry
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.extensions import db
from inscriptions.models import SERVICE_ROLES, Account, Registration, Role, StaffRole, Status, StatusChange
from inscriptions.registrations.status import CapacityError, TransitionError, moves_for, transition

# Audit actions of the back office (the audit log's action column is free text).
CHANGE_STATUS = "change_status"
READ_QUEUE = "read_queue"
NOTIFY_JOB = "inscriptions.backoffice.notify:status_changed"
REASON_MAX = 500
# Moves that need a reason the family will read (in the e-mail or the letter).
REASON_REQUIRED = frozenset({Status.REJECTED})


def staff_roles(account: Account | None, service_code: str) -> set[str]:
    """The roles ``account`` holds for the service: ``agent``, ``manager`` and/or ``admin``."""
    if account is None or not getattr(account, "is_active", False) or not getattr(account, "id", None):
        return set()
    rows = db.session.execute(
        select(StaffRole.role, StaffRole.service_code).where(StaffRole.account_id == account.id)
    ).all()
    roles: set[str] = set()
    for role, code in rows:
        if (role in SERVICE_ROLES and code == service_code) or role == Role.ADMIN:
            roles.add(role)
    return roles


def role_moves(defn: ServiceDefinition, roles: Iterable[str]) -> dict[str, set[str]]:
    """The moves (``from`` → set of ``to``) the given roles may make by hand in this service.

    Without ``workflow.transitions``, agents and managers may make every move the engine allows
    (offers excepted: the waiting list makes them). An administrator may make any move granted to
    a role of the service.
    """
    roles = set(roles)
    if not roles:
        return {}
    possible = moves_for(defn.code)
    rules = defn.workflow_rules
    if rules is None or rules.transitions is None:
        return {src: {t for t in targets if t != Status.OFFERED} for src, targets in possible.items()}
    allowed: dict[str, set[str]] = {}
    for move in rules.transitions:
        if Role.ADMIN in roles or roles & set(move.roles):
            allowed.setdefault(move.from_, set()).update(
                t for t in move.to if t in possible.get(move.from_, set()) and t != Status.OFFERED
            )
    return allowed


def allowed_targets(defn: ServiceDefinition, status: str, roles: Iterable[str]) -> list[str]:
    """Statuses the roles may move a registration in ``status`` to, in a stable order."""
    targets = role_moves(defn, roles).get(status, set())
    return sorted(targets, key=_status_order(defn))


def _status_order(defn: ServiceDefinition):  # type: ignore[no-untyped-def]
    extra = [s.code for s in defn.workflow_rules.statuses] if defn.workflow_rules else []
    order = [Status.ACCEPTED, Status.WAITLISTED, Status.SUBMITTED, *extra, Status.REJECTED, Status.CANCELLED]
    return lambda code: order.index(code) if code in order else len(order)


def all_statuses(defn: ServiceDefinition) -> list[str]:
    """Every status a registration of the service may be in, engine's first."""
    extra = [s.code for s in defn.workflow_rules.statuses] if defn.workflow_rules else []
    return [str(s) for s in Status] + extra


@dataclass
class MoveResult:
    """What happened to one registration of a (bulk) action: ``ok``, or why not."""

    registration_id: int
    reference: str
    ok: bool
    status: str
    message: str = ""


@dataclass
class BulkResult:
    """The per-registration results of an action on several registrations."""

    results: list[MoveResult] = field(default_factory=list)

    @property
    def done(self) -> list[MoveResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[MoveResult]:
        return [r for r in self.results if not r.ok]


class MoveRefused(Exception):
    """The move cannot be made; ``str(exc)`` says why, for the staff member."""


def move(
    registration_id: int, to: str, *, actor: Account | None, roles: Iterable[str], reason: str = "",
    automatic: bool = False, notify: bool = True,
) -> Registration:
    """Move one registration to ``to`` for a staff member holding ``roles`` (or a timed rule).

    Checks the role's right on the move against the status seen, then lets the engine make it
    (capacity, waiting list, history); the audit event is written in the same transaction. The
    family is notified after the commit. Raises :class:`MoveRefused` (nothing saved).
    """
    reason = (reason or "").strip()[:REASON_MAX]
    reg = db.session.get(Registration, registration_id)
    if reg is None:
        raise MoveRefused(_("This registration does not exist."))
    service = registry().get(reg.service_code)
    if service is None:
        raise MoveRefused(_("This service is no longer served."))
    seen = reg.status
    if not automatic and to not in allowed_targets(service.definition, seen, roles):
        raise MoveRefused(_("Your role may not make this change from the current status."))
    if to in REASON_REQUIRED and not reason:
        raise MoveRefused(_("Give a reason: the family will read it."))
    actor_id = actor.id if actor is not None else None

    def audit(changed: Registration) -> None:
        log_access(
            actor_id, CHANGE_STATUS, changed.household_id,
            {"reference": changed.reference, "service": changed.service_code, "from": seen, "to": to,
             "automatic": automatic},
            reason, registration_id=changed.id,
        )

    try:
        reg = transition(registration_id, to, by_id=actor_id, reason=reason, expected_from=seen, on_change=audit)
    except CapacityError as exc:
        db.session.rollback()
        raise MoveRefused(_("No free place left in this session: the registration cannot take one.")) from exc
    except TransitionError as exc:
        db.session.rollback()
        raise MoveRefused(_("The registration changed meanwhile or this change is not possible: reload the page.")) \
            from exc
    except BusyError as exc:
        db.session.rollback()
        raise MoveRefused(_("The service is busy: please try again in a moment.")) from exc
    if notify:
        jobs.enqueue(NOTIFY_JOB, [reg.id], str(to))
    return reg


def move_many(
    registration_ids: Iterable[int], to: str, *, actor: Account | None, roles: Iterable[str], reason: str = "",
    service_code: str,
) -> BulkResult:
    """:func:`move` each registration in turn; each one is saved or refused on its own."""
    result = BulkResult()
    roles = set(roles)
    for reg_id in dict.fromkeys(registration_ids):
        reg = db.session.get(Registration, reg_id)
        if reg is None or reg.service_code != service_code:
            # Never act on (or reveal) another service's registration through a forged id.
            result.results.append(MoveResult(reg_id, "", False, "", _("This registration does not exist.")))
            continue
        reference = reg.reference
        try:
            moved = move(reg_id, to, actor=actor, roles=roles, reason=reason)
            result.results.append(MoveResult(reg_id, reference, True, moved.status))
        except MoveRefused as exc:
            current = db.session.get(Registration, reg_id)
            result.results.append(MoveResult(reg_id, reference, False, current.status if current else "", str(exc)))
    return result


# -- timed moves (``inscriptions workflow run``) ---------------------------------------------------

@dataclass
class RunSummary:
    """What :func:`run_automatic` did: references moved, and those it could not move."""

    moved: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [f"moved: {len(self.moved)} registration(s)"]
        lines += [f"  {ref}" for ref in self.moved]
        if self.refused:
            lines.append(f"not moved: {len(self.refused)} registration(s)")
            lines += [f"  {ref}: {why}" for ref, why in self.refused]
        return lines


def entered_at(registration_ids: list[int], status: str) -> dict[int, dt.datetime]:
    """When each registration last entered ``status`` (from its history; naive UTC)."""
    if not registration_ids:
        return {}
    rows = db.session.execute(
        select(StatusChange.registration_id, func.max(StatusChange.at))
        .where(StatusChange.registration_id.in_(registration_ids), StatusChange.to_status == status)
        .group_by(StatusChange.registration_id)
    ).all()
    return {reg_id: at for reg_id, at in rows}


def run_automatic(now: dt.datetime | None = None) -> RunSummary:
    """Apply every service's timed moves (``workflow.automatic``) that are due; idempotent.

    A registration left in ``from`` for the delay moves to ``to`` (history line without an author,
    audit event, family told). Running it again finds nothing more to do, because the moved
    registrations are no longer in ``from``. Uses the engine's clock.
    """
    now_naive = (now or clock.now()).astimezone(dt.UTC).replace(tzinfo=None)
    summary = RunSummary()
    for service in registry().all():
        rules = service.definition.workflow_rules
        if rules is None:
            continue
        for rule in rules.automatic:
            waiting = list(db.session.execute(
                select(Registration.id, Registration.reference, Registration.created_at).where(
                    Registration.service_code == service.code, Registration.status == rule.from_
                ).order_by(Registration.id)
            ))
            since = entered_at([row.id for row in waiting], rule.from_)
            reason = rule.reason or _("No action within the time allowed: status changed automatically.")
            for row in waiting:
                started = since.get(row.id, row.created_at)
                if started + rule.delay > now_naive:
                    continue
                try:
                    move(row.id, rule.to, actor=None, roles=(), reason=reason, automatic=True)
                    summary.moved.append(row.reference)
                except MoveRefused as exc:
                    summary.refused.append((row.reference, str(exc)))
    db.session.commit()
    return summary
