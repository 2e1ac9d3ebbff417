"""The allocator's rule on hand-built batches (no database): order, siblings, alternatives."""

from __future__ import annotations

from inscriptions.allocation import rules
from inscriptions.allocation.rules import Person, Policy, Request, SessionState, decide
from inscriptions.models import Outcome


def sessions(**capacities: int) -> dict[str, SessionState]:
    return {code: SessionState(code=code, id=n, capacity=cap, held=0, waiting=False, started=False)
            for n, (code, cap) in enumerate(capacities.items(), start=1)}


def kids(household: int, count: int = 1) -> tuple[Person, ...]:
    return tuple(Person(child_id=household * 10 + i, guardian_id=None, places=1) for i in range(count))


def request(number: int, *wishes: tuple[str, ...], children: int = 1, together: bool = False) -> Request:
    return Request(id=number, household_id=number, people=kids(number, children), wishes=wishes,
                   waitlist_together=together)


POLICY = Policy(has_sessions=True)


def outcomes(decided: rules.Decided) -> list[tuple[int, int, str | None, str, str]]:
    return [(d.application_id, d.wish, d.session_code, d.outcome, d.reason) for d in decided.decisions]


def test_arrival_order_fills_then_waits_and_later_ones_queue_behind() -> None:
    state = sessions(a=2)
    decided = decide([request(1, ("a",)), request(2, ("a",), children=2), request(3, ("a",))], state, POLICY, set())
    assert outcomes(decided) == [
        (1, 1, "a", Outcome.ACCEPTED, rules.FITS),
        # Two siblings, one place left: both wait (never split)...
        (2, 1, "a", Outcome.WAITLISTED, rules.FULL),
        # ...and the next family queues behind them even though one place looks free.
        (3, 1, "a", Outcome.WAITLISTED, rules.QUEUE),
    ]
    assert state["a"].held == 1
    assert decided.to_promote == {"a"}  # that free place goes to the list's head, in its order


def test_several_sessions_are_decided_each_on_its_own_siblings_together_in_each() -> None:
    state = sessions(w1=2, w2=3, w3=1)
    decided = decide([request(1, ("w1",), ("w2",), ("w3",), children=2)], state, POLICY, set())
    assert outcomes(decided) == [
        (1, 1, "w1", Outcome.ACCEPTED, rules.FITS),
        (1, 2, "w2", Outcome.ACCEPTED, rules.FITS),
        (1, 3, "w3", Outcome.WAITLISTED, rules.FULL),
    ]
    assert [d.free_before for d in decided.decisions] == [2, 3, 1]


def test_ranked_alternative_taken_when_the_first_choice_is_full_else_wait_on_the_first() -> None:
    state = sessions(tue=1, thu=1)
    decided = decide([request(n, ("tue", "thu")) for n in (1, 2, 3)], state, POLICY, set())
    assert [(d.session_code, d.rank, d.outcome) for d in decided.decisions] == [
        ("tue", 1, Outcome.ACCEPTED),
        ("thu", 2, Outcome.ACCEPTED),
        ("tue", 1, Outcome.WAITLISTED),
    ]


def test_alternative_skips_a_session_with_a_waiting_list() -> None:
    state = sessions(tue=5, thu=5)
    state["tue"].waiting = True  # people already wait for Tuesday: its free places are theirs
    [decision] = decide([request(1, ("tue", "thu"))], state, POLICY, set()).decisions
    assert (decision.session_code, decision.rank, decision.outcome) == ("thu", 2, Outcome.ACCEPTED)


def test_parent_chooses_refuses_with_the_places_left_unless_they_agreed_to_wait_together() -> None:
    policy = Policy(has_sessions=True, parent_chooses=True)
    [refused] = decide([request(1, ("a",), children=3)], sessions(a=2), policy, set()).decisions
    assert (refused.outcome, refused.reason, refused.free_before) == (Outcome.REFUSED, rules.NOT_ENOUGH_PLACES, 2)
    [waits] = decide([request(1, ("a",), children=3, together=True)], sessions(a=2), policy, set()).decisions
    assert waits.outcome == Outcome.WAITLISTED


def test_a_participant_already_in_a_session_is_not_placed_twice() -> None:
    state = sessions(a=5, b=5)
    taken = {rules.person_key(1, kids(1)[0], "a")}
    decided = decide([request(1, ("a",)), request(1, ("a", "b"))], state, POLICY, taken)
    assert [(d.session_code, d.outcome, d.reason) for d in decided.decisions] == [
        (None, Outcome.REFUSED, rules.DUPLICATE),
        ("b", Outcome.ACCEPTED, rules.FITS),
    ]
    # Within one batch too: the same child sent twice gets one place.
    again = decide([request(7, ("a",)), request(7, ("a",))], sessions(a=5), POLICY, set())
    assert [d.outcome for d in again.decisions] == [Outcome.ACCEPTED, Outcome.REFUSED]


def test_started_sessions_are_refused_and_services_without_sessions_accept() -> None:
    state = sessions(a=5)
    state["a"].started = True
    [decision] = decide([request(1, ("a",))], state, POLICY, set()).decisions
    assert (decision.outcome, decision.reason) == (Outcome.REFUSED, rules.STARTED)
    [open_] = decide([request(2)], {}, Policy(has_sessions=False), set()).decisions
    assert (open_.outcome, open_.reason, open_.session_code) == (Outcome.ACCEPTED, rules.NO_SESSIONS, None)


def test_household_limit_counts_what_the_batch_gives_and_what_is_held() -> None:
    """``per_household``: applications checked one by one when recorded meet at the allocator."""
    policy = Policy(has_sessions=True, per_household=2)
    state = sessions(w1=10, w2=10, w3=10)
    same = [Request(id=n, household_id=7, people=kids(7), wishes=wishes) for n, wishes in
            ((1, (("w1",),)), (2, (("w2",), ("w3",))))]
    decided = decide(same, state, policy, set(), {7: 1})
    assert outcomes(decided) == [
        (1, 1, "w1", Outcome.ACCEPTED, rules.FITS),
        (2, 1, None, Outcome.REFUSED, rules.LIMIT),  # 1 held + 1 given: the limit is reached
        (2, 2, None, Outcome.REFUSED, rules.LIMIT),
    ]
    # Waiting counts as holding; a refused wish does not.
    full = sessions(w1=0, w2=10)
    decided = decide([Request(id=3, household_id=8, people=kids(8, 2), wishes=(("w1",), ("w2",)))], full,
                     policy, set(), {})
    assert [(d.outcome, d.reason) for d in decided.decisions] == [
        (Outcome.WAITLISTED, rules.FULL), (Outcome.REFUSED, rules.LIMIT)]
    # Another household is not concerned; no limit, no refusal.
    assert outcomes(decide([request(9, ("w1",), ("w2",))], sessions(w1=5, w2=5), policy, set(), {7: 2}))[1][3] \
        == Outcome.ACCEPTED
    assert all(d.outcome == Outcome.ACCEPTED for d in decide(same, sessions(w1=5, w2=5, w3=5), POLICY, set(),
                                                               {7: 5}).decisions)
