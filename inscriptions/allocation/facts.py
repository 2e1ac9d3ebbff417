"""The facts priority criteria and draw weights test, read for many applications at once.

Read at the ranking (the allocator's first pass after ``draw_at``), from the household file as
it is then: a quotient familial the family updated the day before counts. A handful of queries
whatever the number of applications (households, guardians, children, enrolments), so the
ranking of an opening's thousands of applications stays one short step of the pass.

What each fact means (the definition reference repeats it for town IT):

``household.resident``
    the household's address is in the town (``town.yaml``'s residency rule);
``household.qf``
    its quotient familial (absent when not given: it then meets no test);
``household.children_enrolled``
    how many of its children, other than those the application is for, hold an accepted
    registration in this service or in a service listed in ``enrolled_in`` (siblings already
    enrolled);
``household.single_guardian``
    the household file has one guardian only;
``participant.age``
    the participant's age in years on the service's age day (``age.on``, else the opening);
``participant.school``, ``participant.class``
    the child's school and class in the household file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import ARRAY, Integer, any_, bindparam, cast, func, select

from inscriptions.allocation.priority import ApplicationFacts
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.eligibility import age_reference_day
from inscriptions.extensions import db
from inscriptions.models import Child, Guardian, Household, Registration, Status
from inscriptions.plugin_api import ParticipantView
from inscriptions.privacy.sealing import OpenedOnRead

# Ids per IN list elsewhere than PostgreSQL: well under every database's limit on bound parameters.
_CHUNK = 5000


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    """The ids in lists a query can take: one on PostgreSQL (one array), else IN lists."""
    ordered = sorted(set(ids))
    step = len(ordered) or 1 if _postgresql() else _CHUNK
    for start in range(0, len(ordered), step):
        yield ordered[start:start + step]


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _member(column: Any, ids: list[int]) -> Any:
    """``column IN ids``: on PostgreSQL ``= ANY`` of one array parameter (an IN list of 20,000
    placeholders costs more to build and send than the query itself)."""
    if _postgresql():
        return column == any_(cast(bindparam(None, ids, type_=ARRAY(Integer)), ARRAY(Integer)))
    return column.in_(ids)


def application_facts(defn: ServiceDefinition, applications: Sequence[Any]) -> dict[int, ApplicationFacts]:
    """The facts of each application (rows with ``id``, ``household_id`` and ``participants``:
    ``[{"child_id", "guardian_id", "answers"}]``), by application id."""
    household_ids = {a.household_id for a in applications if a.household_id is not None}
    child_ids = {p.get("child_id") for a in applications for p in a.participants if p.get("child_id")}
    guardian_ids = {p.get("guardian_id") for a in applications for p in a.participants if p.get("guardian_id")}
    town = current_app.extensions["inscriptions.town"]

    households: dict[int, dict[str, Any]] = {}
    resident: dict[tuple[str, str], bool] = {}
    for chunk in _chunks(household_ids):
        for row in db.session.execute(
            select(Household.id, Household.city, Household.postcode, Household.quotient_familial)
            .where(_member(Household.id, chunk))
        ):
            place = (row.city, row.postcode)
            if place not in resident:  # most households share a handful of addresses' towns
                resident[place] = town.is_resident(row.city, row.postcode)
            households[row.id] = {"household.resident": resident[place], "household.qf": row.quotient_familial}
        for household_id, count in db.session.execute(
            select(Guardian.household_id, func.count(Guardian.id)).where(_member(Guardian.household_id, chunk))
            .group_by(Guardian.household_id)
        ):
            households[household_id]["household.single_guardian"] = count == 1
    enrolled = _enrolled_children(defn, household_ids)

    on = age_reference_day(defn)
    people: dict[tuple[str, int], dict[str, Any]] = {}
    for chunk in _chunks(child_ids):
        for row in db.session.execute(
            select(Child.id, Child.birth_date, Child.school, Child.class_name).where(_member(Child.id, chunk))
        ):
            people["child", row.id] = {"participant.age": _age(row.birth_date, on),
                                       "participant.school": row.school, "participant.class": row.class_name}
    for chunk in _chunks(guardian_ids):
        for row in db.session.execute(select(Guardian.id, Guardian.birth_date).where(_member(Guardian.id, chunk))):
            people["adult", row.id] = {"participant.age": _age(row.birth_date, on)}

    found: dict[int, ApplicationFacts] = {}
    for app in applications:
        household = dict(households.get(app.household_id, {}))
        mine = {p.get("child_id") for p in app.participants}
        household["household.children_enrolled"] = len(enrolled.get(app.household_id, set()) - mine)
        participants = []
        for p in app.participants:
            key = ("child", p["child_id"]) if p.get("child_id") else ("adult", p.get("guardian_id") or 0)
            # A rule may name a sensitive answer: opened when read, not before.
            participants.append(OpenedOnRead({**p.get("answers", {}), **people.get(key, {})}))
        found[app.id] = ApplicationFacts(household, tuple(participants))
    return found


def _enrolled_children(defn: ServiceDefinition, household_ids: set[int]) -> dict[int, set[int]]:
    """Per household, its children holding an accepted registration in this service or in a
    service of ``enrolled_in``."""
    enrolled: dict[int, set[int]] = defaultdict(set)
    codes = [defn.code, *defn.enrolled_in]
    for chunk in _chunks(household_ids):
        for household_id, child_id in db.session.execute(
            select(Registration.household_id, Registration.child_id).distinct()
            .where(_member(Registration.household_id, chunk), Registration.service_code.in_(codes),
                   Registration.status == Status.ACCEPTED, Registration.child_id.is_not(None))
        ):
            enrolled[household_id].add(child_id)
    return enrolled


def _age(birth_date: Any, on: Any) -> int | None:
    return ParticipantView("child", None, "", "", birth_date).age_on(on)
