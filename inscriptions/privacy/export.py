"""All data about a household, for the family's right of access (RGPD art. 15) and portability (art. 20).

One content, three forms:

- :func:`household_data`: the machine-readable copy (JSON). ``tables`` holds every row of every
  table about the household, each under its columns' own names, so that it reads against the
  schema; ``actors`` says who the account numbers in it are; ``files`` lists the files kept;
  ``left_out`` gives, for each column deliberately not copied, the reason.
- :func:`household_pdf`: the same in plain French, one section per kind of data (ReportLab).
- :func:`household_zip`: the complete copy: the JSON, the PDF and the files themselves (documents
  sent with a form, scanned pages and their cut-outs). The family downloads it from
  ``/mon-foyer/donnees/``; the DPO produces it for any household, paper-only ones included.

Files go in a ZIP rather than inside the JSON (base64): they stay openable as they are (a PDF
certificate, a PNG page), the JSON stays small enough to read, and each file's SHA-256 in the JSON
ties the two together.

Which rows: a walk of the schema from the household's row (:func:`linked_rows`). A row is about
the household when one of its foreign keys (or a link kept without one,
:data:`LINKS_WITHOUT_FOREIGN_KEY`, or a ``household_id`` column) points at a row already found:
guardians and children, their accounts, the accounts' drafts, registrations and their history,
applications and the allocator's decisions, print tokens, scanned pages, audit events... A table
added later is walked too. Which columns: :data:`EXPORTED`, table by table, and :data:`LEFT_OUT`
with the reason for each column not copied; the audit journal's tables are copied whole, every
column present and future. ``tests/privacy/test_export_complete.py`` walks the schema on its own
and fails on a table or column about a household that is in neither list.

Staff who acted on the file are shown by their account number and role, not by name or e-mail:
the right of access covers what was done with the family's data and why, not the identity of the
employees who did it (CJEU, C-579/21, 22 June 2023); the DPO, who reads the journal, can tell more
on request. The family's own accounts are shown with their e-mail.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Table as SqlTable
from sqlalchemy import select

from inscriptions.clock import utcnow_naive
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.extensions import db
from inscriptions.models import FormVersion, Household
from inscriptions.paper.fonts import pdf_text
from inscriptions.privacy.sealing import unseal_bytes, unsealed

FORMAT_VERSION = 2
ROOT = "households"
# The journal of accesses: copied whole, every column (a column added to it is exported at once).
AUDIT_TABLES = ("audit_events", "audit_event_households")
# How many values one ``IN (...)`` of the walk holds at most.
CHUNK = 500


# -- what is copied, and what is not --------------------------------------------------------------

EXPORTED: dict[str, tuple[str, ...]] = {
    "households": ("id", "address_line1", "address_line2", "postcode", "city", "quotient_familial",
                   "created_at", "updated_at"),
    "household_activity": ("household_id", "last_registration_end"),
    "guardians": ("id", "household_id", "first_name", "last_name", "email", "email_confirmed_at", "phone",
                  "birth_date"),
    "children": ("id", "household_id", "first_name", "last_name", "birth_date", "school", "class_name"),
    "accounts": ("id", "email", "guardian_id", "active", "created_at", "last_login_at", "deletion_warned_at"),
    "staff_roles": ("id", "account_id", "role", "service_code", "created_at"),
    "api_tokens": ("id", "account_id", "name", "created_at", "last_used_at", "revoked_at"),
    "drafts": ("id", "account_id", "service_code", "form_version_id", "state", "submitted_batch", "created_at",
               "updated_at"),
    "applications": ("id", "batch", "service_code", "form_version_id", "household_id", "channel", "keyed_by_id",
                     "received_on", "mediation_reason", "note", "wishes", "participants", "waitlist_together",
                     "status", "queue_number", "submitted_at", "opens_at", "draft_id", "created_at", "decided_at",
                     "notified_at", "run_id", "draw_rank", "draw_weight", "points", "points_detail"),
    "allocation_decisions": ("id", "run_id", "application_id", "position", "wish", "session_code", "rank",
                             "outcome", "reason", "places", "free_before"),
    "registrations": ("id", "reference", "service_code", "form_version_id", "household_id", "child_id",
                      "guardian_id", "session_id", "places", "answers", "price", "price_unit", "price_detail",
                      "channel", "keyed_by_id", "received_on", "mediation_reason", "batch", "application_id",
                      "status", "waitlisted_at", "offer_expires_at", "created_at", "updated_at", "anonymised_at"),
    "status_changes": ("id", "registration_id", "from_status", "to_status", "at", "by_id", "reason"),
    "uploads": ("id", "household_id", "filename", "content_type", "size", "sha256", "created_at"),
    "submission_keys": ("id", "key", "household_id", "service_code", "batch", "fingerprint", "created_at"),
    "photo_consents": ("id", "child_id", "service_code", "given_at", "given_by_id", "withdrawn_at",
                       "withdrawn_by_id"),
    "print_tokens": ("id", "token", "form_version_id", "household_id", "child_id", "pages", "created_at",
                     "printed_by_id"),
    "print_jobs": ("id", "kind", "service_code", "requested_by_id", "requested_at", "started_at", "finished_at",
                   "status", "done", "total", "documents", "pages", "file_name", "sha256", "error"),
    "scan_batches": ("id", "uploaded_by_id", "uploaded_at", "filename", "sha256", "size", "page_count", "status",
                     "reading_status", "pages_read", "files", "error"),
    "stored_files": ("id", "path", "kind", "created_at", "delete_after"),
    "stored_file_households": ("file_id", "household_id"),
    "scan_pages": ("id", "batch_id", "index", "image_sha256", "reading", "status", "reason", "message", "token",
                   "page", "total", "form_version_id", "document_key", "registration_batch", "confirmed_by_id",
                   "confirmed_at", "machine_values", "confirmed_values"),
}

# ``table.column`` (or a whole ``table``) deliberately not copied, with the reason, shown to the
# family in the PDF and the JSON.
LEFT_OUT: dict[str, Any] = {
    "accounts.password_hash": _l(
        "A secret, not data about the family: a one-way fingerprint of the password, which cannot be read "
        "back and would only help someone trying to guess it."),
    "accounts.session_generation": _l(
        "A technical counter that ends log-in sessions (raised at each log-out); it says nothing about the "
        "family."),
    "api_tokens.token_hash": _l(
        "A secret: the fingerprint of an API access key, useless to read and a help to whoever would try to "
        "guess the key."),
    "drafts.token": _l(
        "The secret in the address of an unsent form: whoever held this file could open the form with it. "
        "The form's answers are in the export."),
    "uploads.token": _l(
        "The secret in the address of a file sent with a form: the file itself is in the ZIP archive."),
    "audit_seals": _l(
        "The journal's seals: a fingerprint of each entry of the access log, chained to the previous one so that "
        "nobody can change the log unseen. They say nothing more than the accesses listed, and each depends on "
        "other families' entries."),
    "print_jobs.params": _l(
        "The selection of a mass printing can list the other households printed in the same run: their data, "
        "not yours. What was printed for you is listed with the paper forms printed."),
}


# What each entry of LEFT_OUT is, in the family's words (the PDF; the key itself otherwise).
LEFT_OUT_NAMES: dict[str, Any] = {
    "accounts.password_hash": _l("Password"),
    "accounts.session_generation": _l("Counter of log-in sessions"),
    "api_tokens.token_hash": _l("API access keys"),
    "drafts.token": _l("Address of an unsent form"),
    "uploads.token": _l("Address of a file sent"),
    "audit_seals": _l("Seals of the access log"),
    "print_jobs.params": _l("Selection of a mass printing"),
}


@dataclass(frozen=True)
class Link:
    """``table.column`` holds values of ``target.target_column`` without a foreign key saying so
    (``json_key``: the column is JSON and the values are the list under that key)."""

    table: str
    column: str
    target: str
    target_column: str = "id"
    json_key: str | None = None


# References the database does not enforce: the journal must outlive what it names, a scanned
# page names its printed form by the token read in its QR code, a print job its selection.
LINKS_WITHOUT_FOREIGN_KEY: tuple[Link, ...] = (
    Link("audit_events", "actor_account_id", "accounts"),
    Link("audit_events", "registration_id", "registrations"),
    # An event concerning several households is theirs through its rows in audit_event_households.
    Link("audit_events", "id", "audit_event_households", "event_id"),
    Link("scan_pages", "token", "print_tokens", "token"),
    Link("scan_pages", "document_key", "print_tokens", "token"),
    Link("scan_pages", "registration_batch", "registrations", "batch"),
    Link("print_jobs", "params", "households", json_key="household_ids"),
    Link("audit_seals", "event_id", "audit_events"),
    # A file holding data of several households is theirs through stored_file_households.
    Link("stored_files", "id", "stored_file_households", "file_id"),
)

# Columns named ``*_id`` without a foreign key that lead to no household, with why (the test
# refuses any other such column not declared in LINKS_WITHOUT_FOREIGN_KEY).
NOT_LINKS: dict[str, str] = {
    "audit_checkpoints.actor_account_id": "the staff account that ran a retention purge: a checkpoint is about "
                                          "the whole journal, never about one household",
}


def exported_columns(table: str) -> tuple[str, ...]:
    """The columns of ``table`` copied into the export (every column for the audit journal)."""
    if table in AUDIT_TABLES:
        found = db.metadata.tables.get(table)
        return tuple(c.name for c in found.columns) if found is not None else ()
    return EXPORTED.get(table, ())


def schema_links() -> list[Link]:
    """Every reference between tables: the foreign keys, the ``household_id`` columns without
    one, and :data:`LINKS_WITHOUT_FOREIGN_KEY` (those whose tables exist)."""
    tables = db.metadata.tables
    links: list[Link] = []
    for table in tables.values():
        for fk in table.foreign_keys:
            links.append(Link(table.name, fk.parent.name, fk.column.table.name, fk.column.name))
        household = table.columns.get("household_id")
        if household is not None and not household.foreign_keys:
            links.append(Link(table.name, "household_id", ROOT))
    for link in LINKS_WITHOUT_FOREIGN_KEY:
        if link.table in tables and link.target in tables:
            links.append(link)
    return links


# -- the walk ----------------------------------------------------------------------------------------

def _key(table: SqlTable, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in table.primary_key.columns)


def _json_values(value: Any, key: str) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    found = value.get(key) if isinstance(value, dict) else None
    return list(found) if isinstance(found, list) else []


def linked_rows(household_id: int) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row about household ``household_id``, by table and primary key (all columns, Python
    values): the household's row, then, until nothing new is found, every row one of whose
    :func:`schema_links` points at a row found. Another household's row is never reached: links
    only lead from a row to what it references, and nothing references a household but its own."""
    tables = db.metadata.tables
    root = tables[ROOT]
    found: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in tables}
    for row in db.session.execute(select(root).where(root.c.id == household_id)).mappings():
        found[ROOT][_key(root, row)] = dict(row)
    links = [link for link in schema_links() if link.table != ROOT]
    asked: dict[Link, set[Any]] = {link: set() for link in links}
    changed = bool(found[ROOT])
    while changed:
        changed = False
        for link in links:
            wanted = {row[link.target_column] for row in found[link.target].values()} - {None} - asked[link]
            if not wanted:
                continue
            asked[link] |= wanted
            table = tables[link.table]
            for row in _rows_pointing(table, link, wanted):
                key = _key(table, row)
                if key not in found[link.table]:
                    found[link.table][key] = row
                    changed = True
    return found


