"""The opening-morning send answered before Flask: ``POST /demandes/<id>/envoyer`` (families on
the web) and ``POST /api/v1/applications/<id>/send`` (API clients, the counter's software) in a
few lines of WSGI when everything is in order, by the full application otherwise.

Why: at opening every family sends in the same minute, and measured in process
(``bench/profile_booking.py --profile send``), Flask's machinery around the send (request and
app contexts, the session, Flask-WTF, Flask-Limiter, the boundary's parsing, the after-request
hooks) cost several times the send's own work, one statement. The paths below do only what
the send needs. The web's reads the signed session cookie, checks the CSRF token as Flask-WTF
does, and runs one statement that reads the signed-in family's household and numbers the
application (:data:`inscriptions.allocation.queue.SEND_SIGNED_IN_POSTGRESQL`), then answers
with the full path's redirect and headers. The API's runs one statement that finds the token's
owner, checks that it may send this application (its own household's, or staff granted the
service) and numbers it (:data:`inscriptions.allocation.queue.SEND_WITH_TOKEN_POSTGRESQL`), then
answers with the full path's JSON.

It never accepts what the full path refuses: its checks are the full path's or stricter, and
anything it does not recognise as a plain, valid send goes to the full application unchanged
(body included): no session or a remember-me cookie only, a form with more than the token, a
bad or missing token, an unknown API token, a request body the API send does not expect, an
application not sendable, already sent or not yet open, SQLite, inline
allocation, a database error. The full path then answers as it always has, with its French
messages, so every message lives in one place.
"""

from __future__ import annotations

import hmac
import io
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from flask import Flask
from flask_wtf.csrf import same_origin
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from werkzeug.http import parse_cookie
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from inscriptions import MAX_ID
from inscriptions.allocation.queue import SEND_SIGNED_IN_POSTGRESQL, SEND_WITH_TOKEN_POSTGRESQL
from inscriptions.api.schemas import ApplicationAcceptedOut
from inscriptions.api.tokens import LAST_USED_EVERY, PREFIX, hash_token
from inscriptions.auth.accounts import parse_login_id
from inscriptions.clock import utcnow_naive
from inscriptions.definitions.registry import registry
from inscriptions.extensions import db
from inscriptions.models.account import login_fingerprint
from inscriptions.models.application import public_number
from inscriptions.permissions import roles_holding
from inscriptions.web import security_headers

log = logging.getLogger(__name__)

SEND_PATH = re.compile(r"/demandes/([1-9][0-9]{0,9})/envoyer")
API_SEND_PATH = re.compile(r"/api/v1/applications/([1-9][0-9]{0,9})/send")
# The send's form holds the CSRF token only: a few hundred bytes. Larger bodies take the full path.
MAX_BODY = 2048
TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,512}")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _FullPath(Exception):
    """This request is not a plain, valid send: the full application answers it."""


