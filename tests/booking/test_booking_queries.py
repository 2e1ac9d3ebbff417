"""What the booking path asks the database, beyond the locks: the reads it no longer repeats.

Every statement of a booking is CPU on a morning when thousands of families book at once
(bench/opening_day.py, bench/profile_booking.py). These tests pin the reads that were taken
off, so they do not creep back: each asserts what SQL runs, not how long it takes.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from booking_helpers import captured_sql, count_registrations, stage_definition

from inscriptions.extensions import db
from inscriptions.models import Draft, FormVersion, Registration
from inscriptions.registrations.create import RegistrationRefused

KID = dt.date(2018, 4, 2)


def _matching(statements: list[str], pattern: str) -> list[str]:
    return [sql for sql in statements if re.search(pattern, sql, re.I | re.S)]


def test_the_form_version_is_read_once_per_application(app, make_household, book) -> None:
    book(make_household(children=[("Léa", KID)]))
    other = make_household(last_name="Durand", children=[("Hugo", KID)])
    with captured_sql() as sql:
        outcome = book(other)
    # Versions never change once written: the next booking knows its version and definition.
    assert _matching(sql, r"\bform_versions\b") == []
    registration = db.session.get(Registration, outcome.registration_ids[0])
    assert registration.form_version.definition["code"] == "stage"


def test_a_changed_definition_is_booked_under_its_new_version(app, install, make_household, book) -> None:
    first = book(make_household(children=[("Léa", KID)]))
    install(stage_definition(capacity=3))  # the town edits the file: a new version
    second = book(make_household(last_name="Durand", children=[("Hugo", KID)]))
    versions = [db.session.get(Registration, o.registration_ids[0]).form_version for o in (first, second)]
    assert versions[1].id != versions[0].id
    assert versions[1].version == versions[0].version + 1
    assert versions[1].definition["sessions"][0]["capacity"] == 3


def test_an_unknown_form_version_is_refused(app, make_household, book) -> None:
    household = make_household(children=[("Léa", KID)])
    with pytest.raises(RegistrationRefused) as refused:
        book(household, form_version_id=999_999)
    assert refused.value.general and count_registrations() == 0
    # ... and another service's version too (the cache keeps which service a version belongs to).
    sortie = db.session.scalar(db.select(FormVersion.id).filter_by(service_code="sortie"))
    with pytest.raises(RegistrationRefused):
        book(household, form_version_id=sortie)
    assert count_registrations() == 0


def test_web_confirmation_reads_each_row_once(app, client, sortie_review) -> None:
    token = sortie_review
    client.get(f"/inscription/{token}/recapitulatif")  # a first page: caches as a worker has them

    with captured_sql() as sql:
        done = client.post(f"/inscription/{token}/recapitulatif")
    assert done.status_code == 302 and done.headers["Location"].endswith("/confirmation")

    # The draft is claimed by one conditional update (its row lock), not a locked read then a write.
    claims = _matching(sql, r"^UPDATE drafts SET submitted_batch=.*\.submitted_batch IS NULL")
    assert len(claims) == 1
    assert _matching(sql, r"FROM drafts .*FOR UPDATE") == []
    # The household is locked once, by id, without reading it (nor its people) again.
    assert len(_matching(sql, r"FROM households WHERE .*FOR UPDATE")) == (1 if db.engine.dialect.name
                                                                             == "postgresql" else 0)
    assert len(_matching(sql, r"FROM guardians WHERE")) <= 1
    assert len(_matching(sql, r"FROM children WHERE")) <= 1
    # The form version's definition, and the account's staff grants (the page menu), come with
    # what was already read: the per-app cache and the user loader's one query.
    assert _matching(sql, r"\bform_versions\b") == []
    assert _matching(sql, r"FROM staff_roles WHERE") == []

    draft = db.session.scalar(db.select(Draft).filter_by(token=token))
    db.session.refresh(draft)
    assert draft.submitted_batch
    assert db.session.scalar(db.select(Registration).filter_by(batch=draft.submitted_batch)) is not None


def test_a_second_click_on_confirm_books_nothing_more(app, client, sortie_review) -> None:
    token = sortie_review
    first = client.post(f"/inscription/{token}/recapitulatif")
    again = client.post(f"/inscription/{token}/recapitulatif")
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert db.session.scalar(db.select(db.func.count(Registration.id))) == 1