def _rows_pointing(table: SqlTable, link: Link, wanted: set[Any]) -> Iterable[dict[str, Any]]:
    column = table.c[link.column]
    if link.json_key is not None:
        # A list inside JSON: read in Python (the same on SQLite and PostgreSQL); only used for
        # print jobs, a few rows a month.
        for row in db.session.execute(select(table).where(column.is_not(None))).mappings():
            if wanted.intersection(_json_values(row[link.column], link.json_key)):
                yield dict(row)
        return
    values = sorted(wanted, key=str)
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        yield from (dict(r) for r in db.session.execute(select(table).where(column.in_(chunk))).mappings())


# -- the gathered data ------------------------------------------------------------------------------

@dataclass
class ExportFile:
    """A file kept about the household, as it goes into the ZIP (``content`` None: no longer kept)."""

    path: str
    table: str
    row_id: int
    kind: str  # document | scan_page | scan_cut_out
    name: str
    sha256: str
    content: bytes | None

    @property
    def available(self) -> bool:
        return self.content is not None


@dataclass
class Export:
    """What :func:`gather` found: raw rows by table (every column), who the accounts are, files."""

    household: Household
    generated_at: dt.datetime
    rows: dict[str, list[dict[str, Any]]]
    actors: dict[int, dict[str, Any]]
    files: list[ExportFile] = field(default_factory=list)

    def table(self, name: str) -> list[dict[str, Any]]:
        return self.rows.get(name, [])

    def by_id(self, name: str) -> dict[Any, dict[str, Any]]:
        return {row["id"]: row for row in self.table(name)}


