"""Opening-day intake: an application prepared before opening, sent in one lean request at
opening, then followed on a page that updates itself until the allocator has decided."""

from __future__ import annotations

import datetime as dt

import pytest
from booking_helpers import captured_sql, registration_input, stage_definition
from sqlalchemy import event, func, select

from inscriptions.allocation.queue import NotYetOpen, send_prepared
from inscriptions.allocation.worker import drain
from inscriptions.extensions import db
from inscriptions.models import Application, Registration, Status
from inscriptions.registrations.create import RegistrationRefused, prepare_application

# The tests' clock is frozen at 2026-09-15 08:00 UTC; this service opens two weeks later.
OPENING = dt.datetime(2026, 10, 1, 6, 30, tzinfo=dt.UTC)  # 08:30 in Paris


def opening_definition(**overrides: object) -> dict:
    return stage_definition(capacity=1, opening="2026-10-01T08:30:00", **overrides)


def test_prepared_before_opening_then_sent_at_opening(app, install, make_household, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    install(opening_definition())
    app.config["ALLOCATION"] = "worker"
    first, second = make_household(last_name="Petit"), make_household(last_name="Durand")
    prepared = [prepare_application(registration_input(h)) for h in (first, second)]
    db.session.rollback()
    apps = [db.session.get(Application, p.application_id) for p in prepared]
    assert [(a.status, a.queue_number) for a in apps] == [("prepared", None), ("prepared", None)]
    assert apps[0].opens_at == OPENING.replace(tzinfo=None)
    # Not before opening: nothing changes.
    with pytest.raises(NotYetOpen) as early:
        send_prepared(apps[0].id, first.id)
    assert early.value.opens_at == OPENING.replace(tzinfo=None)
    assert drain("stage") == 0

    frozen_clock(OPENING + dt.timedelta(seconds=1))
    # The second family sends first: arrival order is the order of sending, not of preparing.
    later, sooner = send_prepared(apps[1].id, second.id), send_prepared(apps[0].id, first.id)
    assert later.queue_number < sooner.queue_number
    again = send_prepared(apps[0].id, first.id)  # a double click: the same application
    assert again.replayed and again.queue_number == sooner.queue_number
    assert drain("stage") == 2
    db.session.rollback()
    statuses = {db.session.scalar(select(Registration.household_id).where(Registration.status == s)): s
                for s in (Status.ACCEPTED, Status.WAITLISTED)}
    assert statuses == {second.id: Status.ACCEPTED, first.id: Status.WAITLISTED}


def test_preparing_checks_everything_as_at_opening(app, install, make_household) -> None:  # type: ignore[no-untyped-def]
    install(opening_definition())
    family = make_household()
    with pytest.raises(RegistrationRefused) as refused:
        prepare_application(registration_input(family, answers={"level": "z"}))
    assert refused.value.errors  # the answer is checked now, not at opening
    assert db.session.scalar(select(func.count(Application.id))) == 0


def test_sending_is_one_statement_in_worker_mode(app, install, make_household, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    install(opening_definition())
    app.config["ALLOCATION"] = "worker"
    family = make_household()
    prepared = prepare_application(registration_input(family))
    frozen_clock(OPENING)
    household_id = family.id
    db.session.commit()
    with captured_sql() as seen:
        send_prepared(prepared.application_id, household_id)
    # One statement (the transaction's own BEGIN and SQLite's lock settings aside), no allocation.
    statements = [s for s in seen if not s.startswith(("BEGIN", "PRAGMA"))]
    assert len(statements) == 1 and "UPDATE applications" in statements[0], statements
    assert not any("registrations" in s for s in seen)


def test_the_web_send_is_one_transaction_of_two_statements(  # type: ignore[no-untyped-def]
        app, client, install, make_household, login, frozen_clock) -> None:
    """The opening-morning request: the session's log-in read and the application numbered in
    one transaction (one connection from the pool, one commit), nothing else."""
    install(opening_definition())
    app.config["ALLOCATION"] = "worker"
    family = make_household()
    prepared = prepare_application(registration_input(family))
    login(family)
    frozen_clock(OPENING)
    db.session.commit()
    commits: list[int] = []

    def count_commit(conn) -> None:  # type: ignore[no-untyped-def]
        commits.append(1)

    event.listen(db.engine, "commit", count_commit)
    try:
        with captured_sql() as seen:
            sent = client.post(f"/demandes/{prepared.application_id}/envoyer")
    finally:
        event.remove(db.engine, "commit", count_commit)
    assert sent.status_code == 303
    statements = [s for s in seen if not s.startswith(("BEGIN", "PRAGMA"))]
    assert len(statements) == 2, statements
    assert "FROM accounts" in statements[0] and "UPDATE applications" in statements[1]
    assert len(commits) == 1
    db.session.rollback()
    assert db.session.get(Application, prepared.application_id).status == "pending"


def test_the_family_follows_its_application_on_a_page_that_updates_itself(  # type: ignore[no-untyped-def]
        app, client, install, make_household, login, frozen_clock) -> None:
    install(opening_definition())
    app.config["ALLOCATION"] = "worker"
    family = make_household()
    prepared = prepare_application(registration_input(family))
    login(family)
    url = f"/demandes/{prepared.application_id}"
    page = client.get(url).get_data(as_text=True)
    assert "Votre demande est prête" in page and "disabled" in page and "1 octobre 2026" in page
    early = client.post(f"{url}/envoyer")
    assert early.status_code == 303
    assert "ouvre le" in client.get(url).get_data(as_text=True)

    frozen_clock(OPENING + dt.timedelta(seconds=1))
    sent = client.post(f"{url}/envoyer")
    assert sent.status_code == 303 and sent.headers["Location"].endswith(url)
    page = client.get(url).get_data(as_text=True)
    assert "n° 1 dans la file" in page
    assert '<meta http-equiv="refresh" content="5">' in page  # inside <noscript>
    assert client.get(f"{url}/etat").get_json() == {"status": "pending", "place_in_line": 1}

    drain("stage")
    page = client.get(url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page
    assert "Inscription confirmée" in page or "Acceptée" in page
    assert client.get(f"{url}/etat").get_json()["status"] == "decided"


def test_the_page_poll_is_three_small_queries(app, client, install, make_household, login,  # type: ignore[no-untyped-def]
                                            frozen_clock) -> None:
    """Every waiting family polls its state: the session's log-in, the application, the count of
    those before it; no account loaded, nothing written."""
    install(opening_definition())
    app.config["ALLOCATION"] = "worker"
    family, other = make_household(), make_household(last_name="Durand")
    prepared = prepare_application(registration_input(family))
    login(family)
    frozen_clock(OPENING)
    url = f"/demandes/{prepared.application_id}"
    assert client.post(f"{url}/envoyer").status_code == 303
    db.session.commit()
    with captured_sql() as seen:
        answer = client.get(f"{url}/etat")
    assert answer.get_json() == {"status": "pending", "place_in_line": 1}
    statements = [s for s in seen if not s.startswith(("BEGIN", "PRAGMA"))]
    assert len(statements) == 3 and all(s.startswith("SELECT") for s in statements), statements
    # Another household's application: not found; signed out: to the log-in page.
    other_app = prepare_application(registration_input(other))
    assert client.get(f"/demandes/{other_app.application_id}/etat").status_code == 404
    client.post("/deconnexion")
    assert client.get(f"{url}/etat").status_code == 302


def test_another_household_cannot_see_or_send_it(app, client, install, make_household, login, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    install(opening_definition())
    owner, other = make_household(), make_household(last_name="Durand")
    prepared = prepare_application(registration_input(owner))
    frozen_clock(OPENING)
    login(other)
    assert client.get(f"/demandes/{prepared.application_id}").status_code == 404
    assert client.post(f"/demandes/{prepared.application_id}/envoyer").status_code == 404
    db.session.rollback()
    assert db.session.get(Application, prepared.application_id).status == "prepared"


def test_a_session_from_before_a_password_change_cannot_send(app, client, install, make_household, login,  # type: ignore[no-untyped-def]
                                                            frozen_clock) -> None:
    """The send reads the session's account itself (without Flask-Login's full load): it checks the
    same fingerprint of the password hash, so an old session ends there too."""
    install(opening_definition())
    family = make_household()
    prepared = prepare_application(registration_input(family))
    account = login(family)
    account.set_password("a brand new password for this account")
    db.session.commit()
    frozen_clock(OPENING)
    sent = client.post(f"/demandes/{prepared.application_id}/envoyer")
    assert sent.status_code == 302 and "/connexion" in sent.headers["Location"]
    db.session.rollback()
    assert db.session.get(Application, prepared.application_id).status == "prepared"


def test_an_id_beyond_the_database_integer_is_not_found(app, client, install, make_household, login) -> None:  # type: ignore[no-untyped-def]
    """Every ``<int:...>`` of a URL stops at the database's largest id: 404, never a database error
    (PostgreSQL refuses to compare an INTEGER column with 2**31)."""
    install(opening_definition())
    login(make_household())
    for url in ("/demandes/2147483648", "/demandes/99999999999999999999/etat"):
        assert client.get(url).status_code == 404
    assert client.post("/demandes/2147483648/envoyer").status_code == 404
    assert client.get("/demandes/2147483647").status_code == 404  # the largest id: looked up, absent


def test_a_deactivated_account_sends_nothing(app, client, install, make_household, login, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    """The send reads the log-in with its own small query (auth.accounts.session_household_id):
    an account deactivated since the log-in is refused there too, as everywhere else."""
    from inscriptions.auth.accounts import session_household_id
    from inscriptions.models import Account

    install(opening_definition())
    app.config["ALLOCATION"] = "worker"
    family = make_household()
    prepared = prepare_application(registration_input(family))
    account = login(family)
    frozen_clock(OPENING)
    with app.test_request_context():
        from flask import session

        session["_user_id"] = account.get_id()
        assert session_household_id() == family.id
        db.session.get(Account, account.id).active = False
        db.session.commit()
        assert session_household_id() is None
    sent = client.post(f"/demandes/{prepared.application_id}/envoyer")
    assert sent.status_code in (302, 303) and "/connexion" in sent.headers["Location"]
    db.session.rollback()
    assert db.session.get(Application, prepared.application_id).status == "prepared"
