"""The one creation path: statuses, batches, references, history, eligibility, capacity, e-mails."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from engine_helpers import CANTEEN_ANSWERS, PLUGINS, POOL_ANSWERS, born, minimal_definition, read_definition
from flask_babel import gettext
from sqlalchemy import func, select

from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import (
    Account,
    Child,
    Draft,
    Registration,
    ServiceSession,
    Status,
    StatusChange,
    Upload,
)
from inscriptions.privacy.sealing import unsealed
from inscriptions.registrations.create import (
    ParticipantInput,
    RegistrationInput,
    RegistrationRefused,
    create_registrations,
)
from inscriptions.registrations.participants import child_view
from inscriptions.registrations.windows import moment_text

CINEMA_ANSWERS = {"child_seats": "2", "adult_seats": "1", "snack_allergy": "non"}


def registrations() -> list[Registration]:
    return list(db.session.scalars(select(Registration).order_by(Registration.id)))


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def staff_account() -> Account:
    agent = Account(email="agent@villebelle.example")
    agent.set_password("agent-password")
    db.session.add(agent)
    db.session.commit()
    return agent


# -- statuses, references, history -----------------------------------------------------------

def test_one_child_automatic_workflow_is_accepted(make_household, book) -> None:
    household = make_household(quotient_familial=600)
    outcome = book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    assert outcome.status == Status.ACCEPTED
    assert not outcome.replayed
    [reg] = registrations()
    assert outcome.registration_ids == [reg.id]
    assert reg.reference == "CAN-2026-000001"
    assert reg.status == "accepted"
    assert reg.child_id == household.children[0].id
    assert reg.household_id == household.id
    assert reg.channel == "web"
    assert reg.keyed_by_id is None
    assert reg.batch == outcome.batch
    assert reg.price == Decimal("2.40") and reg.price_unit == "repas"
    assert reg.price_detail and "600" in reg.price_detail[0]
    assert unsealed(reg.answers) == {"days": ["mon", "tue"], "diet": "standard", "allergy": False, "rules": True}
    assert reg.form_version.version == 1
    assert reg.session_id is None and reg.places == 1
    [change] = reg.history
    assert (change.from_status, change.to_status, change.by_id) == (None, "accepted", None)
    assert change.at == dt.datetime(2026, 9, 15, 8, 0)


def test_manual_workflow_is_submitted_with_session_and_effort_price(make_household, book) -> None:
    household = make_household(quotient_familial=2000, children=[("Jules", born(8))])
    outcome = book("piscine", household, children=household.children, answers=POOL_ANSWERS, session="mer-15h")
    assert outcome.status == Status.SUBMITTED
    [reg] = registrations()
    assert reg.reference == "NAT-2026-000001"
    assert reg.session.code == "mer-15h"
    assert reg.price == Decimal("60.00") and reg.price_unit == "trimestre"
    assert [(h.from_status, h.to_status) for h in reg.history] == [(None, "submitted")]


def test_counter_channel_stores_who_keyed_it(make_household, book) -> None:
    agent = staff_account()
    household = make_household(email=None, with_account=False)
    answers = {**CANTEEN_ANSWERS, "allergy": "oui"}  # no PAI details: "required: online" only
    book("cantine", household, children=household.children, answers=answers, channel="counter",
         keyed_by_id=agent.id, note="Formulaire papier du 14/09")
    [reg] = registrations()
    assert reg.channel == "counter"
    assert reg.keyed_by_id == agent.id
    assert unsealed(reg.answers)["allergy"] is True and "pai_details" not in reg.answers
    [change] = reg.history
    assert change.by_id == agent.id
    assert change.reason == "Formulaire papier du 14/09"


def test_references_increment_per_prefix(make_household, book) -> None:
    first = make_household()
    second = make_household(children=[("Noé", born(7)), ("Zoé", born(9))])
    book("cantine", first, children=first.children, answers=CANTEEN_ANSWERS)
    book("cantine", second, children=second.children, answers=CANTEEN_ANSWERS)
    book("piscine", second, children=second.children[:1], answers=POOL_ANSWERS, session="sam-10h")
    assert [r.reference for r in registrations()] == [
        "CAN-2026-000001", "CAN-2026-000002", "CAN-2026-000003", "NAT-2026-000001",
    ]


def test_reference_year_is_the_booking_year(make_household, book, frozen_clock) -> None:
    frozen_clock(dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC))
    household = make_household()
    book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    assert registrations()[0].reference == "CAN-2027-000001"


# -- siblings: one action, all or nothing ----------------------------------------------------

def test_siblings_share_one_batch(make_household, book) -> None:
    household = make_household(children=[("Léa", born(7)), ("Hugo", born(9))])
    outcome = book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS,
                   per_child={household.children[1].id: {"diet": "sans_porc"}})
    regs = registrations()
    assert len(regs) == 2
    assert {r.batch for r in regs} == {outcome.batch}
    assert outcome.registration_ids == [r.id for r in regs]
    assert [unsealed(r.answers)["diet"] for r in regs] == ["standard", "sans_porc"]


def test_one_invalid_sibling_saves_nothing(make_household, book) -> None:
    household = make_household(children=[("Léa", born(7)), ("Hugo", born(9))])
    hugo = household.children[1]
    with pytest.raises(RegistrationRefused) as refused:
        book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS,
             per_child={hugo.id: {"diet": "halal"}})
    assert set(refused.value.errors) == {f"child:{hugo.id}"}
    assert refused.value.errors[f"child:{hugo.id}"] == {"diet": "Choix non valide."}
    assert count(Registration) == 0
    assert count(StatusChange) == 0
    # The reference counter was rolled back too: no gap in the numbers.
    book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    assert [r.reference for r in registrations()] == ["CAN-2026-000001", "CAN-2026-000002"]


def test_same_child_twice_in_one_action_is_refused(make_household) -> None:
    household = make_household()
    child_id = household.children[0].id
    with pytest.raises(RegistrationRefused, match="figure deux fois"):
        create_registrations(RegistrationInput(
            service_code="cantine", household_id=household.id, channel="web",
            participants=[ParticipantInput(child_id=child_id, answers=CANTEEN_ANSWERS)] * 2,
        ))


def test_child_of_another_household_is_refused(make_household, book) -> None:
    mine, other = make_household(), make_household(last_name="Durand")
    with pytest.raises(RegistrationRefused, match="Choisissez un enfant du foyer"):
        book("cantine", mine, children=other.children, answers=CANTEEN_ANSWERS)
    assert count(Registration) == 0


def test_unknown_service_and_channel_are_refused(make_household, book) -> None:
    household = make_household()
    with pytest.raises(RegistrationRefused, match="n'existe pas"):
        book("patinoire", household, children=household.children)
    with pytest.raises(RegistrationRefused, match="Canal inconnu"):
        book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS, channel="fax")


def test_medical_certificate_must_be_the_households_upload(make_household, book) -> None:
    household = make_household(children=[("Jules", born(8))])
    other = make_household(last_name="Durand")
    for owner, token in ((household, "a" * 32), (other, "b" * 32)):
        db.session.add(Upload(household_id=owner.id, token=token, filename="certificat.pdf",
                              content_type="application/pdf", size=2048, sha256="0" * 64))
    db.session.commit()
    with pytest.raises(RegistrationRefused) as refused:
        book("piscine", household, children=household.children, session="sam-10h",
             answers={**POOL_ANSWERS, "medical_certificate": "b" * 32})
    assert "medical_certificate" in refused.value.errors[f"child:{household.children[0].id}"]
    book("piscine", household, children=household.children, session="sam-10h",
         answers={**POOL_ANSWERS, "medical_certificate": "a" * 32})
    assert unsealed(registrations()[0].answers)["medical_certificate"] == "a" * 32


# -- household service -----------------------------------------------------------------------

def test_cinema_books_for_the_household(make_household, book) -> None:
    household = make_household()
    outcome = book("cinema", household, answers=CINEMA_ANSWERS, session="2027-01-16")
    assert outcome.status == Status.ACCEPTED
    [reg] = registrations()
    assert reg.reference == "CIN-2026-000001"
    assert reg.child_id is None and reg.guardian_id is None
    assert reg.places == 3
    assert reg.price == Decimal("12.00")
    assert reg.participant_name == household.display_name


def test_cinema_seat_rule_refuses_the_booking(make_household, book) -> None:
    household = make_household()
    for seats in ({"child_seats": "0", "adult_seats": "0"}, {"child_seats": "4", "adult_seats": "3"}):
        with pytest.raises(RegistrationRefused) as refused:
            book("cinema", household, answers={**CINEMA_ANSWERS, **seats}, session="2027-01-16")
        assert "child_seats" in refused.value.errors["household"]
    assert count(Registration) == 0


def test_cinema_refuses_a_child_as_participant(make_household, book) -> None:
    household = make_household()
    with pytest.raises(RegistrationRefused, match="tout le foyer"):
        book("cinema", household, children=household.children, answers=CINEMA_ANSWERS, session="2027-01-16")


def test_sessions_must_be_chosen_and_not_started(make_household, book, frozen_clock) -> None:
    household = make_household()
    with pytest.raises(RegistrationRefused, match="Choisissez une séance"):
        book("cinema", household, answers=CINEMA_ANSWERS)
    with pytest.raises(RegistrationRefused, match="Cette séance n'est pas proposée"):
        book("cinema", household, answers=CINEMA_ANSWERS, session="2030-01-01")
    with pytest.raises(RegistrationRefused, match="pas de séance à choisir"):
        book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS, session="x")
    # 12 December 2026 15:00 in Paris is 14:00 UTC.
    frozen_clock(dt.datetime(2026, 12, 12, 14, 0, tzinfo=dt.UTC))
    with pytest.raises(RegistrationRefused, match="déjà commencé"):
        book("cinema", household, answers=CINEMA_ANSWERS, session="2026-12-12")
    frozen_clock(dt.datetime(2026, 12, 12, 13, 59, tzinfo=dt.UTC))
    assert book("cinema", household, answers=CINEMA_ANSWERS, session="2026-12-12").status == "accepted"


# -- eligibility and opening -----------------------------------------------------------------

def test_age_out_of_range_is_refused(make_household, book) -> None:
    household = make_household(children=[("Ado", born(14)), ("Petit", born(4))])
    with pytest.raises(RegistrationRefused) as refused:
        book("piscine", household, children=household.children, answers=POOL_ANSWERS, session="sam-10h")
    assert refused.value.general == [
        "Ado doit avoir entre 6 et 12 ans le 1 septembre 2026.",
        "Petit doit avoir entre 6 et 12 ans le 1 septembre 2026.",
    ]
    assert count(Registration) == 0


def test_residents_only(make_household, book, plugins_dir, use_plugins) -> None:
    use_plugins(plugins_dir({"atelier": minimal_definition(eligibility={"residents_only": True})}))
    outsider = make_household(resident=False)
    with pytest.raises(RegistrationRefused) as refused:
        book("atelier", outsider, children=outsider.children, answers={"level": "a"})
    assert refused.value.general == ["Ce service est réservé aux habitants de la commune."]
    resident = make_household()
    assert book("atelier", resident, children=resident.children, answers={"level": "a"}).status == "accepted"


@pytest.mark.parametrize("moment, before_opening", [
    (dt.datetime(2026, 9, 1, 6, 29, tzinfo=dt.UTC), True),  # 08:29 in Paris, a minute before opening
    (dt.datetime(2027, 3, 31, 22, 0, tzinfo=dt.UTC), False),  # 1 April 2027 00:00 in Paris, after closing
])
def test_closed_service_is_refused(make_household, book, frozen_clock, moment: dt.datetime,
                                   before_opening: bool) -> None:
    household = make_household(children=[("Jules", born(8))])
    frozen_clock(moment)
    with pytest.raises(RegistrationRefused) as refused:
        book("piscine", household, children=household.children, answers=POOL_ANSWERS, session="sam-10h")
    if before_opening:  # the refusal says when it opens
        expected = gettext("Registration opens for %(name)s on %(when)s.", name="Jules",
                           when=moment_text(dt.datetime(2026, 9, 1, 8, 30)))
    else:
        expected = gettext("Registration for this service is not open.")
    assert refused.value.general == [expected]


def test_opening_minute_is_open(make_household, book, frozen_clock) -> None:
    household = make_household(children=[("Jules", born(8))])
    frozen_clock(dt.datetime(2026, 9, 1, 6, 30, tzinfo=dt.UTC))  # 08:30 in Paris
    # Accepted as sent (not refused); the pool ranks what it receives until 14 September by
    # points, so the application waits for that ranking.
    assert book("piscine", household, children=household.children, answers=POOL_ANSWERS,
                session="sam-10h").status == "pending"


def test_already_registered_is_refused(make_household, book) -> None:
    household = make_household(children=[("Léa", born(7)), ("Hugo", born(9))])
    lea = next(c for c in household.children if c.first_name == "Léa")
    book("cantine", household, children=[lea], answers=CANTEEN_ANSWERS)
    with pytest.raises(RegistrationRefused) as refused:
        book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    assert refused.value.general == ["Léa a déjà une inscription à ce service."]
    assert count(Registration) == 1  # Hugo was not registered alone either


def test_cancelled_registration_does_not_block_a_new_one(make_household, book) -> None:
    household = make_household()
    book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    reg = registrations()[0]
    reg.status = Status.CANCELLED
    db.session.commit()
    assert book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS).status == "accepted"


# -- capacity and waiting list ---------------------------------------------------------------

def _small_pool(capacity: int) -> dict[str, Any]:
    data = read_definition("piscine")
    data["sessions"] = [{**data["sessions"][0], "capacity": capacity}]
    # One session left: no second choice to rank (the real pool offers one).
    data.pop("alternatives", None)
    return data


def test_full_session_puts_on_the_waiting_list(make_household, book, plugins_dir, use_plugins) -> None:
    use_plugins(plugins_dir({"piscine": _small_pool(2)}))
    first = make_household(children=[("Jules", born(8))])
    siblings = make_household(children=[("Léa", born(7)), ("Hugo", born(9))])
    assert book("piscine", first, children=first.children, answers=POOL_ANSWERS,
                session="mer-14h").status == "submitted"
    # One place left for two siblings: both wait together rather than being split.
    outcome = book("piscine", siblings, children=siblings.children, answers=POOL_ANSWERS, session="mer-14h")
    assert outcome.status == Status.WAITLISTED
    assert [r.status for r in registrations()] == ["submitted", "waitlisted", "waitlisted"]
    assert [h.to_status for h in registrations()[1].history] == ["waitlisted"]
    third = make_household(children=[("Noé", born(10))])
    # The place left is kept for the waiting list: a newcomer cannot jump the queue.
    assert book("piscine", third, children=third.children, answers=POOL_ANSWERS,
                session="mer-14h").status == "waitlisted"


def test_cinema_capacity_counts_seats(make_household, book, plugins_dir, use_plugins) -> None:
    data = read_definition("cinema")
    data["sessions"] = [{**data["sessions"][1], "capacity": 5}]
    use_plugins(plugins_dir({"cinema": data}, hooks={"cinema": (PLUGINS / "cinema" / "hooks.py").read_text()}))
    a, b, c = make_household(), make_household(), make_household()
    assert book("cinema", a, answers={**CINEMA_ANSWERS, "child_seats": "3", "adult_seats": "1"},
                session="2027-01-16").status == "accepted"
    assert book("cinema", b, answers={**CINEMA_ANSWERS, "child_seats": "1", "adult_seats": "1"},
                session="2027-01-16").status == "waitlisted"
    # One seat is free, but b waits for it: c queues behind b.
    assert book("cinema", c, answers={**CINEMA_ANSWERS, "child_seats": "0", "adult_seats": "1"},
                session="2027-01-16").status == "waitlisted"


def test_capacity_is_read_from_the_database(make_household, book) -> None:
    # Counter and web draw on the same capacity: the session row is the one truth.
    household = make_household(children=[("Jules", born(8))])
    book("piscine", household, children=household.children, answers=POOL_ANSWERS, session="mer-14h")
    row = db.session.scalar(select(ServiceSession).filter_by(service_code="piscine", code="mer-14h"))
    row.capacity = 1
    db.session.commit()
    other = make_household(children=[("Zoé", born(10))])
    assert book("piscine", other, children=other.children, answers=POOL_ANSWERS,
                session="mer-14h").status == "waitlisted"


# -- drafts: double clicks and replays -------------------------------------------------------

def _draft(household: Any, service_code: str = "cantine") -> Draft:
    account = db.session.scalar(select(Account).filter_by(guardian_id=household.guardians[0].id))
    version = current_version(registry().get(service_code))
    draft = Draft(token=f"draft-{household.id}-{service_code}", account_id=account.id, service_code=service_code,
                  form_version_id=version.id, state={})
    db.session.add(draft)
    db.session.commit()
    return draft


def test_draft_replay_returns_the_first_outcome(make_household, book, outbox) -> None:
    household = make_household(children=[("Léa", born(7)), ("Hugo", born(9))])
    draft = _draft(household)
    first = book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS, draft_id=draft.id)
    assert not first.replayed
    assert db.session.get(Draft, draft.id).submitted_batch == first.batch
    again = book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS, draft_id=draft.id)
    assert again.replayed
    assert (again.batch, again.registration_ids, again.status) == (first.batch, first.registration_ids, "accepted")
    assert count(Registration) == 2
    assert len(outbox) == 1  # the confirmation is not sent twice


def test_draft_of_another_household_is_not_replayed(make_household, book) -> None:
    household, other = make_household(), make_household(last_name="Durand")
    draft = _draft(household)
    book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS, draft_id=draft.id)
    with pytest.raises(RegistrationRefused, match="n'appartient pas"):
        book("cantine", other, children=other.children, answers=CANTEEN_ANSWERS, draft_id=draft.id)
    assert count(Registration) == 1


def test_draft_of_another_service_is_refused(make_household, book) -> None:
    household = make_household(children=[("Jules", born(8))])
    draft = _draft(household, "cantine")
    with pytest.raises(RegistrationRefused, match="n'appartient pas"):
        book("piscine", household, children=household.children, answers=POOL_ANSWERS, session="sam-10h",
             draft_id=draft.id)
    assert db.session.get(Draft, draft.id).submitted_batch is None


# -- confirmation e-mails --------------------------------------------------------------------

def test_confirmation_email_is_sent_after_booking(make_household, book, outbox) -> None:
    household = make_household(children=[("Léa", born(7)), ("Hugo", born(9))], email="Parent@Example.fr")
    book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    [message] = outbox
    assert message.to == ["parent@example.fr"]
    assert message.from_email == "famille@villebelle.example"
    assert "Restauration scolaire" in message.subject
    assert "CAN-2026-000001, CAN-2026-000002" in message.subject
    assert "\n" not in message.subject
    body = message.body
    for expected in ("Léa Martin", "Hugo Martin", "CAN-2026-000001", "CAN-2026-000002", "2,40 €", "repas",
                     "Acceptée", "01 23 45 67 89", "Mairie de Villebelle, guichet famille"):
        assert expected in body, expected


def test_waitlisted_pool_email_mentions_session_and_status(make_household, book, outbox,
                                                           plugins_dir, use_plugins) -> None:
    use_plugins(plugins_dir({"piscine": _small_pool(1)}))
    full = make_household(children=[("Jules", born(8))])
    book("piscine", full, children=full.children, answers=POOL_ANSWERS, session="mer-14h")
    household = make_household(children=[("Zoé", born(10))])
    book("piscine", household, children=household.children, answers=POOL_ANSWERS, session="mer-14h")
    body = outbox[-1].body
    assert "Mercredi 14 h" in body
    assert "Sur liste d'attente" in body
    assert "liste d'attente. Nous vous écrirons" in body
    assert "Demande envoyée, en attente de réponse" in outbox[0].body


def test_household_without_email_gets_no_message(make_household, book, outbox) -> None:
    household = make_household(email=None, with_account=False)
    book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS, channel="counter")
    assert count(Registration) == 1
    assert outbox == []


def test_failing_email_does_not_undo_the_registration(app, make_household, book, monkeypatch, caplog) -> None:
    app.config["JOBS_EAGER_RAISE"] = False

    def broken_send(self: Any, fail_silently: bool = False) -> int:
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr("inscriptions.mail.EmailMessage.send", broken_send)
    household = make_household()
    outcome = book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    assert outcome.status == "accepted"
    db.session.remove()  # a fresh session reads what was committed
    assert [r.id for r in registrations()] == outcome.registration_ids
    assert "registration_received" in caplog.text


def test_email_is_sent_only_after_the_commit(make_household, book, monkeypatch) -> None:
    seen: list[int] = []

    def spy(message: Any) -> int:
        # The job sees the committed rows from another connection.
        with db.engine.connect() as conn:
            seen.append(conn.execute(select(func.count()).select_from(Registration)
                                     .where(Registration.batch == message.batch)).scalar_one())
        return 0

    monkeypatch.setattr("inscriptions.notifications.send_confirmation", spy)
    household = make_household()
    book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS)
    assert seen == [1]


def test_child_factory_sanity(make_household) -> None:
    # Guard for the helpers above: born(n) gives n years on the pool's reference day.
    household = make_household(children=[("Jules", born(8))])
    child = db.session.get(Child, household.children[0].id)
    assert child_view(child).age_on(dt.date(2026, 9, 1)) == 8
