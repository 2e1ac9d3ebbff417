"""Rate limits of the log-in, sign-up and password-reset forms (Flask-Limiter).

Limits are read from the settings at request time (``LOGIN_LIMIT_PER_IP``,
``LOGIN_LIMIT_PER_ACCOUNT``...), so a deployment tunes them without code; a setting
(``RATE_LIMITS_ENABLED``, ``INSCRIPTIONS_RATELIMIT_ENABLED=0``) switches them off, e.g. for a load benchmark that logs
thousands of families in from one address. Counters live in ``RATELIMIT_STORAGE_URI``:
``memory://`` (one process: development and tests) or a Redis URL in production, shared by
every worker and machine.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# The key is the client's address (behind a proxy, set INSCRIPTIONS_PROXY_COUNT so it is the
# family's address, not the proxy's).
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def setting(name: str) -> Callable[[], str]:
    """A limit read from the app's config when the request is checked."""
    return lambda: str(current_app.config[name])


def submitted_email() -> str:
    """Per-account key: the e-mail typed in the form, whatever its case (unknown ones included,
    so the limit does not tell which e-mails have an account)."""
    email = (request.form.get("email") or "").strip().lower()[:254]
    return f"email:{email}"


def failed_login(response: Response) -> bool:
    """Only log-ins whose password was checked and wrong count against an account: not a success,
    not a form error, and not an attempt another limit already refused (the per-address limit),
    or a flood from elsewhere would lock the owner out for longer."""
    return bool(g.get("login_failed"))


def account_limit_exempt() -> bool:
    """``exempt_when`` of the per-account log-in limit: limits off, or this browser opened the
    account's unlock link (inscriptions.auth.unlock)."""
    from inscriptions.auth.unlock import unlocked_for

    return limits_off() or unlocked_for(submitted_email().removeprefix("email:"))


def account_locked(_limit: object) -> None:
    """``on_breach`` of the per-account log-in limit: the first time in a window, e-mail the
    owner (if the typed e-mail has an account) a link to log in all the same."""
    from flask import url_for

    from inscriptions import jobs
    from inscriptions.auth.accounts import find_account
    from inscriptions.auth.unlock import first_in_window, make_unlock_token
    from inscriptions.urls import site_url

    email = submitted_email().removeprefix("email:")
    if not email or not first_in_window(limiter.storage, email):
        return
    account = find_account(email)
    if account is not None and account.is_active:
        link = site_url(url_for("auth.unlock_login", token=make_unlock_token(account)))
        jobs.enqueue("inscriptions.auth.unlock:send_unlock_link", account.id, link)


def limits_off() -> bool:
    """``exempt_when`` of every limit: the app's setting, read per request (the limiter object is
    shared by every app built in the process, so its own on/off switch cannot be per app)."""
    return not current_app.config.get("RATE_LIMITS_ENABLED", True)
