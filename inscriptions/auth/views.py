"""Views of the auth area: sign-up, log-in, log-out, password reset."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
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
from inscriptions.auth.forms import LoginForm, NewPasswordForm, ResetRequestForm, SignupForm
from inscriptions.auth.limits import failed_login, limiter, limits_off, setting, submitted_email
from inscriptions.auth.reset import account_for_reset_token, dummy_reset_token, make_reset_token
from inscriptions.extensions import db, login_manager

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
@limiter.limit(setting("SIGNUP_LIMIT_PER_IP"), methods=["POST"], exempt_when=limits_off)
def signup() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("family.household"))
    form = SignupForm()
    if form.validate_on_submit():
        if find_account(form.email.data) is not None:
            # Hash anyway: a taken address must not answer faster than a new one.
            _dummy_password_work(form.password.data)
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


def _dummy_password_work(password: str) -> None:
    from werkzeug.security import generate_password_hash

    generate_password_hash(password)


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(setting("LOGIN_LIMIT_PER_IP"), methods=["POST"], exempt_when=limits_off)
@limiter.limit(setting("LOGIN_LIMIT_PER_ACCOUNT"), methods=["POST"], key_func=submitted_email,
               deduct_when=failed_login, exempt_when=limits_off)
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


@bp.route("/mot-de-passe/oubli", methods=["GET", "POST"])
@limiter.limit(setting("RESET_LIMIT_PER_IP"), methods=["POST"], exempt_when=limits_off)
@limiter.limit(setting("RESET_LIMIT_PER_IP"), methods=["POST"], key_func=submitted_email, exempt_when=limits_off)
def forgot_password() -> ResponseReturnValue:
    """Ask for a reset link. The answer is the same whether the e-mail has an account or not."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        account = find_account(form.email.data)
        if account is not None and account.is_active:
            from inscriptions import jobs

            link = _absolute(url_for("auth.reset_password", token=make_reset_token(account)))
            jobs.enqueue("inscriptions.auth.reset:send_password_reset", account.id, link)
        else:
            # About the work of signing a token, so timing does not tell either.
            dummy_reset_token()
        return redirect(url_for("auth.forgot_password_sent"))
    return render_template("auth/forgot.html", form=form)


def _absolute(path: str) -> str:
    """The site's own address for a link sent by e-mail: ``PUBLIC_URL`` when set, so a forged
    ``Host`` header cannot make the reset e-mail point to another site."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return str(base).rstrip("/") + path
    return request.host_url.rstrip("/") + path


def _reset_minutes() -> int:
    return int(current_app.config["PASSWORD_RESET_MAX_AGE"]) // 60


@bp.get("/mot-de-passe/oubli/envoye")
def forgot_password_sent() -> ResponseReturnValue:
    return render_template("auth/forgot_sent.html", minutes=_reset_minutes())


@bp.route("/mot-de-passe/nouveau/<token>", methods=["GET", "POST"])
@limiter.limit(setting("RESET_LIMIT_PER_IP"), methods=["POST"], exempt_when=limits_off)
def reset_password(token: str) -> ResponseReturnValue:
    """Choose a new password from the e-mailed link; the link then stops working."""
    account = account_for_reset_token(token)
    if account is None:
        return render_template("auth/reset_invalid.html", minutes=_reset_minutes()), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        account.set_password(form.password.data)
        db.session.commit()
        logout_user()
        flash(_("Your password is changed. Log in with your new password."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, token=token)
