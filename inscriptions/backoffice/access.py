"""Who may enter the back office, and which services a staff member may review there.

The back office (``/gestion/``) is for holders of ``use_backoffice`` (agents, managers, admins,
the DPO); a service's pages need ``review_registrations`` for that service. Anonymous visitors
are sent to the log-in page; signed-in accounts without the permission get a 403; an unknown
service, or a registration that is not of the service in the URL, a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import registry
from inscriptions.models import Account
from inscriptions.permissions import can, services_with

F = TypeVar("F", bound=Callable[..., Any])


def has_backoffice_access(account: Account | None) -> bool:
    """Whether ``account`` may open the back office at all."""
    if account is None or not getattr(account, "is_authenticated", False):
        return False
    return can(account, "use_backoffice")


def backoffice_required(view: F) -> F:
    """Log-in required; accounts without ``use_backoffice`` get a 403."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not has_backoffice_access(current_user):
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapped)  # type: ignore[return-value]


def reviewable_services(account: Account) -> list[LoadedService]:
    """The services ``account`` may review, by name."""
    codes = services_with(account, "review_registrations")
    return [s for s in registry().all() if codes is None or s.code in codes]


def service_for_review(code: str) -> LoadedService:
    """The service of the URL, if the current account may review it (404 unknown, 403 not granted)."""
    service = registry().get(code)
    if service is None:
        abort(404)
    if not can(current_user, "review_registrations", service.code):
        abort(403)
    return service
