"""Pages of personal data: the family's rights, photo consent, and the DPO's audit log.

Family (``manage_own_data``, own household only): ``/mon-foyer/donnees/`` (what is kept, downloads,
photo consent, account deletion), the JSON and PDF downloads, consent changes, the deletion.
Staff (``read_photo_consents``, per service): the photo consent list of a service.
DPO (``read_audit_log``): ``/dpo/journal``, filterable and paginated, each event in French words
(:mod:`inscriptions.privacy.journal`), and its CSV export. DPO (``produce_household_data``):
``/dpo/donnees-foyer``, any household's data (ZIP or PDF) on request, the request logged as reason.
DPO (``erase_household``): ``/dpo/effacement-foyer``, any household erased on request, after a
page counting what goes; the request is logged as reason.
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
from wtforms import BooleanField, IntegerField, PasswordField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from inscriptions.audit import REASON_MAX, Action, action_label, log_access, log_read
from inscriptions.clock import utcnow_naive
from inscriptions.digits import is_id
from inscriptions.extensions import db
from inscriptions.models import ACTIVE_STATUSES, Account, Child, Household, Registration
from inscriptions.permissions import PARENT, can
from inscriptions.privacy import consent as consents
from inscriptions.privacy import journal
from inscriptions.privacy.anonymise import (
    DeletionRefused,
    delete_account,
    erase_household,
    erasure_preview,
    live_registrations,
    other_accounts,
)
from inscriptions.privacy.export import household_data, household_pdf, household_zip

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


@bp.app_template_global("may_produce_household_data")
def may_produce_household_data() -> bool:
    """Whether to show the link to produce a household's data (DPO only)."""
    return bool(current_user.is_authenticated and can(current_user, "produce_household_data"))


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
    log_read(current_user.id, Action.DOWNLOAD_OWN_DATA, household.id, {"format": "json"}, role=PARENT)
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
    log_read(current_user.id, Action.DOWNLOAD_OWN_DATA, household.id, {"format": "pdf"}, role=PARENT)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="mes-donnees-foyer-{household.id}.pdf"',
        "Cache-Control": "no-store",
    })


@bp.get("/mon-foyer/donnees/export.zip")
@login_required
def export_zip() -> Response:
    household = _own_household()
    archive = household_zip(household)
    log_read(current_user.id, Action.DOWNLOAD_OWN_DATA, household.id, {"format": "zip"})
    return _download(archive, "application/zip", f"mes-donnees-foyer-{household.id}.zip")


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
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
                   {"child_id": child.id, "service": service.code, "change": action, "consent_id": changed.id},
                   role=PARENT)
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
             {"service": service.code, "children": len(rows)}, households=[c.household_id for c in children])
    return render_template("privacy/staff_photos.html", service=service, rows=rows)


# -- the DPO: a household's data on request ----------------------------------------------------------

class HouseholdDataForm(FlaskForm):
    """The household whose data the DPO produces, and the request it answers (logged)."""

    household = IntegerField(
        _l("Household number"),
        description=_l("It is shown in the audit log and on the counter's household page."),
        validators=[InputRequired(_l("Type the household number.")),
                    NumberRange(min=1, max=2**31 - 1, message=_l("Type the household number."))],
    )
    reason = TextAreaField(
        _l("Request answered"),
        description=_l("For example: letter of 3 March from Mrs Martin asking for her data (right of access)."),
        filters=[lambda value: (value or "").strip()],
        validators=[DataRequired(_l("Say which request this answers.")),
                    Length(min=10, max=REASON_MAX, message=_l("Say which request this answers, in a few words "
                                                              "(at most 500 characters)."))],
    )


DPO_FORMATS = {"zip": ("application/zip", household_zip), "pdf": ("application/pdf", household_pdf)}


@bp.route("/dpo/donnees-foyer", methods=["GET", "POST"])
@login_required
def dpo_household_data() -> ResponseReturnValue:
    """The right of access of any household, paper-only ones included: the same ZIP or PDF as the
    family's own download, produced by the DPO on request; the reason is written in the journal."""
    if not can(current_user, "produce_household_data"):
        abort(403)
    form = HouseholdDataForm()
    if request.method == "GET" and is_id(request.args.get("household", "")):
        form.household.data = int(request.args["household"])
    fmt = request.form.get("format", "zip")
    if fmt not in DPO_FORMATS:
        abort(400)
    if form.validate_on_submit():
        household = db.session.get(Household, form.household.data)
        if household is None:
            form.household.errors = [*form.household.errors, _("There is no household with this number.")]
        else:
            mimetype, produce = DPO_FORMATS[fmt]
            # Logged (and committed) before the file is made: the export lists this event too.
            log_read(current_user.id, Action.PRODUCE_HOUSEHOLD_DATA, household.id, {"format": fmt},
                     form.reason.data or "")
            return _download(produce(household), mimetype, f"donnees-foyer-{household.id}.{fmt}")
    status = 422 if request.method == "POST" else 200
    return render_template("privacy/dpo_household_data.html", form=form), status


