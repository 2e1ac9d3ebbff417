"""JSON errors of the API: ``{"error": {"code", "message", "fields"}}``, never an HTML page.

Messages are for people (French, through Flask-Babel); ``code`` and ``fields`` are for programs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response, jsonify
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from inscriptions.boundary import BadInput

# Codes for HTTP errors raised outside the API's own checks (unknown URL, wrong method...).
HTTP_CODES: dict[int, tuple[str, Any]] = {
    400: ("bad_request", _l("The request could not be understood.")),
    401: ("unauthorized", _l("A valid API token is required.")),
    403: ("forbidden", _l("You are not allowed to do this.")),
    404: ("not_found", _l("Not found.")),
    405: ("method_not_allowed", _l("This method is not allowed here.")),
    413: ("too_large", _l("The request is too large.")),
    415: ("unsupported_media_type", _l("Send the request body as JSON (Content-Type: application/json).")),
    429: ("too_many_requests", _l("Too many requests. Please wait a moment and try again.")),
    500: ("server_error", _l("Something went wrong on our side. Please try again.")),
    503: ("busy", _l("The service is very busy. Nothing was saved: please try again in a few seconds.")),
}


class ApiError(Exception):
    """An error answered as JSON with ``status``; ``fields`` maps input paths to messages."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, str] | None = None,
        general: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        places_left: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.general = list(general or [])
        self.headers = dict(headers or {})
        self.places_left = places_left


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "fields": error.fields}
    if error.general:
        body["general"] = error.general
    if error.places_left is not None:
        body["places_left"] = error.places_left
    response = jsonify({"error": body})
    response.status_code = error.status
    for key, value in error.headers.items():
        response.headers[key] = value
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def http_error_response(exc: HTTPException) -> Response:
    """An HTTP error (unknown URL, wrong method, 500...) under ``/api/`` as JSON."""
    status = exc.code or 500
    code, message = HTTP_CODES.get(status, ("error", exc.description or ""))
    if isinstance(exc, BadInput):  # a query parameter refused by the input boundary: say why
        code, message = "invalid_text", exc.description
    response = error_response(ApiError(status, code, str(message)))
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def busy_error() -> ApiError:
    return ApiError(503, "busy", str(HTTP_CODES[503][1]), headers={"Retry-After": "2"})


def _message_for(error: Mapping[str, Any]) -> str:
    # Pydantic's messages are English and technical; people get one of a few plain sentences.
    kind = str(error.get("type", ""))
    if kind == "missing":
        return _("This field is required.")
    if kind == "extra_forbidden":
        return _("This field is not expected.")
    if kind in ("literal_error", "enum"):
        return _("This value is not one of the allowed values.")
    if kind.startswith(("int_", "bool_", "string_type", "dict_", "list_", "model_", "date_")) or kind.endswith("_type"):
        if kind.startswith("date_"):
            return _("Give a date as YYYY-MM-DD.")
        return _("This value does not have the expected type.")
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return _("This value is too short or too long.")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _("This number is out of range.")
    return _("This value is not valid.")


def validation_error(exc: ValidationError) -> ApiError:
    """A 422 with one message per invalid input path (``participants.0.child_id``)."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"]) or "body"
        fields.setdefault(path, _message_for(error))
    return ApiError(422, "validation_error", _("Some values need to be checked."), fields)
