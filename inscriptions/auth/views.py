"""Views of the auth area: sign-up, log-in, log-out, password reset."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError

from inscriptions import clock
from inscriptions.auth.accounts import (
    authenticate,
    create_family_account,
    find_account,
    record_login,
    safe_next,
)
from inscriptions.auth.forms import ChangePasswordForm, LoginForm, NewPasswordForm, ResetRequestForm, SignupForm
from inscriptions.auth.limits import (
    account_limit_exempt,
    account_locked,
    failed_login,
    limiter,
    limits_off,
    setting,
    submitted_email,
)
from inscriptions.auth.passwords import hash_password
from inscriptions.auth.reset import account_for_reset_token, dummy_reset_token, make_reset_token
from inscriptions.auth.signup import PendingSignup, make_signup_token, pending_signup_for_token
from inscriptions.auth.signup import max_age as signup_max_age
from inscriptions.auth.unlock import account_for_unlock_token, unlock_browser
from inscriptions.extensions import db, login_manager
from inscriptions.models import Account
from inscriptions.urls import site_url

bp = Blueprint("auth", __name__)


@login_manager.unauthorized_handler
def _unauthorized() -> ResponseReturnValue:
    """Pages behind log-in send visitors to the log-in page, then back where they were."""
    flash(_("Please log in to see this page."), "info")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


def home_url() -> str:
    """The first page of the signed-in account, one its role may open: staff serving families
    land on the counter, parents on their household, the data protection officer on the audit
    log, any other staff account on the back office home (the site's home page otherwise)."""
    from inscriptions.counter.access import has_counter_access
    from inscriptions.permissions import can

    if has_counter_access(current_user):
        return url_for("counter.home")
    if current_user.household is not None:
        return url_for("family.household")
    if can(current_user, "read_audit_log"):
        return url_for("privacy.audit_journal")
    if can(current_user, "use_backoffice"):
        return url_for("backoffice.home")
    return url_for("portal.index")


def _after_login_url() -> str:
    return safe_next(request.args.get("next")) or home_url()


def _mail_sent(response: Response) -> bool:
    """Only accepted sign-ups (which send an e-mail, then redirect) count per address."""
    return response.status_code == 302


@bp.route("/compte/creer", methods=["GET", "POST"])
@limiter.limit(setting("SIGNUP_LIMIT_PER_IP"), methods=["POST"], exempt_when=limits_off)
# Each accepted sign-up sends an e-mail: cap the messages one address can be sent.
@limiter.limit(setting("SIGNUP_LIMIT_PER_IP"), methods=["POST"], key_func=submitted_email,
               deduct_when=_mail_sent, exempt_when=limits_off)
def signup() -> ResponseReturnValue:
    """Sign-up form. A valid form always leads to the same "check your mailbox" page: whether
    the address already has an account is said only in the e-mail sent to that address."""
    if current_user.is_authenticated:
        return redirect(home_url())
    form = SignupForm()
    if form.validate_on_submit():
        from inscriptions import jobs

        # The same work either way (a password hash, a signed token, one e-mail), so the
        # answer's timing does not tell either.
        pending = PendingSignup(
            email=form.email.data,
            password_hash=hash_password(form.password.data),
            first_name=form.first_name.data,
            last_name=form.last_name.data,
            phone=form.phone.data or None,
            address_line1=form.address_line1.data,
            postcode=form.postcode.data,
            city=form.city.data,
        )
        token = make_signup_token(pending)
        account = find_account(form.email.data)
        if account is None:
            link = _absolute(url_for("auth.signup_confirm", token=token))
            jobs.enqueue("inscriptions.auth.signup:send_signup_confirmation", link)
        else:
            jobs.enqueue("inscriptions.auth.signup:send_signup_existing", account.id,
                         _absolute(url_for("auth.login")), _absolute(url_for("auth.forgot_password")))
        return redirect(url_for("auth.signup_sent"))
    return render_template("auth/signup.html", form=form)


@bp.get("/compte/creer/envoye")
def signup_sent() -> ResponseReturnValue:
    return render_template("auth/signup_sent.html", hours=signup_max_age() // 3600)


@bp.route("/compte/confirmer/<token>", methods=["GET", "POST"])
@limiter.limit(setting("SIGNUP_LIMIT_PER_IP"), methods=["POST"], exempt_when=limits_off)
def signup_confirm(token: str) -> ResponseReturnValue:
    """The e-mailed link: a page with one button that creates the account and logs the parent
    in. A button rather than on opening: mail scanners open links, they do not press buttons."""
    pending = pending_signup_for_token(token)
    if pending is None:
        return render_template("auth/signup_invalid.html", hours=signup_max_age() // 3600), 404
    if current_user.is_authenticated:
        return redirect(home_url())
    if find_account(pending.email) is not None:
        return _signup_already_done(pending)
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            account = create_family_account(
                email=pending.email,
                password_hash=pending.password_hash,
                first_name=pending.first_name,
                last_name=pending.last_name,
                phone=pending.phone,
                address_line1=pending.address_line1,
                postcode=pending.postcode,
                city=pending.city,
            )
        except IntegrityError:
            # The same link used twice at the same moment: the other use created the account.
            return _signup_already_done(pending)
        login_user(account)
        record_login(account)
        flash(_("Your account is created. Now add your children to your household."), "success")
        return redirect(url_for("family.household"))
    return render_template("auth/signup_confirm.html", form=form, pending=pending, token=token)


@bp.route("/adresse/confirmer/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> ResponseReturnValue:
    """The link e-mailed to a guardian's new address: a page with one button that confirms it
    (a button: mail scanners open links, they do not press buttons). Whoever holds the link may
    confirm, signed in or not: it proves the address receives mail."""
    from inscriptions.family.email_confirmation import MAX_AGE_S, confirm, guardian_for_token

    guardian = guardian_for_token(token)
    if guardian is None:
        return render_template("auth/confirm_email_invalid.html", days=MAX_AGE_S // 86400), 404
    form = FlaskForm()
    if guardian.email_confirmed_at is None and form.validate_on_submit():
        confirm(guardian)
        db.session.commit()
    return render_template("auth/confirm_email.html", form=form, token=token, email=guardian.email,
                           confirmed=guardian.email_confirmed_at is not None)


def _signup_already_done(pending: PendingSignup) -> ResponseReturnValue:
    """A used link (or an address that got an account since): no second account, say so."""
    return render_template("auth/signup_done.html", email=pending.email), 409


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(setting("LOGIN_LIMIT_PER_IP"), methods=["POST"], exempt_when=limits_off)
@limiter.limit(setting("LOGIN_LIMIT_PER_ACCOUNT"), methods=["POST"], key_func=submitted_email,
               deduct_when=failed_login, exempt_when=account_limit_exempt, on_breach=account_locked)
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
        failed = g.login_failed = True
    next_url = safe_next(request.args.get("next"))
    return render_template("auth/login.html", form=form, failed=failed, next_url=next_url)


@bp.get("/connexion/debloquer/<token>")
def unlock_login(token: str) -> ResponseReturnValue:
    """The e-mailed link of a locked account: this browser may log in to it despite the
    per-account limit (auth.unlock). The same page whatever the token says."""
    account = account_for_unlock_token(token)
    form = LoginForm(formdata=None)
    if account is not None:
        unlock_browser(account)
        form.email.data = account.email
        flash(_("You can log in now: type your password."), "success")
    else:
        flash(_("This link has expired or was already replaced. Wait a few minutes, or choose a new "
                "password."), "error")
    # The log-in form itself (posting to /connexion), the address filled in when the link is good.
    return render_template("auth/login.html", form=form, failed=False, next_url=None)


@bp.post("/deconnexion")
def logout() -> ResponseReturnValue:
    """Log out: the account's sessions and remember-me cookies end on the server too, so a copy
    of a cookie (a shared counter PC, a stolen laptop) opens nothing afterwards. With cookie
    sessions the server cannot tell one browser's session from another's: every device of the
    account is logged out."""
    if current_user.is_authenticated:
        current_user.end_sessions()
        db.session.commit()
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
    return site_url(path)


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
        _tell_password_changed(account)
        logout_user()
        flash(_("Your password is changed. Log in with your new password."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, token=token)


def _tell_password_changed(account: Account) -> None:
    """E-mail the account holder that the password changed (after the commit), with the page to
    get it back if it was not them."""
    from inscriptions import jobs

    jobs.enqueue("inscriptions.auth.reset:send_password_changed", account.id,
                 _absolute(url_for("auth.forgot_password")), clock.now().isoformat())


def _signed_in_account() -> str:
    """Rate-limit key of the password change: the signed-in account, wherever it connects from."""
    return f"account:{current_user.id}"


@bp.route("/compte/mot-de-passe", methods=["GET", "POST"])
@login_required
@limiter.limit(setting("LOGIN_LIMIT_PER_ACCOUNT"), methods=["POST"], key_func=_signed_in_account,
               deduct_when=failed_login, exempt_when=limits_off)
def change_password() -> ResponseReturnValue:
    """Change one's password. Every other session and remember-me cookie of the account ends
    (see :meth:`Account.get_id`); this browser stays logged in."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        account = current_user._get_current_object()
        if account.check_password(form.current_password.data):
            remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
            account.set_password(form.password.data)
            db.session.commit()
            _tell_password_changed(account)
            # A new login id (the fingerprint followed the password), and a new remember-me
            # cookie if this browser had one: the old ones now fail everywhere.
            login_user(account, remember=remembered)
            flash(_("Your password is changed. Your other sessions are logged out."), "success")
            return redirect(url_for("auth.change_password"))
        g.login_failed = True  # counts against the account, as a wrong password at log-in
        form.current_password.errors.append(_("This is not your current password."))
    status = 400 if form.errors else 200
    return render_template("auth/change_password.html", form=form), status
