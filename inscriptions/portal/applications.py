"""The family's applications: sending a prepared one at opening, and following it until decided.

``POST /demandes/<id>/envoyer`` is the opening-morning request: the CSRF token, then one
transaction with the session's log-in checked (one small query) and
:func:`inscriptions.allocation.queue.send_prepared` (one UPDATE in worker mode), and a
redirect. Nothing else: no form definition, no validation (done when the application was
prepared), no job. ``GET /demandes/<id>`` says "received at 08:30:01, n° 437 in
the queue" and updates itself (meta refresh without JavaScript, a light poll of
``/demandes/<id>/etat`` with it) until the allocator has decided.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from inscriptions import clock
from inscriptions.allocation import explain
from inscriptions.allocation.queue import NotSendable, NotYetOpen, send_prepared
from inscriptions.allocation.status import application_status, place_in_line
from inscriptions.auth.accounts import session_household_id
from inscriptions.database import BusyError
from inscriptions.extensions import db, login_manager
from inscriptions.models import Application, ApplicationStatus
from inscriptions.paper.decision import decision_pdf
from inscriptions.registrations.create import RegistrationInput, RegistrationRefused, prepare_application
from inscriptions.registrations.windows import moment_text

bp = Blueprint("applications", __name__)

# Seconds between two automatic refreshes of a pending application's page without JavaScript
# (with it, the page polls its state, less and less often: static/js/application.js).
REFRESH_S = 5


def _household_id() -> int:
    guardian = current_user.guardian
    if guardian is None:
        abort(403)  # staff accounts have no household: the portal is for families
    return guardian.household_id


def _own(application_id: int) -> Application:
    application = db.session.get(Application, application_id)
    if application is None or application.household_id != _household_id():
        abort(404)  # someone else's application: say nothing of it
    return application


def arrival_rank(application: Application) -> int | None:
    """The application's number in its service's queue: how many were sent before it, plus one."""
    if application.queue_number is None:
        return None
    return int(db.session.scalar(select(func.count(Application.id)).where(
        Application.service_code == application.service_code,
        Application.queue_number.is_not(None),
        Application.queue_number <= application.queue_number,
    )) or 0)


@bp.post("/inscription/<token>/preparer")
@login_required
def prepare(token: str) -> Any:
    """Keep a complete form as an application ready to send (before opening, or to send later)."""
    from inscriptions.portal.views import _wizard  # the draft with its household and answers

    wizard = _wizard(token)
    if wizard.draft.submitted_batch:
        return redirect(url_for("portal.confirmation", token=token), code=303)
    try:
        outcome = prepare_application(RegistrationInput(
            service_code=wizard.service.code,
            household_id=wizard.household.id,
            participants=wizard.inputs(),
            channel="web",
            keyed_by_id=current_user.id,
            wishes=wizard.wishes,
            form_version_id=wizard.draft.form_version_id,
            draft_id=wizard.draft.id,
            waitlist_together=request.form.get("waitlist_together") == "1",
        ))
    except RegistrationRefused as exc:
        for message in exc.general or [_("Some answers need to be checked before you confirm.")]:
            flash(message, "error")
        return redirect(url_for("portal.review", token=token), code=303)
    except BusyError:
        flash(_("The service is very busy. Nothing was saved: please try again in a few seconds."), "error")
        return redirect(url_for("portal.review", token=token), code=303)
    return redirect(url_for(".show", application_id=outcome.application_id), code=303)


def prepared_for(draft_id: int) -> Application | None:
    """The application prepared (or sent) from a web draft, if any."""
    return db.session.scalar(select(Application).where(Application.draft_id == draft_id))


class _NoSessionLogIn(Exception):
    """The session cookie holds no valid family log-in (Flask-Login's full path decides)."""


def _session_household() -> int:
    household_id = session_household_id()
    if household_id is None:
        raise _NoSessionLogIn()
    return household_id


@bp.post("/demandes/<int:application_id>/envoyer")
def send(application_id: int) -> Any:
    # The opening-morning request: the family's household read from the session cookie with one
    # small query inside the send's own transaction (one BEGIN, two statements, one COMMIT);
    # Flask-Login's full path only when that is not enough (remember-me cookie, no log-in).
    try:
        return _send(application_id, _session_household)
    except _NoSessionLogIn:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return _send(application_id, _household_id())


def _send(application_id: int, household_id: int | Callable[[], int]) -> Any:
    try:
        send_prepared(application_id, household_id)
    except NotSendable:
        abort(404)
    except NotYetOpen as exc:
        when = moment_text(exc.opens_at.replace(tzinfo=dt.UTC)) if exc.opens_at else ""
        flash(_("Sending opens on %(when)s: come back then, your application is ready.", when=when), "error")
        return redirect(url_for(".show", application_id=application_id)), 303
    except BusyError:
        flash(_("The service is very busy. Nothing was saved: please try again in a few seconds."), "error")
        return redirect(url_for(".show", application_id=application_id)), 303
    return redirect(url_for(".show", application_id=application_id), code=303)


@bp.get("/demandes/<int:application_id>")
@login_required
def show(application_id: int) -> Any:
    application = _own(application_id)
    state = application_status(application)
    pending = application.status == ApplicationStatus.PENDING
    town = current_app.extensions["inscriptions.town"]
    return render_template(
        "portal/application.html",
        application=application,
        state=state,
        legal_mention=explain.legal_mention(str(town.contact.email or town.contact.name)),
        rank=arrival_rank(application),
        received=format_datetime(application.submitted_at.replace(tzinfo=dt.UTC), "HH:mm:ss")
        if application.submitted_at else None,
        # Prepared, not yet sendable: the button says from when.
        opens=moment_text(application.opens_at.replace(tzinfo=dt.UTC))
        if application.status == ApplicationStatus.PREPARED and application.opens_at
        and application.opens_at > clock.utcnow_naive() else None,
        # Waiting for a draw days away: nothing to follow until then (the answer comes by e-mail too).
        refresh=REFRESH_S if pending and not state.draw_at else None,
    )


@bp.get("/demandes/<int:application_id>/decision.pdf")
@login_required
def decision_detail(application_id: int) -> Any:
    """The detail of how the application was ranked and decided (CRPA L311-3-1), as a PDF."""
    application = _own(application_id)
    state = application_status(application)
    if state.explanation is None:
        abort(404)  # decided by arrival, or not ranked yet: nothing an algorithm decided
    return Response(decision_pdf(application, state), mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="decision-{state.public_id}.pdf"',
        "Cache-Control": "no-store",
    })


@bp.get("/demandes/<int:application_id>/etat")
def state(application_id: int) -> Any:
    """The page's poll (JavaScript): whether it is decided yet, and the place in line.

    Every family waiting at an opening polls it, so it is as lean as the send: the session's
    log-in read with one small query (Flask-Login's full path only when that is not enough), the
    application's state with another, and while pending the count of those before it."""
    household_id = session_household_id()
    if household_id is None:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        household_id = _household_id()
    found = db.session.execute(
        select(Application.status, Application.service_code, Application.queue_number)
        .where(Application.id == application_id, Application.household_id == household_id)
    ).first()
    if found is None:
        abort(404)  # someone else's application: say nothing of it
    place = None
    if found.status == ApplicationStatus.PENDING:
        place = place_in_line(found.service_code, found.queue_number)
    return jsonify(status=found.status, place_in_line=place)
