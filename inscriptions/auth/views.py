"""Views of the auth area: sign-up, log-in, log-out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from inscriptions.auth.accounts import (
    authenticate,
    create_family_account,
    find_account,
    record_login,
    safe_next,
)
from inscriptions.auth.forms import LoginForm, SignupForm
from inscriptions.extensions import login_manager

bp = Blueprint("auth", __name__)


@login_manager.unauthorized_handler
def _unauthorized() -> ResponseReturnValue:
    """Pages behind log-in send visitors to the log-in page, then back where they were."""
    flash(_("Please log in to see this page."), "info")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


def _after_login_url() -> str:
    target = safe_next(request.args.get("next"))
    if target:
        return target
    from inscriptions.counter.access import has_counter_access

    # Staff serving families land on the counter; parents on their household.
    return url_for("counter.home") if has_counter_access(current_user) else url_for("family.household")


@bp.route("/compte/creer", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("family.household"))
    form = SignupForm()
    if form.validate_on_submit():
        if find_account(form.email.data) is not None:
            form.email.errors.append(_duplicate_email_message())
        else:
            try:
                account = create_family_account(
                    email=form.email.data,
                    password=form.password.data,
                    first_name=form.first_name.data,
                    last_name=form.last_name.data,
                    phone=form.phone.data,
                    address_line1=form.address_line1.data,
                    postcode=form.postcode.data,
                    city=form.city.data,
                )
            except IntegrityError:
                # Another sign-up with this e-mail committed between our check and our insert.
                form.email.errors.append(_duplicate_email_message())
            else:
                login_user(account)
                record_login(account)
                flash(_("Your account is created. Now add your children to your household."), "success")
                return redirect(url_for("family.household"))
    return render_template("auth/signup.html", form=form)


def _duplicate_email_message() -> str:
    return _("An account already exists with this e-mail address. Log in, or use another address.")


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(_after_login_url())
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        account = authenticate(form.email.data, form.password.data)
        if account is not None:
            login_user(account, remember=form.remember.data)
            record_login(account)
            return redirect(_after_login_url())
        # One message whatever went wrong: it must not tell whether the e-mail has an account.
        failed = True
    next_url = safe_next(request.args.get("next"))
    return render_template("auth/login.html", form=form, failed=failed, next_url=next_url)


@bp.post("/deconnexion")
def logout() -> ResponseReturnValue:
    logout_user()
    flash(_("You are logged out."), "success")
    return redirect(url_for("portal.index"))
