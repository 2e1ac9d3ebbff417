"""The OpenAPI 3.1 document of ``/api/v1``, served at ``/api/v1/openapi.json``.

Schemas come from the pydantic models that validate the requests and shape the responses
(:mod:`inscriptions.api.schemas`), so the document cannot drift from what the code accepts.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from inscriptions.api import schemas as sc

REQUEST_MODELS: tuple[type[BaseModel], ...] = (sc.RegistrationIn, sc.ApplicationIn)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    sc.ErrorOut, sc.BookingOut, sc.RegistrationDetailOut, sc.ServicesOut, sc.SessionsOut,
    sc.HouseholdsOut, sc.MeOut, sc.RegistrationsOut, sc.HouseholdOut, sc.ApplicationAcceptedOut, sc.ApplicationOut,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    descriptions = {
        400: "The body is not valid JSON (or nests deeper than 32 levels), or a query parameter holds a "
             "control character.",
        401: "No token, or an unknown or revoked one.",
        403: "The token's account may not do this.",
        404: "Not found (also for another household's registration).",
        409: "This idempotency key was already used for another booking or with another request body (`key_reused`).",
        415: "The body is not sent as JSON.",
        422: "Invalid values (a text with a control character: `invalid_text`), or the booking was refused: "
             "see `fields` and `general`.",
        503: "Busy: nothing was saved, try again after `Retry-After` seconds.",
    }
    return {str(code): _json(sc.ErrorOut, descriptions[code]) for code in statuses}


def _paths() -> dict[str, Any]:
    secured = [{"bearerAuth": []}]
    reference = {"name": "reference", "in": "path", "required": True,
                 "schema": {"type": "string", "maxLength": 40}, "description": "e.g. `CAN-2026-000042`"}
    code = {"name": "code", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}
    idempotency_header = {"name": "Idempotency-Key", "in": "header", "required": False,
                          "description": "Same as the body's `idempotency_key` (they must match if both are given).",
                          "schema": {"type": "string", "minLength": 1, "maxLength": sc.KEY_MAX,
                                     "pattern": sc.KEY_PATTERN}}
    return {
        "/api/v1/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document.", "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
        "/api/v1/me": {"get": {
            "operationId": "me", "summary": "The token's account: roles and, for a parent, the household.",
            "security": secured,
            "responses": {"200": _json(sc.MeOut, "The account."), **_errors(401)},
        }},
        "/api/v1/registrations": {"get": {
            "operationId": "listRegistrations",
            "summary": "Registrations the token may read: its own household's (parent), or its services' (staff).",
            "description": "Without answers (read one registration for them). Anonymised registrations "
                           "(past their retention period) are not listed.",
            "security": secured,
            "parameters": [
                {"name": "service", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 40}},
                {"name": "status", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 20}},
                {"name": "session", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 40}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0}},
            ],
            "responses": {"200": _json(sc.RegistrationsOut, "A page of registrations."),
                          **_errors(401, 403, 404, 422)},
        }, "post": {
            "operationId": "createRegistration",
            "summary": "Book one or several participants (same validation and capacity as the web portal).",
            "description": "A parent's token books its own household with the channel `api`. A staff token "
                           "with `register_for_any_household` for the service books any household "
                           "(channel `counter` by default) and is recorded as `keyed_by`. Full sessions put "
                           "the whole request on the waiting list (`status` = `waitlisted`).",
            "security": secured,
            "parameters": [idempotency_header],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref(sc.RegistrationIn)}}},
            "responses": {
                "201": _json(sc.BookingOut, "Booked (or the first result of this idempotency key)."),
                **_errors(400, 401, 403, 409, 415, 422, 503),
            },
        }},
        "/api/v1/registrations/{reference}": {"get": {
            "operationId": "getRegistration", "summary": "One registration, its answers and history.",
            "security": secured, "parameters": [reference],
            "responses": {"200": _json(sc.RegistrationDetailOut, "The registration."), **_errors(401, 404)},
        }},
        "/api/v1/applications": {"post": {
            "operationId": "createApplication",
            "summary": "Record an application: one or several participants, several wishes of sessions with "
                       "ranked alternatives; the town's allocator decides the places.",
            "description": "Same body, rights, channels and `Idempotency-Key` as `POST /api/v1/registrations`, plus "
                           "`wishes`. Answers 202 with the application's number and `status_url` (also the "
                           "`Location` header): `GET` it for the outcome. When the allocator runs in the request "
                           "(the default) the application is already `decided`, and a wish that cannot be kept "
                           "at all (a session started, a person already registered, not enough places where the "
                           "family chooses) is a 422 with nothing saved; when it runs in the background, the "
                           "application is `pending` and such refusals appear in its results.",
            "security": secured,
            "parameters": [idempotency_header],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref(sc.ApplicationIn)}}},
            "responses": {
                "201": _json(sc.ApplicationAcceptedOut, "Prepared (`send: false`): send it at opening."),
                "202": {**_json(sc.ApplicationAcceptedOut,
                                "Recorded (or the first result of this idempotency key)."),
                        "headers": {"Location": {"description": "The application's status URL.",
                                                 "schema": {"type": "string"}}}},
                **_errors(400, 401, 403, 409, 415, 422, 503),
            },
        }},
        "/api/v1/applications/{application_id}/send": {"post": {
            "operationId": "sendApplication",
            "summary": "Send a prepared application (made with `send: false`): the opening-morning request.",
            "description": "Only numbers the application in the service's queue (the checks were made when it was "
                           "prepared); the allocator decides. Sending again gives the same answer (`replayed`). "
                           "For the household's own parent token, or staff who may register any household of the "
                           "service; anyone else gets a 404. Before the application may be sent: 409 `not_open`.",
            "security": secured,
            "parameters": [{"name": "application_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": sc.MAX_ID}}],
            "responses": {
                "202": {**_json(sc.ApplicationAcceptedOut, "In the queue (or already there)."),
                        "headers": {"Location": {"description": "The application's status URL.",
                                                 "schema": {"type": "string"}}}},
                **_errors(401, 404, 409, 503),
            },
        }},
        "/api/v1/applications/{application_id}": {"get": {
            "operationId": "getApplication",
            "summary": "An application's state: pending with its place in line, or decided wish by wish with the "
                       "registrations made (references, statuses, waiting-list positions).",
            "description": "For the household's own parent token, or staff who may read the service's registrations; "
                           "anyone else gets a 404, as for an application that does not exist.",
            "security": secured,
            "parameters": [{"name": "application_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": sc.MAX_ID}}],
            "responses": {"200": _json(sc.ApplicationOut, "The application."), **_errors(401, 404)},
        }},
        "/api/v1/services": {"get": {
            "operationId": "listServices", "summary": "The services of the town.",
            "security": secured,
            "responses": {"200": _json(sc.ServicesOut, "The services."), **_errors(401)},
        }},
        "/api/v1/services/{code}/sessions": {"get": {
            "operationId": "listSessions",
            "summary": "A service's sessions: capacity and places left; places held and waiting count for staff.",
            "security": secured, "parameters": [code],
            "responses": {"200": _json(sc.SessionsOut, "The sessions."), **_errors(401, 404)},
        }},
        "/api/v1/households": {"get": {
            "operationId": "searchHouseholds",
            "summary": "Staff: search households by guardian or child name, or e-mail (20 at most).",
            "security": secured,
            "parameters": [{"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 2, "maxLength": 100}}],
            "responses": {"200": _json(sc.HouseholdsOut, "Matching households."), **_errors(401, 403, 422)},
        }},
        "/api/v1/households/{household_id}": {"get": {
            "operationId": "getHousehold",
            "summary": "Staff: one household, its guardians and children (the read is written to the audit log).",
            "security": secured,
            "parameters": [{"name": "household_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": sc.MAX_ID}}],
            "responses": {"200": _json(sc.HouseholdOut, "The household."), **_errors(401, 403, 404)},
        }},
    }


@cache
def _document() -> dict[str, Any]:
    models = [(m, "validation") for m in REQUEST_MODELS] + [(m, "serialization") for m in RESPONSE_MODELS]
    _keys, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Inscriptions API",
            "version": "1.0.0",
            "description": "Registrations and applications, sessions and their fill, households for staff. "
                           "Authenticate with `Authorization: Bearer <token>` (`inscriptions staff token`). "
                           "Errors are "
                           "`{\"error\": {\"code\", \"message\", \"fields\"}}`.",
        },
        "paths": _paths(),
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_document() -> dict[str, Any]:
    """The document as a fresh dict (built once per process)."""
    return copy.deepcopy(_document())
