"""Pages of personal data: the family's rights, photo consent, and the DPO's audit log.

Family (``manage_own_data``, own household only): ``/mon-foyer/donnees/`` (what is kept, downloads,
photo consent, account deletion), the JSON and PDF downloads, consent changes, the deletion.
Staff (``read_photo_consents``, per service): the photo consent list of a service.
DPO (``read_audit_log``): ``/dpo/journal``, filterable and paginated, each event in French words
(:mod:`inscriptions.privacy.journal`), and its CSV export.
Every staff read here, and the export, is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, PasswordField
from wtforms.validators import DataRequired

from inscriptions.audit import Action, action_label, log_access, log_read
from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import ACTIVE_STATUSES, Account, Child, Household, Registration
from inscriptions.permissions import can
from inscriptions.privacy import consent as consents
from inscriptions.privacy import journal
from inscriptions.privacy.anonymise import DeletionRefused, delete_account, live_registrations, other_accounts
from inscriptions.privacy.export import household_data, household_pdf

bp = Blueprint("privacy", __name__)

PAGE_SIZE = 50
CSV_INJECTION = ("=", "+", "-", "@", "\t", "\r")


# -- access ----------------------------------------------------------------------------------------

def _own_household() -> Household:
    """The signed-in parent's household; staff accounts (no household) get a 403."""
    if not can(current_user, "manage_own_data") or current_user.household is None:
        abort(403)
    return current_user.household


def _dpo() -> None:
    if not can(current_user, "read_audit_log"):
        abort(403)


@bp.app_template_global("may_read_audit_log")
def may_read_audit_log() -> bool:
    """Whether to show the "Journal d'audit" link (DPO only)."""
    return bool(current_user.is_authenticated and can(current_user, "read_audit_log"))


# -- the family's rights ---------------------------------------------------------------------------

class DeleteAccountForm(FlaskForm):
    """Deleting the account needs the password again and an explicit confirmation."""

    password = PasswordField(_l("Your password"), validators=[DataRequired(_l("Type your password."))])
    confirm = BooleanField(
        _l("I understand that my account and my household's data will be deleted."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


def _consent_rows(household: Household) -> list[dict[str, Any]]:
    """For each child and each service asking photo consent: the current state and the history."""
    rows = []
    for service in consents.consent_services():
        for child in household.children:
            rows.append({
                "child": child, "service": service,
                "current": consents.current(child.id, service.code),
                "history": consents.history(child.id, service.code),
            })
    return rows


@bp.get("/mon-foyer/donnees/")
@login_required
def my_data() -> ResponseReturnValue:
    household = _own_household()
    return render_template("privacy/my_data.html", household=household, consent_rows=_consent_rows(household))


@bp.get("/mon-foyer/donnees/export.json")
@login_required
def export_json() -> Response:
    household = _own_household()
    data = household_data(household)
    log_read(current_user.id, Action.DOWNLOAD_OWN_DATA, household.id, {"format": "json"})
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="mes-donnees-foyer-{household.id}.json"',
        "Cache-Control": "no-store",
    })


@bp.get("/mon-foyer/donnees/export.pdf")
@login_required
def export_pdf() -> Response:
    household = _own_household()
    pdf = household_pdf(household)
    log_read(current_user.id, Action.DOWNLOAD_OWN_DATA, household.id, {"format": "pdf"})
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="mes-donnees-foyer-{household.id}.pdf"',
        "Cache-Control": "no-store",
    })


@bp.post("/mon-foyer/donnees/photos/<int:child_id>/<service_code>")
@login_required
def photo_consent(child_id: int, service_code: str) -> ResponseReturnValue:
    household = _own_household()
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    child = db.session.scalar(select(Child).filter_by(id=child_id, household_id=household.id))
    service = consents.consent_service(service_code)
    if child is None or service is None:
        abort(404)
    action = request.form.get("action")
    if action == "give":
        changed = consents.give(child, service.code, current_user.id)
        message = _("Photo consent given for %(name)s.", name=child.first_name)
    elif action == "withdraw":
        changed = consents.withdraw(child, service.code, current_user.id)
        message = _("Photo consent withdrawn for %(name)s.", name=child.first_name)
    else:
        abort(400)
    if changed is not None:
        log_access(current_user.id, Action.PHOTO_CONSENT, household.id,
                   {"child_id": child.id, "service": service.code, "change": action, "consent_id": changed.id})
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".my_data") + "#photos")


