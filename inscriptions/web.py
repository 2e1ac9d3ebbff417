"""What every page shares: the town in templates, error pages, security headers, the logo."""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, render_template, request, send_file
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from inscriptions import TOWN_KEY
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

# Inline scripts and styles are not allowed: the pages work without JavaScript anyway.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


def init_web(app: Flask) -> None:
    """Register the context processor, error handlers, headers and the logo route."""

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
        message = ERROR_MESSAGES.get(code, exc.description)
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[str, int]:
        message = _l(
            "This form has expired (or was sent twice). Your saved answers are kept: "
            "please reload the page and send it again."
        )
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(BusyError)
    def _busy(exc: BusyError) -> tuple[str, int]:
        return render_template("error.html", code=503, message=ERROR_MESSAGES[503]), 503

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.get("/logo")
    def town_logo() -> Response:
        path = current_app.extensions[TOWN_KEY].logo_path
        if path is None or not path.is_file():
            abort(404)
        return send_file(path, max_age=3600)
