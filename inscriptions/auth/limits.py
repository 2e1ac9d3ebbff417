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

from flask import Response, current_app, request
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
    """Only failed log-ins count against an account: a successful one redirects."""
    return response.status_code != 302


def limits_off() -> bool:
    """``exempt_when`` of every limit: the app's setting, read per request (the limiter object is
    shared by every app built in the process, so its own on/off switch cannot be per app)."""
    return not current_app.config.get("RATE_LIMITS_ENABLED", True)
