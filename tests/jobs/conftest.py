"""Fixtures for the job tests: a real local Redis (database 15, flushed) and an rq-backed app."""

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

# A database number and queue name nobody else uses: the fixture empties them.
TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
TEST_QUEUE = "inscriptions-test"
CANTEEN_ANSWERS: dict[str, Any] = {"days": ["mon", "tue"], "diet": "standard", "allergy": "non", "rules": "on"}


@pytest.fixture(autouse=True)
def _reset_jobs() -> Iterator[None]:
    """Forget the sample jobs' calls and the worker application between tests."""
    jobs_samples.calls.clear()
    yield
    jobs_samples.calls.clear()
    jobs._worker_app = None


@pytest.fixture
def redis_db() -> Iterator[Any]:
    """The local Redis, database 15, emptied before and after; skips when Redis is unreachable."""
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except RedisError as exc:
        pytest.skip(f"Redis is not reachable at {TEST_REDIS_URL} ({exc}); the rq backend tests need it")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def rq_app(app: Flask, redis_db: Any) -> Iterator[Flask]:
    """The test app switched to the rq backend on the test Redis database."""
    app.config.update(JOBS_BACKEND="rq", REDIS_URL=TEST_REDIS_URL, JOBS_QUEUE=TEST_QUEUE)
    yield app
    client = app.extensions.pop("inscriptions.jobs.redis", None)
    if client is not None:
        client.close()


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