@bp.route("/mon-foyer/donnees/supprimer", methods=["GET", "POST"])
@login_required
def delete_my_account() -> ResponseReturnValue:
    household = _own_household()
    account = db.session.get(Account, current_user.id)
    form = DeleteAccountForm()
    shared = bool(other_accounts(account))
    live = [] if shared else live_registrations(household.id)
    from inscriptions.registrations.cancel import cancellation_problem

    blocked = [(reg, problem) for reg in live if (problem := cancellation_problem(reg))]
    status = 200
    if form.validate_on_submit():
        if not account.check_password(form.password.data or ""):
            form.password.errors = [*form.password.errors, _("This password is not right.")]
            status = 422
        elif not blocked:
            try:
                delete_account(account, by="family", actor_id=account.id)
            except DeletionRefused:
                db.session.rollback()
                status = 409
            else:
                logout_user()
                flash(_("Your account is deleted. Thank you for using the town's services."), "success")
                return redirect(url_for("portal.index"))
        else:
            status = 409
    elif request.method == "POST":
        status = 422
    return render_template("privacy/delete_account.html", form=form, household=household, shared=shared,
                           live=live, blocked=blocked), status


# -- staff: photo consent of a service ----------------------------------------------------------

@bp.get("/guichet/photos/<service_code>")
@login_required
def staff_photo_consents(service_code: str) -> ResponseReturnValue:
    service = consents.consent_service(service_code)
    if service is None:
        abort(404)
    if not can(current_user, "read_photo_consents", service.code):
        abort(403)
    children = list(db.session.scalars(
        select(Child).join(Registration, Registration.child_id == Child.id)
        .where(Registration.service_code == service.code, Registration.status.in_(ACTIVE_STATUSES))
        .distinct().order_by(Child.last_name, Child.first_name)
    ))
    rows = [{"child": c, "current": consents.current(c.id, service.code),
             "history": consents.history(c.id, service.code)} for c in children]
    log_read(current_user.id, Action.READ_PHOTO_CONSENTS, None,
             {"service": service.code, "children": len(rows)})
    return render_template("privacy/staff_photos.html", service=service, rows=rows)


# -- the DPO's audit log ---------------------------------------------------------------------------

@bp.get("/dpo/journal")
@login_required
def audit_journal() -> ResponseReturnValue:
    _dpo()
    actions = journal.known_actions()
    filters = journal.read_filters(request.args, actions)
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100000))
    args = filters.applied()
    log_read(current_user.id, Action.READ_AUDIT_LOG, None, {**args, "page": page})
    pagination = db.paginate(journal.journal_query(filters), page=page, per_page=PAGE_SIZE, error_out=False)
    rows = journal.journal_rows(list(pagination.items))
    choices = [(code, action_label(code)) for code in actions]
    return render_template("privacy/journal.html", rows=rows, pagination=pagination, filters=filters,
                           args=args, actions=choices)


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ would be read as a formula by a spreadsheet.
    return "'" + text if text.startswith(CSV_INJECTION) else text


@bp.get("/dpo/journal.csv")
@login_required
def audit_journal_csv() -> ResponseReturnValue:
    _dpo()
    filters = journal.read_filters(request.args, journal.known_actions())
    if filters.errors:
        # No export wider than asked: back to the page, which says what to correct.
        return redirect(url_for(".audit_journal", **request.args))
    events = list(db.session.scalars(journal.journal_query(filters)))
    # The export is itself logged (committed before the file leaves).
    log_read(current_user.id, Action.EXPORT_AUDIT_LOG, None, {**filters.applied(), "rows": len(events)})
    emails = journal.emails(events)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    # The machine-readable columns first (codes, UTC, JSON), then the same event in French words.
    writer.writerow(["id", "at_utc", "actor_account_id", "actor_email", "action", "household_id",
                     "registration_id", "detail", "reason", "action_label", "at_local"])
    for e in events:
        writer.writerow([_csv_cell(v) for v in (
            e.id, e.at.isoformat(sep=" ", timespec="seconds"), e.actor_account_id,
            emails.get(e.actor_account_id or 0, ""), e.action, e.household_id, e.registration_id,
            json.dumps(e.detail or {}, ensure_ascii=False, sort_keys=True), e.reason,
            action_label(e.action), journal.moment(e.at))])
    stamp = utcnow_naive().date().isoformat()
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="journal-audit-{stamp}.csv"',
        "Cache-Control": "no-store",
    })


@bp.app_template_global("retention_notice")
def retention_notice() -> dict[str, Any]:
    """What the privacy notice says is kept and for how long, read from the settings."""
    from inscriptions.definitions.registry import registry
    from inscriptions.privacy.settings import privacy_settings

    settings = privacy_settings()
    return {
        "services": [(s.definition.name, s.definition.retention_months) for s in registry().all()],
        "account_inactive_days": settings.account_inactive_days,
        "account_inactive_years": round(settings.account_inactive_days / 365, 1),
        "account_warning_days": settings.account_warning_days,
        "audit_retention_months": settings.audit_retention_months,
        "photo_services": consents.consent_services(),
    }
