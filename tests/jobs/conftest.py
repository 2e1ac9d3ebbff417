"""Fixtures for the job tests (the real local Redis and the rq-backed app are tests/conftest.py's
``redis_db`` and ``rq_app``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import jobs_samples
import pytest
from flask import Flask

from inscriptions import jobs
from inscriptions.models import Household
from inscriptions.registrations.create import (
    ParticipantInput,
    RegistrationInput,
    RegistrationOutcome,
    create_registrations,
)

CANTEEN_ANSWERS: dict[str, Any] = {"days": ["mon", "tue"], "diet": "standard", "allergy": "non", "rules": "on"}


@pytest.fixture(autouse=True)
def _reset_jobs() -> Iterator[None]:
    """Forget the sample jobs' calls and the worker application between tests."""
    jobs_samples.calls.clear()
    yield
    jobs_samples.calls.clear()
    jobs._worker_app = None


@pytest.fixture
def outbox(app: Flask) -> list[Any]:
    """E-mails sent through the locmem backend (as tests/engine reads them)."""
    state = app.extensions["mailman"]
    state.outbox = []
    return state.outbox


@pytest.fixture
def book_canteen(make_household: Callable[..., Household]) -> Callable[..., tuple[Household, RegistrationOutcome]]:
    """Register a new household's child to the canteen through the one creation function."""

    def do_book(**household: Any) -> tuple[Household, RegistrationOutcome]:
        family = make_household(children=[("Léa", dt.date(2019, 8, 1))], **household)
        outcome = create_registrations(RegistrationInput(
            service_code="cantine",
            household_id=family.id,
            participants=[ParticipantInput(child_id=family.children[0].id, answers=CANTEEN_ANSWERS)],
            channel="web",
        ))
        return family, outcome

    return do_book