def gather(household: Household) -> Export:
    """Everything about ``household``: the rows of :func:`linked_rows`, the scan batches and print
    jobs its pages and forms belong to, who the accounts named are, and its files."""
    found = linked_rows(household.id)
    _add_context(found)
    # Health answers are kept sealed (encrypted at rest): the family reads its own in clear.
    for table_rows in found.values():
        for row in table_rows.values():
            for column, value in row.items():
                if isinstance(value, dict | list):
                    row[column] = unsealed(value)
    rows = {name: [found[name][key] for key in sorted(found[name], key=_order)] for name in found if found[name]}
    export = Export(household=household, generated_at=utcnow_naive(), rows=rows, actors={})
    export.actors = _actors(export)
    export.files = _files(export)
    return export


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    # Primary keys in their natural order (ids as numbers), whatever their types.
    return tuple((0, v, "") if isinstance(v, int) else (1, 0, str(v)) for v in key)


def _add_context(found: dict[str, dict[tuple[Any, ...], dict[str, Any]]]) -> None:
    """Rows the household's rows belong to, beyond the walk: the scan batch of each of its pages,
    and the print jobs that printed its forms or that its journal names."""
    tables = db.metadata.tables
    batches = tables["scan_batches"]
    wanted = {row["batch_id"] for row in found["scan_pages"].values()} - {key[0] for key in found["scan_batches"]}
    if wanted:
        for row in db.session.execute(select(batches).where(batches.c.id.in_(sorted(wanted)))).mappings():
            found["scan_batches"][(row["id"],)] = dict(row)
    jobs = tables["print_jobs"]
    named = {event["detail"].get("print_job") for event in found["audit_events"].values()
             if isinstance(event.get("detail"), dict)} - {None}
    tokens = [t for t in found["print_tokens"].values() if t["printed_by_id"] is not None]
    if not named and not tokens:
        return
    printers = sorted({t["printed_by_id"] for t in tokens})
    services = {row.id: row.service_code for row in db.session.execute(
        select(FormVersion.id, FormVersion.service_code).where(
            FormVersion.id.in_(sorted({t["form_version_id"] for t in tokens}))))}
    query = select(jobs).where(jobs.c.id.in_(sorted(n for n in named if isinstance(n, int)))
                               | jobs.c.requested_by_id.in_(printers))
    for job in db.session.execute(query).mappings():
        # A forms job printed the household's form when the token was made by its requester
        # while it ran (tokens are issued by the job itself).
        printed = any(t["printed_by_id"] == job["requested_by_id"] and job["started_at"] is not None
                      and services.get(t["form_version_id"]) == job["service_code"]
                      and job["started_at"] <= t["created_at"] <= (job["finished_at"] or t["created_at"])
                      for t in tokens)
        if job["id"] in named or (job["kind"] == "forms" and printed):
            found["print_jobs"][(job["id"],)] = dict(job)


def _account_columns() -> list[tuple[str, str]]:
    """``(table, column)`` of every column naming an account."""
    return [(link.table, link.column) for link in schema_links()
            if link.target == "accounts" and link.target_column == "id" and link.json_key is None]


def _actors(export: Export) -> dict[int, dict[str, Any]]:
    """Who each account number in the export is: one of the family's accounts (with its e-mail),
    or a staff member (number and roles only, see the module docstring)."""
    from inscriptions.models import Account, StaffRole

    own = {row["id"]: row for row in export.table("accounts")}
    ids = {row.get(column) for table, column in _account_columns() for row in export.table(table)} - {None}
    ids = {i for i in ids if isinstance(i, int)}
    existing = set(db.session.scalars(select(Account.id).where(Account.id.in_(sorted(ids))))) if ids else set()
    roles: dict[int, list[dict[str, Any]]] = {}
    if ids:
        for grant in db.session.scalars(
                select(StaffRole).where(StaffRole.account_id.in_(sorted(ids))).order_by(StaffRole.id)):
            roles.setdefault(grant.account_id, []).append({"role": grant.role, "service": grant.service_code})
    actors: dict[int, dict[str, Any]] = {}
    for account_id in sorted(ids | set(own)):
        if account_id in own:
            actors[account_id] = {"account_id": account_id, "kind": "family", "email": own[account_id]["email"],
                                  "roles": roles.get(account_id, [])}
        elif account_id in existing:
            actors[account_id] = {"account_id": account_id, "kind": "staff", "roles": roles.get(account_id, [])}
        else:
            actors[account_id] = {"account_id": account_id, "kind": "deleted", "roles": []}
    return actors


_UNSAFE = re.compile(r"[^\w.\- ]+")


def _safe(name: str) -> str:
    """A file name safe in any archive tool (accents kept, no folder, no control character)."""
    cleaned = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return cleaned[:120] or "fichier"


