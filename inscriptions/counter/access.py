"""Who may use the counter, and the reason an agent gives before opening a household's file.

The counter is for staff holding the agent or manager role of at least one service, and for
administrators: exactly the holders of the ``search_households`` permission. What they may do
for one service (register, read its registrations) is checked per service with
:func:`inscriptions.permissions.can`.

Before showing a household's data the agent says why (family at the counter, phone call, letter
received...). The reason is asked once per household per agent session: the read that grants
access is logged with it, and the id of that audit event is kept in the (signed) session cookie.
Later reads of the same household reuse the reason and are logged too. The grant lapses after
``COUNTER_ACCESS_HOURS`` (default 8: one working day) or when another account logs in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from inscriptions.audit import Action, log_read
from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent
from inscriptions.permissions import can, services_with

SESSION_KEY = "counter_access"
# The grant just made by the reason form: the page it leads to does not log the same read twice.
FRESH_KEY = "counter_fresh"
# Households remembered in the cookie; older grants are dropped (the reason is asked again).
MAX_REMEMBERED = 40

# The usual reasons for opening a family's file at the counter; "other" needs a few words.
REASONS: dict[str, Any] = {
    "counter": _l("Family at the counter"),
    "phone": _l("Phone call"),
    "mail": _l("Letter or paper form received"),
    "other": _l("Other reason"),
}

F = TypeVar("F", bound=Callable[..., Any])


def has_counter_access(account: Account | None) -> bool:
    """Whether ``account`` may use the counter area (agent or manager of a service, or admin)."""
    if account is None or not getattr(account, "is_authenticated", False):
        return False
    return can(account, "search_households")


def counter_required(view: F) -> F:
    """Log-in required (anonymous visitors go to the log-in page); non-staff get a 403."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not has_counter_access(current_user):
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapped)  # type: ignore[return-value]


def registrable_services(account: Account) -> set[str] | None:
    """Codes of the services ``account`` may register families for; None means every service."""
    return services_with(account, "register_for_any_household")


def reason_text(code: str, detail: str) -> str:
    """The reason as stored in the audit log: the chosen label, and the agent's words if any."""
    label = str(REASONS.get(code, REASONS["other"]))
    detail = detail.strip()
    return f"{label} : {detail}" if detail else label


def _remembered() -> dict[str, int]:
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict) or data.get("account") != current_user.id:
        return {}
    events = data.get("events")
    return dict(events) if isinstance(events, dict) else {}


def remember(household_id: int, event_id: int) -> None:
    """Keep in the session that this household was opened by the logged event ``event_id``."""
    events = _remembered()
    events.pop(str(household_id), None)
    events[str(household_id)] = event_id
    while len(events) > MAX_REMEMBERED:
        events.pop(next(iter(events)))
    session[SESSION_KEY] = {"account": current_user.id, "events": events}


def access_grant(household_id: int) -> AuditEvent | None:
    """The logged read that opened this household for the current agent, if still valid."""
    event_id = _remembered().get(str(household_id))
    if not isinstance(event_id, int):
        return None
    event = db.session.get(AuditEvent, event_id)
    if event is None or event.actor_account_id != current_user.id or event.household_id != household_id:
        return None
    hours = float(current_app.config.get("COUNTER_ACCESS_HOURS", 8))
    if utcnow_naive() - event.at > dt.timedelta(hours=hours):
        return None
    return event


def open_household(household_id: int, code: str, detail: str) -> AuditEvent:
    """Log the read that opens a household's file with the agent's reason, and remember it."""
    event = log_read(
        current_user.id, Action.READ_HOUSEHOLD, household_id,
        {"reason_code": code, "opened": True}, reason_text(code, detail),
    )
    remember(household_id, event.id)
    return event
