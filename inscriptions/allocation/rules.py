"""How the allocator decides one batch of applications, in memory (no database access).

The rule (``allocation: arrival``, the default) takes applications in their queue order. For
each wish of an application, the participants are decided together (siblings stay together per
session): the first ranked session that has room for all of them and no waiting list is taken;
otherwise all of them wait, on the first session they ranked that they can still wait for. A
session whose waiting list has started keeps it strictly: later applications queue behind it
even when places look free (those places are being offered to the list).

Kept apart from the database so it can be read, tested and explained on its own; the next rules
(a verifiable draw, priority points) change the order the applications come in, not this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from inscriptions.models import Outcome

ALGORITHM = "arrival/1"

# Reason codes written with each decision; their French wording is in inscriptions.allocation.explain.
FITS = "fits"  # a place was free in the session
NO_SESSIONS = "no_sessions"  # the service has no sessions: no capacity to decide
QUEUE = "queue"  # others already waited for the session: queued behind them
FULL = "full"  # not enough places left for every participant of the wish
NOT_ENOUGH_PLACES = "not_enough_places"  # parent_chooses: fewer people or all wait, the family chooses
STARTED = "started"  # every session of the wish has started
DUPLICATE = "duplicate"  # a participant already holds a place or waits in that session
UNKNOWN_SESSION = "unknown_session"  # no session of the wish is offered any more
LIMIT = "limit"  # the household would hold more registrations than the service allows


@dataclass
class SessionState:
    """A session as the allocator sees it under its lock; updated as decisions are made."""

    code: str
    id: int
    capacity: int
    held: int
    waiting: bool
    started: bool

    @property
    def free(self) -> int:
        return self.capacity - self.held


@dataclass(frozen=True)
class Person:
    child_id: int | None
    guardian_id: int | None
    places: int


@dataclass(frozen=True)
class Request:
    """What the rule needs of one application."""

    id: int
    household_id: int
    people: tuple[Person, ...]
    wishes: tuple[tuple[str, ...], ...]
    waitlist_together: bool = False


@dataclass(frozen=True)
class WishDecision:
    application_id: int
    wish: int
    session_code: str | None
    rank: int | None
    outcome: Outcome
    reason: str
    places: int
    free_before: int | None = None


@dataclass
class Policy:
    """What of the service's definition the rule needs."""

    has_sessions: bool
    parent_chooses: bool = False
    # The definition's limits.per_household: registrations a household may hold in the service.
    per_household: int | None = None


@dataclass
class Decided:
    decisions: list[WishDecision] = field(default_factory=list)
    # Sessions where someone was put on the waiting list while places looked free: places freed
    # but not offered yet, which the waiting list must now offer (in its own order).
    to_promote: set[str] = field(default_factory=set)


def person_key(household_id: int, person: Person, session_code: str | None) -> tuple:
    """Who holds what: the same key for an existing registration and a new decision."""
    return (household_id, person.child_id, person.guardian_id, session_code)


def decide(requests: Iterable[Request], sessions: dict[str, SessionState], policy: Policy,
           taken: set[tuple], held: dict[int, int] | None = None) -> Decided:
    """Decide every wish of ``requests`` in the order given.

    ``sessions`` (by code), ``taken`` (:func:`person_key` of every active registration of the
    households concerned) and ``held`` (how many active registrations each household has in the
    service) are updated as places are given, so the batch is decided as if the applications had
    come one by one. ``held`` matters only with ``policy.per_household``: applications checked
    one by one when they were recorded (or prepared days before) may together go beyond it, and
    the allocator is where they meet.
    """
    result = Decided()
    held = {} if held is None else held
    for request in requests:
        needed = sum(p.places for p in request.people)
        wishes = [()] if not policy.has_sessions else request.wishes
        for number, ranked in enumerate(wishes, start=1):
            registrations = len(request.people)
            if policy.per_household is not None and \
                    held.get(request.household_id, 0) + registrations > policy.per_household:
                decision = WishDecision(request.id, number, None, None, Outcome.REFUSED, LIMIT, needed)
            elif not policy.has_sessions:
                decision = _no_sessions(request, needed, taken)
            else:
                decision = _decide_wish(request, number, ranked, needed, sessions, policy, taken, result.to_promote)
            if decision.outcome != Outcome.REFUSED:
                held[request.household_id] = held.get(request.household_id, 0) + registrations
            result.decisions.append(decision)
    return result


def _no_sessions(request: Request, needed: int, taken: set[tuple]) -> WishDecision:
    keys = [person_key(request.household_id, p, None) for p in request.people]
    if any(k in taken for k in keys):
        return WishDecision(request.id, 1, None, None, Outcome.REFUSED, DUPLICATE, needed)
    taken.update(keys)
    return WishDecision(request.id, 1, None, None, Outcome.ACCEPTED, NO_SESSIONS, needed)


def _decide_wish(request: Request, number: int, ranked: Sequence[str], needed: int,
                 sessions: dict[str, SessionState], policy: Policy, taken: set[tuple],
                 to_promote: set[str]) -> WishDecision:
    candidates: list[tuple[int, SessionState]] = []
    refusal = UNKNOWN_SESSION
    for rank, code in enumerate(ranked, start=1):
        state = sessions.get(code)
        if state is None:
            continue
        if state.started:
            refusal = STARTED
            continue
        if any(person_key(request.household_id, p, code) in taken for p in request.people):
            refusal = DUPLICATE
            continue
        candidates.append((rank, state))
    if not candidates:
        return WishDecision(request.id, number, None, None, Outcome.REFUSED, refusal, needed)

    for rank, state in candidates:
        if not state.waiting and needed <= state.free:
            free = state.free
            state.held += needed
            _take(request, state.code, taken)
            return WishDecision(request.id, number, state.code, rank, Outcome.ACCEPTED, FITS, needed, free)

    rank, state = candidates[0]
    free, queued = state.free, state.waiting
    if (policy.parent_chooses and len(request.people) > 1 and not queued and free > 0
            and not request.waitlist_together):
        # Never split siblings: the family is told how many places are left and chooses.
        return WishDecision(request.id, number, state.code, rank, Outcome.REFUSED, NOT_ENOUGH_PLACES,
                            needed, free)
    if free > 0:
        to_promote.add(state.code)
    state.waiting = True
    _take(request, state.code, taken)
    return WishDecision(request.id, number, state.code, rank, Outcome.WAITLISTED,
                        QUEUE if queued else FULL, needed, free)


def _take(request: Request, code: str, taken: set[tuple]) -> None:
    taken.update(person_key(request.household_id, p, code) for p in request.people)