def _files(export: Export) -> list[ExportFile]:
    """The documents sent with forms (opened if sealed), each scanned page's image and cut-outs."""
    from inscriptions.intake.store import scan_dir
    from inscriptions.models import Upload
    from inscriptions.uploads import open_upload

    files: list[ExportFile] = []
    for row in export.table("uploads"):
        upload = db.session.get(Upload, row["id"])
        try:
            content: bytes | None = unseal_bytes(open_upload(upload).read_bytes()) if upload is not None else None
        except FileNotFoundError:
            content = None
        files.append(ExportFile(path=f"fichiers/documents/{row['id']}-{_safe(row['filename'])}", table="uploads",
                                row_id=row["id"], kind="document", name=row["filename"], sha256=row["sha256"],
                                content=content))
    folder = scan_dir()
    for row in export.table("scan_pages"):
        reading = row["reading"] if isinstance(row["reading"], dict) else {}
        images = [("scan_page", f"page-{row['id']}.png", row["image_sha256"])]
        for path, digest in sorted((reading.get("crop_files") or {}).items()):
            images.append(("scan_cut_out", f"page-{row['id']}-decoupe-{_safe(path)}.png", digest))
        for kind, name, digest in images:
            files.append(ExportFile(path=f"fichiers/scans/{name}", table="scan_pages", row_id=row["id"], kind=kind,
                                    name=name, sha256=digest, content=_png(folder, digest)))
    return files


def _png(folder: Path, digest: str) -> bytes | None:
    """A stored page image or cut-out by its SHA-256 (None when it is no longer kept)."""
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    path = folder / f"{digest}.png"
    return unseal_bytes(path.read_bytes()) if path.is_file() else None


# -- JSON --------------------------------------------------------------------------------------------

