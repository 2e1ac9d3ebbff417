"""What every page shares: the town in templates, error pages, security headers, the logo."""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    has_app_context,
    render_template,
    request,
    send_file,
    session,
)
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from inscriptions import TOWN_KEY
from inscriptions.boundary import BadInput
from inscriptions.database import BusyError

ERROR_MESSAGES = {
    400: _l("The request could not be understood. Please go back and try again."),
    403: _l("You are not allowed to see this page."),
    404: _l("This page does not exist. Check the address or go back to the home page."),
    405: _l("This action is not possible on this page."),
    413: _l("The file is too large."),
    429: _l("Too many attempts. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. Your saved answers are kept; please try again."),
    503: _l("The service is very busy. Nothing was lost: please try again in a few seconds."),
}

# Seconds a 503 asks to wait before trying again (an overloaded or restarting database).
RETRY_S = "2"

# Files the same for everyone (stylesheets, scripts, the town's logo): cacheable even when signed in.
CACHEABLE_ENDPOINTS = frozenset({"static", "town_logo"})

# Inline scripts and styles are not allowed: the pages work without JavaScript anyway.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
# No page needs these browser features; denying them limits what injected content could do.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=(), "
    "browsing-topics=()"
)


log = logging.getLogger(__name__)

_TRANSLATIONS = "_inscriptions_translations"


def _translations() -> Any:
    # The catalogue of the request's locale, looked up once per request: Flask-Babel finds the
    # domain, the locale and the catalogue again for each of the thirty-odd strings of a page.
    # One locale per request (the app has one, and nothing switches it halfway through).
    if not has_app_context():
        return get_translations()
    found = g.get(_TRANSLATIONS)
    if found is None:
        found = get_translations()
        setattr(g, _TRANSLATIONS, found)
    return found


def _install_template_gettext(app: Flask) -> None:
    """The templates' ``_()``/``gettext``/``ngettext``: Flask-Babel's, with the catalogue cached."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )


def init_web(app: Flask) -> None:
    """Register the context processor, error handlers, headers, rate limits and the logo route."""
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies:
        # Behind a reverse proxy, the family's address (for rate limits and logs) and the scheme
        # come from the proxy's headers, trusted for exactly that many hops.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    from inscriptions.auth.limits import limiter

    limiter.init_app(app)
    _install_template_gettext(app)

    @app.context_processor
    def _town() -> dict[str, object]:
        return {"town": app.extensions[TOWN_KEY]}

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[str, int] | Response:
        if request.path.startswith("/api/"):
            # Unknown URLs and wrong methods under /api/ match no API view: answer JSON all the same.
            from inscriptions.api.errors import http_error_response

            return http_error_response(exc)
        code = exc.code or 500
        # A refused text says why (inscriptions.boundary); other errors get the plain sentence.
        message = exc.description if isinstance(exc, BadInput) else ERROR_MESSAGES.get(code, exc.description)
        if isinstance(exc, RequestEntityTooLarge):
            limit_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
            message = _l("The file is too large: %(n)s MB at most. Take a smaller photo or scan "
                         "fewer pages.", n=limit_mb)
        response = exc.get_response()
        retry_after = _retry_after_seconds() if code == 429 else None
        body = render_template("error.html", code=code, message=message, retry_after=retry_after)
        # Keep the headers the exception carries (Retry-After, Allow), with an HTML body.
        response.set_data(body)
        response.mimetype = "text/html"
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[str, int]:
        message = _l(
            "This form has expired (or was sent twice). Your saved answers are kept: "
            "please reload the page and send it again."
        )
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(BusyError)
    def _busy(exc: BusyError) -> tuple[str, int, dict[str, str]]:
        return render_template("error.html", code=503, message=ERROR_MESSAGES[503]), 503, {"Retry-After": RETRY_S}

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception) -> Any:
        # PostgreSQL restarting or out of reach (connections refused or cut, pool exhausted):
        # nothing was committed, and the family is told to try again in a moment, never a 500.
        log.error("database unavailable: %s", exc)
        if request.path.startswith("/api/"):
            from inscriptions.api.errors import busy_error, error_response

            return error_response(busy_error())
        return render_template("error.html", code=503, message=ERROR_MESSAGES[503]), 503, {"Retry-After": RETRY_S}

    @app.teardown_appcontext
    def _end_session(_exc: BaseException | None) -> None:
        # Before Flask-SQLAlchemy's own removal (teardowns run last registered first): ending
        # the session rolls back on its connection, and a connection PostgreSQL just cut (a
        # restart) raises there, after the answer was chosen, which would turn it into a 500.
        from inscriptions.extensions import db

        try:
            db.session.remove()
        except DBAPIError as exc:
            log.warning("closing a database session failed (connection lost): %s", exc)
            db.session.registry.clear()

    @app.before_request
    def _read_input() -> None:
        # Parsed now, so a text the boundary refuses (inscriptions.boundary) is a 400 whether or
        # not the page reads that parameter; form bodies only for the form content types.
        request.args  # noqa: B018
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            request.form  # noqa: B018

    @app.after_request
    def _headers(response: Response) -> Response:
        signed_in = request.endpoint not in CACHEABLE_ENDPOINTS and session.get("_user_id") is not None
        for name, value in security_headers(app.config, signed_in=signed_in):
            if name == "Cache-Control":
                response.headers[name] = value
            else:
                response.headers.setdefault(name, value)
        return response

    @app.get("/logo")
    def town_logo() -> Response:
        path = current_app.extensions[TOWN_KEY].logo_path
        if path is None or not path.is_file():
            abort(404)
        return send_file(path, max_age=3600)


def security_headers(config: Any, *, signed_in: bool) -> list[tuple[str, str]]:
    """The headers every answer carries (a view may set its own first, except Cache-Control on a
    signed-in page); also used by the opening-morning send, answered before Flask
    (:mod:`inscriptions.quick_send`)."""
    headers = []
    if signed_in:
        # A signed-in page may show a family's data: no copy in the browser's cache or on a
        # proxy, where the next person at a shared counter PC could open it with "Back".
        headers.append(("Cache-Control", "no-store"))
    headers += [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", PERMISSIONS_POLICY),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    hsts = config.get("HSTS_MAX_AGE") or 0
    if config.get("SESSION_COOKIE_SECURE") and hsts:
        # Only when the site is served over HTTPS (secure cookies say so): browsers then
        # refuse plain http for a year, so a downgrade cannot steal the session cookie.
        headers.append(("Strict-Transport-Security", f"max-age={int(hsts)}"))
    return headers


def _retry_after_seconds() -> str | None:
    """Seconds until the breached rate limit lets the visitor in again (Flask-Limiter adds the
    same value as the ``Retry-After`` header once the page is built)."""
    import time

    from inscriptions.auth.limits import limiter

    current = limiter.current_limit
    if current is None:
        return None
    return str(max(1, int(current.reset_at - time.time()) + 1))
