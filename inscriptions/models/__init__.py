"""SQLAlchemy models. Alembic revisions in ``migrations/`` mirror them (a test checks it)."""

from inscriptions.models.account import Account
from inscriptions.models.application import (
    AllocationDecision,
    AllocationDraw,
    AllocationRun,
    Application,
    ApplicationStatus,
    Outcome,
    public_number,
)
from inscriptions.models.audit import AuditEvent, AuditEventHousehold
from inscriptions.models.audit_chain import AuditCheckpoint, AuditSeal
from inscriptions.models.files import StoredFile, StoredFileHousehold
from inscriptions.models.household import Child, Guardian, Household, HouseholdActivity
from inscriptions.models.outbox import OutboxJob
from inscriptions.models.paper import PaperLayout, PrintJob, PrintToken
from inscriptions.models.privacy import PhotoConsent
from inscriptions.models.registration import (
    ACTIVE_STATUSES,
    HOLDING_STATUSES,
    Draft,
    Registration,
    Status,
    StatusChange,
    Upload,
)
from inscriptions.models.scan import ScanBatch, ScanPage, ScanPageStatus
from inscriptions.models.service import FormVersion, ReferenceCounter, ServiceSession
from inscriptions.models.staff import SERVICE_ROLES, ApiToken, Role, StaffRole
from inscriptions.models.submission import SubmissionKey

__all__ = [
    "ACTIVE_STATUSES",
    "HOLDING_STATUSES",
    "SERVICE_ROLES",
    "Account",
    "AllocationDecision",
    "AllocationDraw",
    "AllocationRun",
    "ApiToken",
    "Application",
    "ApplicationStatus",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditEventHousehold",
    "AuditSeal",
    "Child",
    "Draft",
    "FormVersion",
    "Guardian",
    "Household",
    "HouseholdActivity",
    "OutboxJob",
    "Outcome",
    "PaperLayout",
    "PhotoConsent",
    "PrintJob",
    "PrintToken",
    "ReferenceCounter",
    "Registration",
    "Role",
    "ScanBatch",
    "ScanPage",
    "ScanPageStatus",
    "ServiceSession",
    "StaffRole",
    "Status",
    "StatusChange",
    "StoredFile",
    "StoredFileHousehold",
    "SubmissionKey",
    "Upload",
    "public_number",
]