def json_value(value: Any) -> Any:
    """A column's value as the JSON export writes it (dates in ISO 8601, amounts as text)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def _json(export: Export) -> dict[str, Any]:
    town = current_app.extensions["inscriptions.town"]
    tables = {
        name: [{column: json_value(row[column]) for column in exported_columns(name) if column in row}
               for row in rows]
        for name, rows in export.rows.items() if exported_columns(name)
    }
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": json_value(export.generated_at),
        "data_controller": town.name,
        "household_id": export.household.id,
        "tables": tables,
        "actors": {str(k): v for k, v in export.actors.items()},
        "allocation": _allocation(export),
        "files": [{"path": f.path, "table": f.table, "row_id": f.row_id, "kind": f.kind, "name": f.name,
                   "sha256": f.sha256, "size": len(f.content) if f.content is not None else None,
                   "available": f.available} for f in export.files],
        "left_out": {key: str(reason) for key, reason in LEFT_OUT.items()},
        "notes": [str(note) for note in NOTES],
    }


NOTES = (
    _l("Staff members are shown by their account number and role, not by their name: the town's data "
       "protection officer can tell you more on request."),
    _l("The PDF files of mass printings, and the scanner's stacks as the town uploaded them, hold the pages of "
       "many families: they are not joined. Your own scanned pages are, one by one; the mass printings are "
       "listed, and each form printed for you under the paper forms printed."),
    _l("Times are in UTC in the JSON file and in the town's time in the PDF."),
)


def household_data(household: Household) -> dict[str, Any]:
    """Every piece of data the application keeps about ``household``, JSON-ready (see the module
    docstring for the layout)."""
    return _json(gather(household))


# -- allocation in words --------------------------------------------------------------------------

OUTCOME_LABELS: dict[str, Any] = {
    "accepted": _l("A place was given"),
    "waitlisted": _l("On the waiting list"),
    "refused": _l("Refused"),
}


def _allocation(export: Export) -> list[dict[str, Any]]:
    """For each application: why each wish was decided as it was, and how the service's rule
    applied to it (the words the family was given)."""
    from inscriptions.allocation.explain import explain_application
    from inscriptions.allocation.status import REASONS
    from inscriptions.models import AllocationRun, Application

    runs = {run.id: run for run in db.session.scalars(select(AllocationRun).where(AllocationRun.id.in_(
        sorted({d["run_id"] for d in export.table("allocation_decisions")}))))}
    out = []
    for row in export.table("applications"):
        application = db.session.get(Application, row["id"])
        found = explain_application(application) if application is not None else None
        service = registry().get(row["service_code"])
        out.append({
            "application_id": row["id"],
            "public_number": (application.public_id(service.definition.reference_prefix)
                              if service is not None and application is not None else ""),
            "explanation": found.sentences() if found is not None else [],
            "decisions": [
                {"decision_id": d["id"], "outcome": str(OUTCOME_LABELS.get(d["outcome"], d["outcome"])),
                 "reason": str(REASONS.get(d["reason"], d["reason"])),
                 "run": _run(runs.get(d["run_id"]))}
                for d in export.table("allocation_decisions") if d["application_id"] == row["id"]
            ],
        })
    return out


def _run(run: Any) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.id, "rule": run.rule, "algorithm": run.algorithm, "started_at": json_value(run.started_at),
            "finished_at": json_value(run.finished_at)}


# -- the readable copy -------------------------------------------------------------------------------

ROLE_LABELS: dict[str, Any] = {
    "agent": _l("agent"),
    "manager": _l("manager"),
    "admin": _l("administrator"),
    "dpo": _l("data protection officer"),
    "parent": _l("parent"),
}
ACCESS_CHANNELS: dict[str, Any] = {
    "web": _l("website"),
    "api": _l("API"),
    "cli": _l("command line"),
    "job": _l("background job"),
}
PRINT_KINDS: dict[str, Any] = {"forms": _l("Paper forms"), "letters": _l("Letters")}


def _service_name(code: str | None) -> str:
    service = registry().get(code or "")
    return service.definition.name if service is not None else (code or "")


def _moment(value: dt.datetime | None) -> str:
    from inscriptions.privacy.journal import moment

    return moment(value) if value is not None else ""


def _day(value: dt.date | None) -> str:
    return format_date(value, "dd/MM/yyyy") if value is not None else ""


def _role_text(role: str, service: str | None) -> str:
    label = str(ROLE_LABELS.get(role, role))
    return f"{label} – {_service_name(service)}" if service else label


def _audit_roles(text: str) -> str:
    """``agent:cantine,admin`` (the journal's ``role`` column) in words."""
    parts = []
    for item in (text or "").split(","):
        role, _sep, service = item.strip().partition(":")
        if role:
            parts.append(_role_text(role, service or None))
    return ", ".join(parts)


class _Words:
    """The export's values in plain French, for the PDF."""

    def __init__(self, export: Export):
        self.export = export
        self.children = export.by_id("children")
        self.guardians = export.by_id("guardians")
        self.registrations = export.by_id("registrations")
        self.uploads = {row.get("token"): row["filename"] for row in export.table("uploads")}

    def actor(self, account_id: int | None, nobody: str = "") -> str:
        if account_id is None:
            return nobody
        actor = self.export.actors.get(account_id)
        if actor is None or actor["kind"] == "deleted":
            return _("account no. %(id)s (deleted since)", id=account_id)
        if actor["kind"] == "family":
            return _("you (account %(email)s)", email=actor["email"])
        roles = ", ".join(_role_text(r["role"], r["service"]) for r in actor["roles"])
        return (_("staff member no. %(id)s (%(roles)s)", id=account_id, roles=roles) if roles
                else _("staff member no. %(id)s", id=account_id))

    def person(self, reg: Mapping[str, Any]) -> str:
        child = self.children.get(reg.get("child_id"))
        if child is not None:
            return f"{child['first_name']} {child['last_name']}"
        guardian = self.guardians.get(reg.get("guardian_id"))
        if guardian is not None:
            return f"{guardian['first_name']} {guardian['last_name']}"
        return _("the household")

    def participant(self, key: str) -> str:
        """A draft's participant key (``c12`` for a child, ``g5`` for a guardian) by name."""
        found = re.fullmatch(r"(c|g|child:|guardian:)(\d+)", str(key))
        table = (self.children if found.group(1).startswith("c") else self.guardians) if found else {}
        row = table.get(int(found.group(2))) if found else None
        return f"{row['first_name']} {row['last_name']}" if row is not None else str(key)

    def member(self, person: Any) -> str:
        """A participant of an application (``{"child_id": .., "guardian_id": ..}``) by name."""
        if not isinstance(person, dict):
            return str(person)
        if person.get("child_id") is not None:
            return self.participant(f"c{person['child_id']}")
        if person.get("guardian_id") is not None:
            return self.participant(f"g{person['guardian_id']}")
        return _("the household")

    def answers(self, form_version_id: int | None, values: Mapping[str, Any] | None) -> list[tuple[str, str]]:
        """The answers in words (labels, not codes; a group's rows on one line), as on the form."""
        from inscriptions.forms import web

        if not values:
            return []
        try:
            defn = definition_for(form_version_id) if form_version_id is not None else None
        except LookupError:
            defn = None
        if defn is None:
            return [(key, _plain(value)) for key, value in values.items()]
        rows: list[tuple[str, str]] = []
        try:
            for page in defn.form.pages:
                for answer in web.answers_in_words(page.fields, values, file_names=self.uploads,
                                                   include_empty=False):
                    if answer.rows:
                        text = " / ".join(", ".join(f"{sub.label} : {sub.text}" for sub in row)
                                          for row in answer.rows)
                    else:
                        text = answer.text
                    rows.append((answer.label, text))
        except (TypeError, ValueError, AttributeError, KeyError):
            # Answers kept under an older shape than the form's words expect: show them as they are.
            return self.typed(form_version_id, values)
        return rows

    def fields(self, form_version_id: int | None) -> dict[str, Any]:
        """Field name -> field of a form version (group sub-fields included)."""
        try:
            defn = definition_for(form_version_id) if form_version_id is not None else None
        except LookupError:
            return {}
        found: dict[str, Any] = {}

        def walk(fields: Iterable[Any]) -> None:
            for fld in fields:
                found.setdefault(fld.name, fld)
                walk(getattr(fld, "fields", None) or [])

        for page in defn.form.pages if defn is not None else []:
            walk(page.fields)
        return found

    def typed(self, form_version_id: int | None, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """What was typed in an unsent form, every value shown (a question the form now hides
        included), in words where the form gives them."""
        return _flatten(values, self.fields(form_version_id), file_names=self.uploads)


YES = frozenset({"yes", "y", "true", "on", "1", "oui"})
NO = frozenset({"no", "n", "false", "off", "0", "non"})


def _field_text(fld: Any, value: Any, file_names: Mapping[str, str] | None = None) -> str:
    """A value of ``fld`` in words, clean or as typed (a yes/no typed as ``"yes"``)."""
    from inscriptions.definitions import schema as s
    from inscriptions.forms.web import answer_text

    if isinstance(fld, s.YesNoField | s.ConsentField) and isinstance(value, str):
        lowered = value.strip().lower()
        value = True if lowered in YES else False if lowered in NO else value
    if isinstance(fld, s.MultipleChoiceField | s.WeekdaysField) and isinstance(value, str):
        value = [value]
    try:
        return answer_text(fld, value, file_names)
    except (TypeError, ValueError):
        return _plain(value)


def _plain(value: Any) -> str:
    """A stored value as text (lists and mappings spelt out, no JSON punctuation soup)."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):
        return "; ".join(f"{k} : {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return str(json_value(value))


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _flatten(value: Any, fields: Mapping[str, Any], prefix: str = "",
             file_names: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Nested values (read from a scan, typed in a form) as label / text lines, the empty ones
    left out: ``Personne 1 – Régime alimentaire`` / ``Sans viande``."""
    if isinstance(value, dict):
        lines: list[tuple[str, str]] = []
        for key, item in value.items():
            if _empty(item):
                continue
            fld = fields.get(str(key))
            name = (fld.label if fld is not None else str(_l("Person")) if key == "participants" else str(key))
            label = f"{prefix} – {name}" if prefix else name
            if fld is not None and not isinstance(item, dict) and not (
                    isinstance(item, list) and any(isinstance(v, dict) for v in item)):
                lines.append((label, _field_text(fld, item, file_names)))
            else:
                lines += _flatten(item, fields, label, file_names)
        return lines
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        lines = []
        for number, item in enumerate(value, start=1):
            lines += _flatten(item, fields, f"{prefix} {number}" if prefix else str(number), file_names)
        return lines
    return [] if _empty(value) else [(prefix, _plain(value))]


def _p(text: Any, style: Any) -> Paragraph:
    # ReportLab paragraphs read a small markup: the family's own text must not be taken for it.
    shown = str(text) if text not in (None, "") else "–"
    return Paragraph(escape(pdf_text(shown), quote=False).replace("\n", "<br/>"), style)


class _Pdf:
    """The story of the readable PDF, section by section."""

    def __init__(self) -> None:
        styles = getSampleStyleSheet()
        self.body, self.title, self.h2, self.h3 = (styles["BodyText"], styles["Title"], styles["Heading2"],
                                                   styles["Heading3"])
        self.small = styles["BodyText"].clone("small", fontSize=8, leading=10)
        self.story: list[Any] = []
        self.table_style = TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
        ])

    def para(self, text: Any, style: Any = None) -> None:
        self.story.append(_p(text, style or self.body))

    def section(self, title: str, intro: str = "") -> None:
        self.story.append(_p(title, self.h2))
        if intro:
            self.para(intro)

    def heading(self, title: str) -> None:
        self.story.append(_p(title, self.h3))

    def pairs(self, rows: list[tuple[Any, Any]]) -> None:
        rows = [(k, v) for k, v in rows if v not in (None, "", [], {})]
        if not rows:
            return
        table = Table([[_p(k, self.body), _p(v, self.body)] for k, v in rows], colWidths=[55 * mm, 115 * mm])
        table.setStyle(self.table_style)
        self.story += [table, Spacer(1, 3 * mm)]

    def grid(self, header: list[str], rows: list[list[Any]], widths: list[float]) -> None:
        if not rows:
            return
        data = [[_p(h, self.small) for h in header]] + [[_p(c, self.small) for c in row] for row in rows]
        table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ]))
        self.story += [table, Spacer(1, 3 * mm)]

    def none(self) -> None:
        self.para(_("Nothing is kept of this kind."))


