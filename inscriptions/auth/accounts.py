"""Account look-ups shared by the log-in views and Flask-Login."""

from __future__ import annotations

from inscriptions.extensions import db
from inscriptions.models import Account


def load_account(account_id: str) -> Account | None:
    """Flask-Login's user loader: the account, or None when the id is stale or malformed."""
    try:
        return db.session.get(Account, int(account_id))
    except (TypeError, ValueError):
        return None
