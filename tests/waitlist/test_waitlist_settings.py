"""The waiting_list and cancellation settings, and the cancellation deadline they set."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from flask_babel import gettext
from waitlist_helpers import SERVICES, fresh, service, statuses, write_services

from inscriptions.definitions.loader import load_services
from inscriptions.definitions.registry import registry
from inscriptions.models import Status
from inscriptions.registrations import waitlist
from inscriptions.registrations.cancel import (
    CancellationRefused,
    can_cancel,
    cancel_registration,
    cancellation_deadline,
)

BAD = [
    ("unknown mode", {"waiting_list": {"mode": "lottery"}}, "waiting_list.mode", "one of 'offer' or 'automatic'"),
    ("offer_hours too small", {"waiting_list": {"offer_hours": 0}}, "waiting_list.offer_hours",
     "greater than or equal to 1"),
    ("offer_hours too large", {"waiting_list": {"offer_hours": 721}}, "waiting_list.offer_hours",
     "less than or equal to 720"),
    ("misspelt setting", {"waiting_list": {"ofer_hours": 5}}, "waiting_list.ofer_hours", "unknown setting"),
    ("negative deadline", {"cancellation": {"until_hours_before_start": -1}},
     "cancellation.until_hours_before_start", "greater than or equal to 0"),
    ("deadline in words", {"cancellation": {"until_hours_before_start": "deux jours"}},
     "cancellation.until_hours_before_start", "valid integer"),
    ("deadline without sessions", {"sessions": [], "cancellation": {"until_hours_before_start": 24}},
     "cancellation.until_hours_before_start", "only applies to services with sessions"),
]


@pytest.mark.parametrize(("case", "change", "where", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_settings_are_explained(tmp_path: Path, case: str, change: dict[str, Any], where: str,
                                    words: str) -> None:
    write_services(tmp_path, {"stage": service("stage", "STG", **change)})
    services, problems = load_services(tmp_path)
    assert services == {}, case
    assert [p.path for p in problems] == [where], [str(p) for p in problems]
    assert words in problems[0].message


def test_defaults_and_given_values(app: Any) -> None:
    stage = registry().get("stage").definition
    assert (stage.waiting_list.mode, stage.waiting_list.offer_hours) == ("offer", 48)
    assert (stage.cancellation.allowed, stage.cancellation.until_hours_before_start) == (True, 48)
    revue = registry().get("revue").definition
    assert (revue.waiting_list.mode, revue.waiting_list.offer_hours) == ("offer", 24)
    assert revue.cancellation.until_hours_before_start is None
    assert registry().get("auto").definition.waiting_list.mode == "automatic"


# -- the cancellation deadline --------------------------------------------------------------------

def test_cancellation_closes_hours_before_the_start(make_household, book, frozen_clock) -> None:
    [reg_id] = book(make_household()).registration_ids
    deadline = cancellation_deadline(fresh(reg_id))
    # s1 starts 2026-10-01 10:00 in Paris (08:00 UTC); 48 hours before.
    assert deadline == dt.datetime(2026, 9, 29, 8, 0, tzinfo=dt.UTC)

    frozen_clock(dt.datetime(2026, 9, 29, 7, 59, tzinfo=dt.UTC))
    assert can_cancel(fresh(reg_id))
    frozen_clock(dt.datetime(2026, 9, 29, 8, 0, tzinfo=dt.UTC))
    assert not can_cancel(fresh(reg_id))
    with pytest.raises(CancellationRefused) as refused:
        cancel_registration(reg_id, by_id=None)
    assert str(refused.value) == gettext(
        "Online cancelling closed on %(when)s. Please contact the town's services.",
        when=waitlist.moment_text(deadline),
    )
    assert fresh(reg_id).status == Status.ACCEPTED


def test_without_hours_cancellation_closes_at_the_start(make_household, book, frozen_clock) -> None:
    [reg_id] = book(make_household(), service="auto").registration_ids
    frozen_clock(dt.datetime(2026, 10, 1, 7, 59, tzinfo=dt.UTC))
    assert can_cancel(fresh(reg_id))
    frozen_clock(dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC))
    with pytest.raises(CancellationRefused):
        cancel_registration(reg_id, by_id=None)


def test_waiting_and_offered_entries_may_still_leave(make_household, book, frozen_clock) -> None:
    placed = [book(make_household()).registration_ids[0] for _ in range(2)]
    queued = [book(make_household()).registration_ids[0] for _ in range(3)]
    cancel_registration(placed[0], by_id=None)
    frozen_clock(dt.datetime(2026, 9, 30, 8, 0, tzinfo=dt.UTC))  # after the 48 h deadline
    assert not can_cancel(fresh(placed[1]))
    assert can_cancel(fresh(queued[0])) and can_cancel(fresh(queued[2]))
    cancel_registration(queued[2], by_id=None)  # leaves the waiting list
    cancel_registration(queued[0], by_id=None)  # gives up the offer: the next entry gets it
    assert statuses(queued) == [Status.CANCELLED, Status.OFFERED, Status.CANCELLED]


def test_service_without_sessions_has_no_deadline(tmp_path: Path, make_app, make_household, frozen_clock) -> None:
    data = service("libre", "LIB", sessions=[], cancellation={"allowed": True})
    application = make_app(PLUGINS_DIR=write_services(tmp_path / "other", {"libre": data, **SERVICES}))
    with application.app_context():
        from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

        household = make_household()
        outcome = create_registrations(RegistrationInput(
            service_code="libre", household_id=household.id, channel="web",
            participants=[ParticipantInput(child_id=household.children[0].id, answers={})],
        ))
        reg = fresh(outcome.registration_ids[0])
        assert cancellation_deadline(reg) is None
        frozen_clock(dt.datetime(2027, 6, 1, 8, 0, tzinfo=dt.UTC))
        cancel_registration(reg.id, by_id=None)
        assert fresh(reg.id).status == Status.CANCELLED