def _pdf(export: Export) -> bytes:
    from inscriptions.audit import action_label
    from inscriptions.portal.catalogue import per_unit
    from inscriptions.privacy.journal import detail_items
    from inscriptions.registrations.status import status_label
    from inscriptions.reports.dashboard import CHANNEL_LABELS

    town = current_app.extensions["inscriptions.town"]
    words = _Words(export)
    out = _Pdf()
    sessions = _sessions(export)
    out.story.append(_p(_("Your personal data"), out.title))
    out.para(_("This document holds all the data that %(town)s keeps about your household, on %(day)s. It goes "
               "with the file donnees.json (the same data, readable by a program) and with the files you sent "
               "or that were scanned, in the same ZIP archive.",
               town=town.name, day=_moment(export.generated_at)))
    out.para(_("Each part below is one kind of data. A part that does not apply to you says so."))
    out.story.append(Spacer(1, 4 * mm))

    hh = export.household
    home = export.table("households")[0] if export.table("households") else {}
    out.section(_("Your household"), _("Your address and your quotient familial, used to compute prices."))
    out.pairs([
        (_("Household number"), hh.id),
        (_("Address"), " ".join(x for x in (home.get("address_line1"), home.get("address_line2")) if x)),
        (_("Postcode and city"), f"{home.get('postcode', '')} {home.get('city', '')}".strip()),
        (_("Quotient familial"), home.get("quotient_familial")),
        (_("Household created on"), _moment(home.get("created_at"))),
        (_("Last changed on"), _moment(home.get("updated_at"))),
        (_("End of your latest registration already anonymised"),
         _moment(next(iter(export.table("household_activity")), {}).get("last_registration_end"))),
    ])

    out.section(_("Guardians and accounts"))
    accounts = {row["guardian_id"]: row for row in export.table("accounts")}
    for g in export.table("guardians"):
        account = accounts.get(g["id"])
        out.heading(f"{g['first_name']} {g['last_name']}")
        rows: list[tuple[Any, Any]] = [
            (_("E-mail"), g["email"]), (_("E-mail confirmed on"), _moment(g["email_confirmed_at"])),
            (_("Phone"), g["phone"]), (_("Date of birth"), _day(g["birth_date"])),
        ]
        if account is not None:
            rows += [(_("Account (log-in)"), account["email"]),
                     (_("Account created on"), _moment(account["created_at"])),
                     (_("Last log-in"), _moment(account["last_login_at"])),
                     (_("Account active"), _plain(bool(account["active"]))),
                     (_("Warned of deletion for inactivity on"), _moment(account["deletion_warned_at"]))]
        else:
            rows.append((_("Account (log-in)"), _("none: this household is followed on paper")))
        out.pairs(rows)
    for token in export.table("api_tokens"):
        out.pairs([(_("API access key"), token["name"]), (_("Created on"), _moment(token["created_at"])),
                   (_("Last used on"), _moment(token["last_used_at"])),
                   (_("Revoked on"), _moment(token["revoked_at"]))])

    out.section(_("Children"))
    for c in export.table("children"):
        out.pairs([(_("Name"), f"{c['first_name']} {c['last_name']}"), (_("Date of birth"), _day(c["birth_date"])),
                   (_("School"), c["school"]), (_("Class"), c["class_name"])])
    if not export.table("children"):
        out.none()

    out.section(_("Registrations"), _("Each registration with its answers, its price, who keyed it and every "
                                      "change of its status, with who made it and why."))
    history: dict[int, list[dict[str, Any]]] = {}
    for change in export.table("status_changes"):
        history.setdefault(change["registration_id"], []).append(change)
    for reg in export.table("registrations"):
        out.heading(f"{reg['reference']} – {_service_name(reg['service_code'])}")
        price = per_unit(reg["price"], reg["price_unit"]) if reg["price"] is not None else ""
        out.pairs([
            (_("Person"), words.person(reg)), (_("Session"), sessions.get(reg["session_id"], "")),
            (_("Status"), status_label(reg["status"])), (_("Places"), reg["places"]),
            (_("Made on"), _moment(reg["created_at"])),
            (_("Channel"), str(CHANNEL_LABELS.get(reg["channel"], reg["channel"]))),
            (_("Keyed by"), words.actor(reg["keyed_by_id"], _("you, online"))),
            (_("Paper received on"), _day(reg["received_on"])),
            (_("Reason given by the agent"), reg["mediation_reason"]),
            (_("Price"), price), (_("Price detail"), "\n".join(str(line) for line in reg["price_detail"] or [])),
            (_("On the waiting list since"), _moment(reg["waitlisted_at"])),
            (_("Offer valid until"), _moment(reg["offer_expires_at"])),
            (_("Anonymised on"), _moment(reg["anonymised_at"])),
        ])
        out.pairs(words.answers(reg["form_version_id"], reg["answers"]))
        out.grid([_("Date"), _("Status change"), _("By"), _("Reason")], [
            [_moment(h["at"]), f"{status_label(h['from_status']) if h['from_status'] else '–'} → "
                               f"{status_label(h['to_status'])}",
             words.actor(h["by_id"], _("automatic")), h["reason"]]
            for h in history.get(reg["id"], [])
        ], [32, 52, 45, 41])
    if not export.table("registrations"):
        out.none()

    _pdf_applications(out, export, words, CHANNEL_LABELS)
    _pdf_drafts(out, export, words)

    out.section(_("Files sent"), _("The files themselves are in the ZIP archive, in the folder fichiers."))
    paths = {(f.table, f.row_id, f.kind): f for f in export.files}
    out.grid([_("Sent on"), _("File"), _("Kind"), _("In the archive")], [
        [_moment(u["created_at"]), u["filename"], u["content_type"],
         paths[("uploads", u["id"], "document")].path if paths[("uploads", u["id"], "document")].available
         else _("no longer kept")]
        for u in export.table("uploads")
    ], [30, 50, 30, 60])
    if not export.table("uploads"):
        out.none()

    _pdf_paper(out, export, words)

    out.section(_("Photo consent"))
    for c in export.table("photo_consents"):
        child = words.children.get(c["child_id"])
        out.pairs([(_("Child"), f"{child['first_name']} {child['last_name']}" if child else c["child_id"]),
                   (_("Service"), _service_name(c["service_code"])),
                   (_("Given on"), f"{_moment(c['given_at'])} – {words.actor(c['given_by_id'])}"),
                   (_("Withdrawn on"), f"{_moment(c['withdrawn_at'])} – {words.actor(c['withdrawn_by_id'])}"
                    if c["withdrawn_at"] else "")])
    if not export.table("photo_consents"):
        out.none()

    letters = [e for e in export.table("audit_events") if e["action"] == "print_letter"]
    out.section(_("Letters"), _("Letters printed for you (the town sends a letter when a household has no "
                                "e-mail address)."))
    out.grid([_("Date"), _("Registration"), _("By")], [
        [_moment(e["at"]), (words.registrations.get(e["registration_id"]) or {}).get("reference", ""),
         words.actor(e["actor_account_id"])] for e in letters
    ], [40, 60, 70])
    if not letters:
        out.none()

    out.section(_("Accesses to your file"), _("Every time the town's staff (or you) read, changed, printed or "
                                             "exported your data, with the reason given, the role and the "
                                             "channel."))
    out.grid([_("Date"), _("What"), _("Who, role and channel"), _("Reason and details")], [
        [_moment(e["at"]), action_label(e["action"]),
         "\n".join(x for x in (words.actor(e["actor_account_id"], _("the application")),
                               _audit_roles(e.get("role") or ""),
                               str(ACCESS_CHANNELS.get(e.get("channel") or "", e.get("channel") or ""))) if x),
         "\n".join(x for x in [e["reason"] or "", *(f"{k} : {v}" for k, v in detail_items(e["action"], e["detail"]))]
                   if x)]
        for e in export.table("audit_events")
    ], [28, 38, 50, 54])
    if not export.table("audit_events"):
        out.none()

    out.section(_("What is not in this document, and why"))
    out.pairs([(str(LEFT_OUT_NAMES.get(key, key)), str(reason)) for key, reason in LEFT_OUT.items()])
    for note in NOTES:
        out.para(str(note))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=_("Your personal data"), author=town.name,
                            leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm)
    doc.build(out.story)
    return buffer.getvalue()