# -- the DPO: erasing a household on request -------------------------------------------------------

class ErasureForm(FlaskForm):
    """The request the erasure answers (logged) and the DPO's confirmation."""

    reason = TextAreaField(
        _l("Request answered"),
        description=_l("For example: letter of 3 March from Mr Martin asking for his family's data to be "
                       "erased (right to erasure)."),
        filters=[lambda value: (value or "").strip()],
        validators=[DataRequired(_l("Say which request this answers.")),
                    Length(min=10, max=REASON_MAX, message=_l("Say which request this answers, in a few words "
                                                              "(at most 500 characters)."))],
    )
    confirm = BooleanField(
        _l("I have checked that this is the right household, and I understand that nothing erased can be "
           "recovered."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


@bp.app_template_global("may_erase_households")
def may_erase_households() -> bool:
    """Whether to show the link to erase a household (DPO only)."""
    return bool(current_user.is_authenticated and can(current_user, "erase_household"))


@bp.route("/dpo/effacement-foyer", methods=["GET", "POST"])
@login_required
def erase_household_page() -> ResponseReturnValue:
    """The right to erasure of any household, paper-only families included: the household's number
    first, then what will be deleted (counts) with the request answered, then the erasure."""
    if not can(current_user, "erase_household"):
        abort(403)
    raw = request.values.get("household", "").strip()
    household_id = int(raw) if is_id(raw) and int(raw) > 0 else None
    preview = erasure_preview(household_id) if household_id is not None else None
    form = ErasureForm()
    if preview is None:
        # No household chosen yet, or none with this number (erased already, perhaps).
        status = 404 if raw else 200
        return render_template("privacy/erase_household.html", preview=None, form=form, typed=raw,
                               not_found=bool(raw)), status
    if request.method == "POST" and form.validate_on_submit():
        try:
            done = erase_household(preview.household_id, actor_id=current_user.id, reason=form.reason.data or "")
        except DeletionRefused:  # erased meanwhile (another tab, the purge)
            db.session.rollback()
            abort(404)
        flash(_("Household %(id)s is erased: %(registrations)s registrations anonymised (%(cancelled)s of them "
                "cancelled), %(files)s files deleted.", id=done.household_id,
                registrations=done.removal.registrations, cancelled=done.cancelled,
                files=len(done.removal.files)), "success")
        return redirect(url_for(".audit_journal", household=done.household_id))
    # The page names the family (the DPO checks it is the right one): a read of its names.
    log_read(current_user.id, Action.IDENTIFY_HOUSEHOLD, preview.household_id, {"erasure_asked": True})
    status = 422 if request.method == "POST" else 200
    return render_template("privacy/erase_household.html", preview=preview, form=form, typed=raw,
                           not_found=False), status


# -- the DPO's audit log ---------------------------------------------------------------------------

@bp.get("/dpo/journal")
@login_required
def audit_journal() -> ResponseReturnValue:
    _dpo()
    actions = journal.known_actions()
    filters = journal.read_filters(request.args, actions)
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100000))
    args = filters.applied()
    # The page shows families' data too (what was searched for, a parent's own e-mail): its read
    # names the households of the events it shows (read before this read is logged, which then
    # shows on top: the households of one more event, never one less).
    shown = db.paginate(journal.journal_query(filters), page=page, per_page=PAGE_SIZE, error_out=False)
    log_read(current_user.id, Action.READ_AUDIT_LOG, None, {**args, "page": page},
             households=journal.households_of(list(shown.items)))
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
    log_read(current_user.id, Action.EXPORT_AUDIT_LOG, None, {**filters.applied(), "rows": len(events)},
             households=journal.households_of(events))
    emails = journal.emails(events)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    # The machine-readable columns first (codes, UTC, JSON), then the same event in French words.
    # Role and channel (issue 17) come last: the columns before keep their places.
    writer.writerow(["id", "at_utc", "actor_account_id", "actor_email", "action", "household_id",
                     "registration_id", "detail", "reason", "action_label", "at_local",
                     "role", "channel", "role_label", "channel_label"])
    for e in events:
        writer.writerow([_csv_cell(v) for v in (
            e.id, e.at.isoformat(sep=" ", timespec="seconds"), e.actor_account_id,
            emails.get(e.actor_account_id or 0, ""), e.action, e.household_id, e.registration_id,
            json.dumps(e.detail or {}, ensure_ascii=False, sort_keys=True), e.reason,
            action_label(e.action), journal.moment(e.at),
            e.role, e.channel, journal.role_text(e.role), journal.channel_text(e.channel))])
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
        "paper_household_retention_months": settings.paper_household_retention_months,
        "draft_retention_days": settings.draft_retention_days,
        "scan_retention_days": settings.scan_retention_days,
        "print_retention_days": settings.print_retention_days,
        "photo_services": consents.consent_services(),
    }
