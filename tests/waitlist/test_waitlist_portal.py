"""Parents' pages: waiting-list position, the offer with its deadline, accepting and declining."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext
from markupsafe import Markup, escape
from waitlist_helpers import fresh, statuses

from inscriptions.models import Status
from inscriptions.registrations import waitlist
from inscriptions.registrations.cancel import cancel_registration


def text(msgid: str, **variables: object) -> str:
    """A string written by Python (flash message) as the page shows it: translated, HTML-escaped."""
    return str(escape(gettext(msgid, **variables)))


def template_text(msgid: str, **variables: object) -> str:
    """A string of a template as Jinja's i18n shows it: translation kept as is, variables escaped."""
    return str(Markup(gettext(msgid)) % variables)  # noqa: S704 - what Jinja does with a trusted catalog


def setup_list(make_household, book):  # type: ignore[no-untyped-def]
    """Two places taken, then three households waiting; returns (placed ids, waiting households)."""
    placed = [book(make_household()).registration_ids[0] for _ in range(2)]
    waiting = [make_household() for _ in range(3)]
    for household in waiting:
        assert book(household).status == Status.WAITLISTED
    return placed, waiting


def reg_of(household) -> int:  # type: ignore[no-untyped-def]
    from inscriptions.extensions import db
    from inscriptions.models import Registration

    db.session.expire_all()
    return db.session.scalar(db.select(Registration.id).filter_by(household_id=household.id))


def test_position_on_my_registrations_and_detail(client, login, make_household, book) -> None:
    _placed, waiting = setup_list(make_household, book)
    login(waiting[2])
    reg = fresh(reg_of(waiting[2]))
    listing = client.get("/mes-inscriptions").get_data(as_text=True)
    assert template_text("You are number %(position)s on the waiting list.", position=3) in listing
    detail = client.get(f"/mes-inscriptions/{reg.reference}").get_data(as_text=True)
    assert template_text("You are number %(position)s on the waiting list.", position=3) in detail
    assert "/offre/accepter" not in detail


def test_offer_shows_deadline_and_accepting_registers(client, login, make_household, book) -> None:
    placed, waiting = setup_list(make_household, book)
    cancel_registration(placed[0], by_id=None)
    reg = fresh(reg_of(waiting[0]))
    assert reg.status == Status.OFFERED
    login(waiting[0])
    deadline = waitlist.moment_text(reg.offer_expires_at)
    for url in ("/mes-inscriptions", f"/mes-inscriptions/{reg.reference}"):
        page = client.get(url).get_data(as_text=True)
        assert deadline in page
        assert f'action="/mes-inscriptions/{reg.reference}/offre/accepter"' in page
        assert f'href="/mes-inscriptions/{reg.reference}/offre/refuser"' in page
        assert 'name="csrf_token"' in page
    # The second household, still waiting, is now first in line.
    assert waitlist.position(fresh(reg_of(waiting[1]))) == 1

    response = client.post(f"/mes-inscriptions/{reg.reference}/offre/accepter")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/mes-inscriptions/{reg.reference}")
    accepted = fresh(reg.id)
    assert accepted.status == Status.ACCEPTED
    assert accepted.history[-1].by_id is not None  # the parent's account
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert text("You accepted the place offered for %(names)s.", names=accepted.participant_name) in page
    assert "/offre/accepter" not in page


def test_decline_asks_then_offers_the_next(client, login, make_household, book) -> None:
    placed, waiting = setup_list(make_household, book)
    cancel_registration(placed[0], by_id=None)
    reg = fresh(reg_of(waiting[0]))
    login(waiting[0])
    url = f"/mes-inscriptions/{reg.reference}/offre/refuser"
    confirm = client.get(url)
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert template_text("Decline the place offered?") in page and 'name="csrf_token"' in page
    assert fresh(reg.id).status == Status.OFFERED  # asking changes nothing

    response = client.post(url)
    assert response.status_code == 302
    ids = [reg_of(h) for h in waiting]
    assert statuses(ids) == [Status.CANCELLED, Status.OFFERED, Status.WAITLISTED]
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert text("You declined the place offered for %(names)s.", names=fresh(reg.id).participant_name) in shown


def test_overdue_offer_is_refused_with_a_message(client, login, make_household, book, frozen_clock) -> None:
    placed, waiting = setup_list(make_household, book)
    cancel_registration(placed[0], by_id=None)
    reg = fresh(reg_of(waiting[0]))
    login(waiting[0])
    frozen_clock(dt.datetime(2026, 9, 17, 9, 0, tzinfo=dt.UTC))  # past the 48 h
    detail = client.get(f"/mes-inscriptions/{reg.reference}").get_data(as_text=True)
    assert "/offre/accepter" not in detail  # no button once overdue, even before the cron
    assert template_text("The deadline to answer this offer has passed: the place goes to the next family on "
                         "the waiting list.") in detail
    response = client.post(f"/mes-inscriptions/{reg.reference}/offre/accepter")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert text("The deadline to answer this offer has passed: the place was offered to the next family "
                "on the waiting list.") in page
    assert statuses([reg_of(h) for h in waiting]) == [Status.CANCELLED, Status.OFFERED, Status.WAITLISTED]


def test_another_household_gets_404(client, login, make_household, book) -> None:
    placed, waiting = setup_list(make_household, book)
    cancel_registration(placed[0], by_id=None)
    reg = fresh(reg_of(waiting[0]))
    login(waiting[1])
    assert client.get(f"/mes-inscriptions/{reg.reference}/offre/refuser").status_code == 404
    assert client.post(f"/mes-inscriptions/{reg.reference}/offre/refuser").status_code == 404
    assert client.post(f"/mes-inscriptions/{reg.reference}/offre/accepter").status_code == 404
    assert fresh(reg.id).status == Status.OFFERED


def test_answer_pages_need_a_login_and_an_offer(client, login, make_household, book) -> None:
    _placed, waiting = setup_list(make_household, book)
    reg = fresh(reg_of(waiting[0]))
    response = client.post(f"/mes-inscriptions/{reg.reference}/offre/accepter")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    login(waiting[0])
    # Still waiting: nothing to answer.
    response = client.post(f"/mes-inscriptions/{reg.reference}/offre/accepter")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert text("There is no place offered to answer for this registration.") in page
    assert fresh(reg.id).status == Status.WAITLISTED


def test_detail_explains_the_closed_cancellation(client, login, make_household, book, frozen_clock) -> None:
    household = make_household()
    [reg_id] = book(household).registration_ids
    reg = fresh(reg_id)
    login(household)
    assert f"/mes-inscriptions/{reg.reference}/annulation" in client.get(
        f"/mes-inscriptions/{reg.reference}").get_data(as_text=True)
    frozen_clock(dt.datetime(2026, 9, 30, 8, 0, tzinfo=dt.UTC))
    page = client.get(f"/mes-inscriptions/{reg.reference}").get_data(as_text=True)
    message = text("Online cancelling closed on %(when)s. Please contact the town's services.",
                   when=waitlist.moment_text(dt.datetime(2026, 9, 29, 8, 0)))
    assert message in page
    assert f'href="/mes-inscriptions/{reg.reference}/annulation"' not in page
    # Forcing the URL is refused with the same explanation.
    response = client.post(f"/mes-inscriptions/{reg.reference}/annulation")
    assert message in client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(reg_id).status == Status.ACCEPTED