def _sessions(export: Export) -> dict[int, str]:
    from inscriptions.models import ServiceSession

    ids = sorted({r["session_id"] for r in export.table("registrations")} - {None})
    if not ids:
        return {}
    return {s.id: s.label for s in db.session.scalars(select(ServiceSession).where(ServiceSession.id.in_(ids)))}


APPLICATION_STATES: dict[str, Any] = {
    "prepared": _l("Prepared, not sent yet"),
    "pending": _l("Waiting for the decision"),
    "decided": _l("Decided"),
}


def _pdf_applications(out: _Pdf, export: Export, words: _Words, channels: Mapping[str, Any]) -> None:
    out.section(_("Applications and decisions"), _("What you asked for, service by service, and how each wish "
                                                   "was decided: by whom and why."))
    explained = {item["application_id"]: item for item in _allocation(export)}
    for app in export.table("applications"):
        item = explained.get(app["id"], {})
        out.heading(f"{item.get('public_number') or app['batch']} – {_service_name(app['service_code'])}")
        out.pairs([
            (_("Application sent on"), _moment(app["submitted_at"])),
            (_("Status"), str(APPLICATION_STATES.get(app["status"], app["status"]))),
            (_("Channel"), str(channels.get(app["channel"], app["channel"]))),
            (_("Keyed by"), words.actor(app["keyed_by_id"], _("you, online"))),
            (_("People"), ", ".join(words.member(p) for p in app["participants"] or [])),
            (_("Wishes"), " ; ".join(" / ".join(str(code) for code in wish) for wish in app["wishes"] or [])),
            (_("Decided on"), _moment(app["decided_at"])), (_("Points"), app["points"]),
            (_("Rank in the draw"), app["draw_rank"]), (_("Note"), app["note"]),
            (_("How the rule applied"), "\n".join(item.get("explanation", []))),
        ])
        rows = []
        for decision in item.get("decisions", []):
            row = next(d for d in export.table("allocation_decisions") if d["id"] == decision["decision_id"])
            run = decision["run"]
            by = _("the allocator (%(algorithm)s)", algorithm=run["algorithm"]) if run else _("the allocator")
            rows.append([row["wish"], row["session_code"] or "–", decision["outcome"], decision["reason"], by])
        out.grid([_("Wish"), _("Session"), _("Decision"), _("Why"), _("Decided by")], rows, [14, 30, 30, 60, 36])
    if not export.table("applications"):
        out.none()


