"""SQLAlchemy models. Alembic revisions in ``migrations/`` mirror them (a test checks it)."""

from inscriptions.models.account import Account
from inscriptions.models.household import Child, Guardian, Household
from inscriptions.models.registration import (
    ACTIVE_STATUSES,
    HOLDING_STATUSES,
    Draft,
    Registration,
    Status,
    StatusChange,
    Upload,
)
from inscriptions.models.service import FormVersion, ReferenceCounter, ServiceSession

__all__ = [
    "ACTIVE_STATUSES",
    "HOLDING_STATUSES",
    "Account",
    "Child",
    "Draft",
    "FormVersion",
    "Guardian",
    "Household",
    "ReferenceCounter",
    "Registration",
    "ServiceSession",
    "Status",
    "StatusChange",
    "Upload",
]
