"""Views of the family area: a parent sees and edits their own household, and nothing else."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import exists, select

from inscriptions import TOWN_KEY
from inscriptions.extensions import db
from inscriptions.family.email_confirmation import request_confirmations
from inscriptions.family.forms import ChildForm, GuardianForm, HouseholdForm
from inscriptions.models import Child, Guardian, Household, Registration

bp = Blueprint("family", __name__, url_prefix="/mon-foyer")

MAX_GUARDIANS = 2


def _household() -> Household:
    """The signed-in parent's household; staff accounts have none and get a 403."""
    household = current_user.household
    if household is None:
        abort(403)
    return household


def _child(household: Household, child_id: int) -> Child:
    # Looked up inside the household: another family's id is simply "not found".
    child = db.session.scalar(select(Child).filter_by(id=child_id, household_id=household.id))
    if child is None:
        abort(404)
    return child


def _guardian(household: Household, guardian_id: int) -> Guardian:
    guardian = db.session.scalar(select(Guardian).filter_by(id=guardian_id, household_id=household.id))
    if guardian is None:
        abort(404)
    return guardian


def _has_registrations(child: Child) -> bool:
    return bool(db.session.scalar(select(exists().where(Registration.child_id == child.id))))


def _schools() -> list[str]:
    return list(current_app.extensions[TOWN_KEY].schools)


@bp.get("/")
@login_required
def household() -> ResponseReturnValue:
    home = _household()
    return render_template(
        "family/household.html",
        household=home,
        can_add_guardian=len(home.guardians) < MAX_GUARDIANS,
        account_guardian_id=current_user.guardian_id,
    )


@bp.route("/adresse", methods=["GET", "POST"])
@login_required
def edit_household() -> ResponseReturnValue:
    home = _household()
    form = HouseholdForm(obj=home)
    if form.validate_on_submit():
        home.address_line1 = form.address_line1.data
        home.address_line2 = form.address_line2.data or ""
        home.postcode = form.postcode.data
        home.city = form.city.data
        home.quotient_familial = form.quotient_familial.data
        db.session.commit()
        flash(_("Your household details are saved."), "success")
        return redirect(url_for("family.household"))
    return render_template("family/household_form.html", form=form)


@bp.route("/responsables/ajouter", methods=["GET", "POST"])
@login_required
def add_guardian() -> ResponseReturnValue:
    home = _household()
    if len(home.guardians) >= MAX_GUARDIANS:
        flash(_("A household has at most two guardians."), "error")
        return redirect(url_for("family.household"))
    form = GuardianForm()
    if form.validate_on_submit():
        guardian = Guardian(household_id=home.id)
        _fill_guardian(guardian, form)
        db.session.add(guardian)
        db.session.commit()
        _confirmation_sent(guardian)
        flash(_("%(name)s is added to your household.", name=guardian.full_name), "success")
        return redirect(url_for("family.household"))
    return render_template("family/guardian_form.html", form=form, guardian=None, is_self=False)


@bp.route("/responsables/<int:guardian_id>", methods=["GET", "POST"])
@login_required
def edit_guardian(guardian_id: int) -> ResponseReturnValue:
    home = _household()
    guardian = _guardian(home, guardian_id)
    # The account holder's e-mail is their log-in: it is not changed from this form.
    is_self = guardian.id == current_user.guardian_id
    form = GuardianForm(obj=guardian)
    if is_self:
        del form.email
    if form.validate_on_submit():
        before = guardian.email
        _fill_guardian(guardian, form)
        db.session.commit()
        if guardian.email != before:  # a new address: its owner is asked (the same one: nothing new)
            _confirmation_sent(guardian)
        flash(_("The details of %(name)s are saved.", name=guardian.full_name), "success")
        return redirect(url_for("family.household"))
    return render_template("family/guardian_form.html", form=form, guardian=guardian, is_self=is_self)


def _confirmation_sent(guardian: Guardian) -> None:
    if request_confirmations([guardian]):
        flash(_("A message was sent to %(email)s: the town writes there once its owner confirms it with the "
                "link it contains.", email=guardian.email), "info")


@bp.post("/responsables/<int:guardian_id>/confirmation")
@login_required
def resend_confirmation(guardian_id: int) -> ResponseReturnValue:
    """Send the confirmation link of a guardian's address again (lost, expired)."""
    guardian = _guardian(_household(), guardian_id)
    if FlaskForm().validate_on_submit():
        _confirmation_sent(guardian)
    return redirect(url_for("family.household"))


def _fill_guardian(guardian: Guardian, form: GuardianForm) -> None:
    guardian.first_name = form.first_name.data
    guardian.last_name = form.last_name.data
    guardian.phone = form.phone.data or None
    if "email" in form:
        guardian.email = form.email.data or None


@bp.route("/enfants/ajouter", methods=["GET", "POST"])
@login_required
def add_child() -> ResponseReturnValue:
    home = _household()
    form = ChildForm(schools=_schools())
    if not form.is_submitted() and home.guardians:
        # Most children share a guardian's last name: one field less to type on a phone.
        form.last_name.data = home.guardians[0].last_name
    if form.validate_on_submit():
        child = Child(household_id=home.id)
        _fill_child(child, form)
        db.session.add(child)
        db.session.commit()
        flash(_("%(name)s is added to your household.", name=child.full_name), "success")
        return redirect(url_for("family.household"))
    return render_template("family/child_form.html", form=form, child=None)


@bp.route("/enfants/<int:child_id>", methods=["GET", "POST"])
@login_required
def edit_child(child_id: int) -> ResponseReturnValue:
    home = _household()
    child = _child(home, child_id)
    form = ChildForm(obj=child, schools=_schools(), current_school=child.school)
    if form.validate_on_submit():
        _fill_child(child, form)
        db.session.commit()
        flash(_("The details of %(name)s are saved.", name=child.full_name), "success")
        return redirect(url_for("family.household"))
    return render_template("family/child_form.html", form=form, child=child)


def _fill_child(child: Child, form: ChildForm) -> None:
    child.first_name = form.first_name.data
    child.last_name = form.last_name.data
    child.birth_date = form.birth_date.data
    child.school = form.school_value
    child.class_name = form.class_name.data or ""


@bp.route("/enfants/<int:child_id>/retirer", methods=["GET", "POST"])
@login_required
def remove_child(child_id: int) -> ResponseReturnValue:
    """A confirmation page (GET), then the removal (POST); refused once the child has registrations."""
    home = _household()
    child = _child(home, child_id)
    # Registrations keep their history (and invoices may depend on them): the child stays.
    blocked = _has_registrations(child)
    form = FlaskForm()
    if form.validate_on_submit():
        if blocked:
            flash(
                _(
                    "%(name)s cannot be removed because registrations were made for this child. "
                    "Contact the family service if this child no longer lives with you.",
                    name=child.first_name,
                ),
                "error",
            )
            return redirect(url_for("family.household"))
        name = child.full_name
        db.session.delete(child)
        db.session.commit()
        flash(_("%(name)s is removed from your household.", name=name), "success")
        return redirect(url_for("family.household"))
    return render_template("family/child_remove.html", form=form, child=child, blocked=blocked)