def _pdf_drafts(out: _Pdf, export: Export, words: _Words) -> None:
    out.section(_("Forms started and not sent"), _("What you typed in a form online, kept so that nothing is "
                                                  "lost between its pages."))
    for draft in export.table("drafts"):
        state = draft["state"] if isinstance(draft["state"], dict) else {}
        sent = _("sent") if draft["submitted_batch"] else _("not sent")
        out.heading(f"{_service_name(draft['service_code'])} – {sent}")
        out.pairs([(_("Started on"), _moment(draft["created_at"])), (_("Last saved on"), _moment(draft["updated_at"])),
                   (_("For"), ", ".join(words.participant(p) for p in state.get("participants") or []))])
        out.pairs(words.typed(draft["form_version_id"], state.get("shared") or {}))
        for key, values in (state.get("each") or {}).items():
            answers = words.typed(draft["form_version_id"], values if isinstance(values, dict) else {})
            if answers:
                out.para(words.participant(key))
                out.pairs(answers)
    if not export.table("drafts"):
        out.none()


SCAN_STATES: dict[str, Any] = {
    "ok": _l("Read, waiting for an agent to confirm it"),
    "review": _l("Read, some answers to check"),
    "manual": _l("To be read by an agent"),
    "duplicate": _l("Copy of a page already received"),
    "registered": _l("Confirmed and registered"),
    "rejected": _l("Set aside by an agent"),
}


def _pdf_paper(out: _Pdf, export: Export, words: _Words) -> None:
    out.section(_("Paper forms printed"), _("Each paper form printed for you: its code (in the QR code) and "
                                           "who printed it."))
    out.grid([_("Printed on"), _("Code"), _("Form"), _("Pages"), _("By")], [
        [_moment(t["created_at"]), t["token"], words.participant(f"c{t['child_id']}") if t["child_id"] else "",
         t["pages"], words.actor(t["printed_by_id"])]
        for t in export.table("print_tokens")
    ], [30, 30, 40, 14, 56])
    if not export.table("print_tokens"):
        out.none()
    jobs = export.table("print_jobs")
    if jobs:
        out.heading(_("Mass printings that included you"))
        out.grid([_("Date"), _("Kind"), _("Service"), _("Asked by")], [
            [_moment(j["requested_at"]), str(PRINT_KINDS.get(j["kind"], j["kind"])), _service_name(j["service_code"]),
             words.actor(j["requested_by_id"])] for j in jobs
        ], [35, 35, 50, 50])

    out.section(_("Scanned paper forms and the values read"), _("Each page of a paper form scanned by the town, "
                                                               "what the machine read on it, and what the agent "
                                                               "confirmed. The page images are in the ZIP archive."))
    batches = export.by_id("scan_batches")
    for page in export.table("scan_pages"):
        fields = words.fields(page["form_version_id"])
        batch = batches.get(page["batch_id"]) or {}
        out.heading(_("Page %(page)s of %(total)s, code %(token)s", page=page["page"] or "?",
                      total=page["total"] or "?", token=page["token"] or "–"))
        out.pairs([(_("Scanned on"), _moment(batch.get("uploaded_at"))),
                   (_("Scanned by"), words.actor(batch.get("uploaded_by_id"))),
                   (_("State"), str(SCAN_STATES.get(page["status"], page["status"]))),
                   (_("Note"), page["reason"] or page["message"]),
                   (_("Confirmed on"), _moment(page["confirmed_at"])),
                   (_("Confirmed by"), words.actor(page["confirmed_by_id"])),
                   (_("Image in the archive"), f"fichiers/scans/page-{page['id']}.png")])
        read = _flatten(page["machine_values"] or {}, fields)
        if read:
            out.para(_("Read by the machine:"))
            out.pairs(read)
        confirmed = _flatten(page["confirmed_values"] or {}, fields)
        if confirmed:
            out.para(_("Confirmed by the agent:"))
            out.pairs(confirmed)
    if not export.table("scan_pages"):
        out.none()


def household_pdf(household: Household) -> bytes:
    """The household's data as a readable A4 PDF in French (same content as :func:`household_data`)."""
    return _pdf(gather(household))


# -- the complete copy -------------------------------------------------------------------------------

def household_zip(household: Household) -> bytes:
    """The ZIP archive: ``donnees.json``, ``donnees.pdf``, ``LISEZMOI.txt`` and every file kept
    about the household under ``fichiers/`` (paths as in the JSON's ``files``)."""
    export = gather(household)
    data = _json(export)
    stamp = export.generated_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, content: bytes) -> None:
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), content, zipfile.ZIP_DEFLATED)

        add("LISEZMOI.txt", _readme(export).encode("utf-8"))
        add("donnees.json", json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
        add("donnees.pdf", _pdf(export))
        for item in export.files:
            if item.content is not None:
                add(item.path, item.content)
    return buffer.getvalue()


def _readme(export: Export) -> str:
    town = current_app.extensions["inscriptions.town"]
    lines = [
        _("Personal data of household no. %(id)s, kept by %(town)s, on %(day)s.", id=export.household.id,
          town=town.name, day=_moment(export.generated_at)),
        "",
        _("donnees.pdf: all your data, to read."),
        _("donnees.json: the same data, for a program or another service (right to data portability)."),
        _("fichiers/: the files themselves (files you sent, scanned pages)."),
    ]
    missing = [f.path for f in export.files if not f.available]
    if missing:
        lines += ["", _("Files no longer kept (deleted at the end of their retention period):"), *missing]
    return "\n".join(lines) + "\n"
