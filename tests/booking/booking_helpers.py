"""Plain helpers of the booking tests: small service definitions, counting, racing threads."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import event, func, select

from inscriptions.extensions import db
from inscriptions.models import Registration
from inscriptions.registrations.create import ParticipantInput, RegistrationInput

PG = bool(os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"))
ANSWERS = {"level": "a"}


def stage_definition(capacity: int = 10, **overrides: Any) -> dict[str, Any]:
    """A child service with one small session ``s1``, open around the frozen clock (2026-09-15)."""
    data: dict[str, Any] = {
        "code": "stage",
        "name": "Stage test",
        "reference_prefix": "STG",
        "audience": "child",
        "opening": "2026-09-01T08:30:00",
        "closing": "2027-06-30T23:59:00",
        "workflow": "automatic",
        "retention_months": 12,
        "pricing": {"kind": "fixed", "amount": "10.00", "unit": "stage"},
        "sessions": [
            {"code": "s1", "label": "Semaine 1", "starts_at": "2027-02-15T09:00:00", "capacity": capacity},
            {"code": "s2", "label": "Semaine 2", "starts_at": "2027-02-22T09:00:00", "capacity": 20},
        ],
        "form": {"pages": [{"title": "Questions", "fields": [
            {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
             "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        ]}]},
    }
    data.update(copy.deepcopy(overrides))
    return data


def sortie_definition(capacity: int = 5, **overrides: Any) -> dict[str, Any]:
    """A household service (seats counted by an integer field), one session ``s1``."""
    data: dict[str, Any] = {
        "code": "sortie",
        "name": "Sortie test",
        "reference_prefix": "SRT",
        "audience": "household",
        "opening": "2026-09-01T08:30:00",
        "closing": "2027-06-30T23:59:00",
        "workflow": "automatic",
        "retention_months": 12,
        "pricing": {"kind": "free"},
        "places": {"sum_of": ["seats"]},
        "sessions": [{"code": "s1", "label": "Samedi", "starts_at": "2027-02-13T14:00:00", "capacity": capacity}],
        "form": {"pages": [{"title": "Places", "fields": [
            {"name": "seats", "type": "integer", "label": "Places", "required": True, "min": 1, "max": 6},
        ]}]},
    }
    data.update(copy.deepcopy(overrides))
    return data


def write_plugins(root: Path, *definitions: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for defn in definitions:
        (root / defn["code"]).mkdir(exist_ok=True)
        text = yaml.safe_dump(defn, allow_unicode=True, sort_keys=False)
        (root / defn["code"] / "service.yaml").write_text(text, encoding="utf-8")
    return root


def registration_input(
    household: Any,
    *,
    service: str = "stage",
    children: list[Any] | None = None,
    answers: Mapping[str, Any] | None = None,
    session: str | None = "s1",
    channel: str = "web",
    **extra: Any,
) -> RegistrationInput:
    """The input any channel would build for ``household`` (all its children by default)."""
    if service == "sortie":
        participants = [ParticipantInput(answers=dict(answers or {"seats": "1"}))]
    else:
        kids = household.children if children is None else children
        participants = [ParticipantInput(child_id=c.id, answers=dict(answers or ANSWERS)) for c in kids]
    return RegistrationInput(service_code=service, household_id=household.id, participants=participants,
                             channel=channel, session_code=session, **extra)


def fresh() -> None:
    """End the test's own read transaction so it sees what other connections committed."""
    db.session.rollback()


def statuses(service_code: str | None = None) -> list[str]:
    query = select(Registration.status).order_by(Registration.id)
    if service_code:
        query = query.where(Registration.service_code == service_code)
    fresh()
    return list(db.session.scalars(query))


def count_registrations() -> int:
    fresh()
    return int(db.session.scalar(select(func.count(Registration.id))) or 0)


def race(app: Any, jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job at the same moment in its own thread and app context; results in order.

    An exception is returned in place of its job's result (the caller asserts on it).
    """
    results: list[Any] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(i: int, job: Callable[[], Any]) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = job()
            except Exception as exc:  # reported to the test, which asserts on it
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    fresh()
    return results


@contextmanager
def captured_sql() -> Iterator[list[str]]:
    """Every statement sent to the database while the block runs, as sent (one line each)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