class QuickSend:
    """WSGI middleware answering the opening-morning send itself when it can (see the module)."""

    def __init__(self, app: Flask, wrapped: WSGIApp):
        self.app = app
        self.wrapped = wrapped
        self._engine: Engine | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            path = environ.get("PATH_INFO", "")
            web, api = SEND_PATH.fullmatch(path), API_SEND_PATH.fullmatch(path)
            found = web or api
            if found is not None and int(found[1]) <= MAX_ID and self.enabled():
                try:
                    with self.app.app_context():  # the settings and services the checks read
                        response = (self.send(environ, int(found[1])) if web
                                    else self.send_with_token(environ, int(found[1])))
                    return response(environ, start_response)
                except _FullPath:
                    pass
        return self.wrapped(environ, start_response)

    def enabled(self) -> bool:
        config = self.app.config
        return bool(config.get("QUICK_SEND", True) and config.get("ALLOCATION") == "worker"
                    and self.engine().dialect.name == "postgresql")

    def engine(self) -> Engine:
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    def send(self, environ: dict[str, Any], application_id: int) -> Any:
        """The redirect to the application's page once sent; raises :class:`_FullPath` otherwise."""
        body = _read_form(environ)
        session = self._session(environ)
        self._check_csrf(environ, body, session)
        account_id, fingerprint, issued = self._log_in(session)
        try:
            with self.engine().begin() as conn:
                row = conn.execute(SEND_SIGNED_IN_POSTGRESQL, {
                    "id": application_id, "account": account_id, "now": utcnow_naive()}).first()
                if row is None:
                    raise _FullPath()  # not this family's, already sent, not open yet: say why there
                expected = login_fingerprint(row.password_hash, row.session_generation or 0, issued)
                if not hmac.compare_digest(fingerprint.encode(), expected.encode()):
                    raise _FullPath()  # a session ended by a log-out or a password change: rolled back
        except DBAPIError:
            # Nothing was committed: the full path tries again and answers as it does when busy.
            log.warning("quick send of application %s failed; the full path answers", application_id, exc_info=True)
            raise _FullPath() from None
        response = redirect(f"{environ.get('SCRIPT_NAME', '')}/demandes/{application_id}", 303)
        for name, value in security_headers(self.app.config, signed_in=True):
            response.headers[name] = value
        return response

    def send_with_token(self, environ: dict[str, Any], application_id: int) -> Any:
        """The API's 202 once sent; raises :class:`_FullPath` otherwise."""
        scheme, _sep, secret = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret.startswith(PREFIX) or len(secret) > 200:
            raise _FullPath()
        if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            raise _FullPath()  # the send takes no body: whatever it is, the full path judges it
        town_roles, service_roles = roles_holding("register_for_any_household")
        now = utcnow_naive()
        try:
            with self.engine().begin() as conn:
                row = conn.execute(SEND_WITH_TOKEN_POSTGRESQL, {
                    "id": application_id, "token_hash": hash_token(secret), "now": now,
                    "stale": now - LAST_USED_EVERY, "town_roles": town_roles, "service_roles": service_roles,
                }).first()
                if row is None:
                    raise _FullPath()  # unknown token, not allowed, already sent, not open: say why there
        except DBAPIError:
            log.warning("quick send of application %s failed; the full path answers", application_id, exc_info=True)
            raise _FullPath() from None
        service = registry().get(row.service_code)
        status_url = f"{environ.get('SCRIPT_NAME', '')}/api/v1/applications/{application_id}"
        body = ApplicationAcceptedOut(
            application_id=application_id,
            public_id=public_number(service.definition.reference_prefix, row.queue_number) if service else "",
            service=row.service_code, batch=row.batch, status="pending", replayed=False, status_url=status_url,
        )
        response = Response(body.model_dump_json(), status=202, mimetype="application/json")
        response.headers["Location"] = status_url
        for name, value in security_headers(self.app.config, signed_in=False):
            response.headers[name] = value
        return response

    def _session(self, environ: dict[str, Any]) -> dict[str, Any]:
        app = self.app
        cookie = parse_cookie(environ).get(app.config["SESSION_COOKIE_NAME"])
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        if not cookie or serializer is None:
            raise _FullPath()
        try:
            data = serializer.loads(cookie, max_age=int(app.permanent_session_lifetime.total_seconds()))
        except BadData:
            raise _FullPath() from None
        if not isinstance(data, dict):
            raise _FullPath()
        return data

    def _check_csrf(self, environ: dict[str, Any], body: dict[str, list[str]], session: dict[str, Any]) -> None:
        # Flask-WTF's check (flask_wtf.csrf.CSRFProtect.protect), on the raw request.
        config = self.app.config
        if not config.get("WTF_CSRF_ENABLED", True):
            raise _FullPath()  # CSRF off (tests): the full path, whose checks stay the reference
        field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        sent = body.get(field, [])
        if set(body) != {field} or len(sent) != 1 or not TOKEN.fullmatch(sent[0]):
            raise _FullPath()
        stored = session.get(field)
        if not isinstance(stored, str):
            raise _FullPath()
        secret = config.get("WTF_CSRF_SECRET_KEY") or self.app.secret_key
        try:
            token = URLSafeTimedSerializer(secret, salt="wtf-csrf-token").loads(
                sent[0], max_age=config.get("WTF_CSRF_TIME_LIMIT", 3600))
        except BadData:
            raise _FullPath() from None
        if not isinstance(token, str) or not hmac.compare_digest(stored, token):
            raise _FullPath()
        if environ.get("wsgi.url_scheme") == "https" and config.get("WTF_CSRF_SSL_STRICT", True):
            referrer, host = environ.get("HTTP_REFERER"), environ.get("HTTP_HOST")
            if not referrer or not host or not same_origin(referrer, f"https://{host}/"):
                raise _FullPath()

    def _log_in(self, session: dict[str, Any]) -> tuple[int, str, int]:
        parsed = parse_login_id(session.get("_user_id"))
        if parsed is None:
            raise _FullPath()
        return parsed


def _read_form(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The urlencoded form of a small body; the body stays readable for the full path."""
    if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise _FullPath()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _FullPath() from None
    if not 0 < length <= MAX_BODY:
        raise _FullPath()
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)  # what the full path reads, if it answers
    try:
        return parse_qs(raw.decode("ascii"), strict_parsing=True, max_num_fields=4)
    except ValueError:  # not ASCII, malformed, too many fields
        raise _FullPath() from None
