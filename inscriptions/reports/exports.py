"""Exports of a service's registrations: CSV for French Excel, and XLSX.

One row per registration: reference, status, the participant and the household, the session, the
channel, dates, price, then one column per form field (answers in words, as the family chose them).
Answers flagged ``sensitive`` are left out entirely (no column) unless the reader may read them.

Rows are read in batches (``yield_per``) and written as they come: the CSV is streamed to the
browser, the XLSX written by openpyxl's write-only mode into a spooled temporary file, so an
export of tens of thousands of registrations never holds them all in memory as cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased, selectinload

from inscriptions.clock import local_zone
from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import definition_of
from inscriptions.extensions import db
from inscriptions.forms import web
from inscriptions.forms.validation import is_visible
from inscriptions.models import Child, FormVersion, Guardian, Household, Registration, ServiceSession
from inscriptions.privacy.sealing import unsealed
from inscriptions.reports.dashboard import status_name

BATCH = 500
# Excel reads a UTF-8 CSV correctly only with a byte order mark; French Excel splits on ';'.
BOM = "\ufeff"
SEPARATOR = ";"
# A cell starting with one of these is run as a formula by spreadsheets (CSV injection):
# answers are typed by families, so such cells get a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFilter:
    """Which registrations to export: all of the service, or one session, some statuses."""

    service_code: str
    session: ServiceSession | None = None
    statuses: tuple[str, ...] = ()

    def apply(self, query: Select[Any]) -> Select[Any]:
        query = query.where(Registration.service_code == self.service_code)
        if self.session is not None:
            query = query.where(Registration.session_id == self.session.id)
        if self.statuses:
            query = query.where(Registration.status.in_(self.statuses))
        return query

    def audit_detail(self) -> dict[str, Any]:
        return {
            "service": self.service_code,
            "session": self.session.code if self.session is not None else None,
            "statuses": list(self.statuses),
        }


@dataclass
class FieldColumn:
    """A form field's column; ``specs`` is the field as each form version defined it."""

    name: str
    header: str
    specs: dict[int, Any] = field(default_factory=dict)


@dataclass
class ExportPlan:
    """The columns of an export, and how many rows it will have."""

    fixed: list[str]
    fields: list[FieldColumn]
    rows: int
    sensitive_included: bool

    @property
    def headers(self) -> list[str]:
        return self.fixed + [c.header for c in self.fields]


def fixed_headers(service: LoadedService) -> list[str]:
    """The columns every export has, before the form's fields."""
    headers = [_("Reference"), _("Status"), _("First name"), _("Last name")]
    if service.definition.audience == "child":
        headers += [_("Date of birth"), _("School"), _("Class")]
    headers += [_("Household"), _("Guardians")]
    if service.definition.sessions:
        headers += [_("Session")]
    headers += [_("Places"), _("Channel"), _("Price"), _("Unit"), _("Created on"), _("Last change"),
                _("Received on")]
    return headers


def plan_export(service: LoadedService, filters: ExportFilter, sensitive: bool) -> ExportPlan:
    """The columns: the current form's fields first, then fields only older form versions had."""
    version_ids = list(db.session.scalars(
        filters.apply(select(Registration.form_version_id).distinct())
    ))
    versions = {v.id: v for v in db.session.scalars(select(FormVersion).where(FormVersion.id.in_(version_ids)))}
    ordered = [service.definition] + [definition_of(versions[i]) for i in sorted(versions, reverse=True)]
    columns: dict[str, FieldColumn] = {}
    for defn in ordered:
        for _page, fld in defn.iter_fields():
            if fld.sensitive and not sensitive:
                continue
            if fld.name not in columns:
                columns[fld.name] = FieldColumn(fld.name, fld.label)
    for version_id, version in versions.items():
        defn = definition_of(version)
        for _page, fld in defn.iter_fields():
            if fld.name in columns:
                columns[fld.name].specs[version_id] = fld
    # Two fields with the same label (renamed between versions) stay distinguishable.
    seen: dict[str, int] = {}
    for column in columns.values():
        seen[column.header] = seen.get(column.header, 0) + 1
    for column in columns.values():
        if seen[column.header] > 1:
            column.header = f"{column.header} ({column.name})"
    rows = db.session.scalar(filters.apply(select(func.count(Registration.id)))) or 0
    return ExportPlan(fixed_headers(service), list(columns.values()), int(rows), sensitive)


def _local(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).astimezone(local_zone()).replace(tzinfo=None)


class AnswerWords:
    """Answers as cells, in words, with the translated words looked up once per export.

    The same wording as the registration pages (:func:`inscriptions.forms.web.answer_text`), but a
    translation lookup per cell costs more than everything else an export row does.
    """

    def __init__(self, sensitive: bool):
        self.sensitive = sensitive
        self.yes, self.no, self.agree, self.file = _("Yes"), _("No"), _("Yes, I agree"), _("File sent")
        self._choices: dict[int, dict[str, str]] = {}

    def _labels(self, spec: Any) -> dict[str, str]:
        labels = self._choices.get(id(spec))
        if labels is None:
            labels = self._choices[id(spec)] = dict(web.choices_of(spec))
        return labels

    def cell(self, spec: Any, values: dict[str, Any]) -> Any:
        """One answer as a cell: numbers and dates typed, the rest in words; hidden or empty: blank."""
        if spec is None or not is_visible(spec, values):
            return None
        value = values.get(spec.name)
        if value is None or value == "" or value == []:
            return None
        if isinstance(spec, s.GroupField):
            lines = []
            for row in value if isinstance(value, list) else []:
                if not isinstance(row, dict):
                    continue
                parts = [self.text(sub, row.get(sub.name)) for sub in spec.fields
                         if (self.sensitive or not sub.sensitive) and is_visible(sub, row)
                         and row.get(sub.name) not in (None, "", [])]
                if parts:
                    lines.append(" – ".join(parts))
            return " ; ".join(lines) or None
        return self.text(spec, value)

    def text(self, spec: Any, value: Any) -> Any:
        if isinstance(spec, s.YesNoField):
            return self.yes if value is True else self.no
        if isinstance(spec, s.ConsentField):
            return self.agree if value else self.no
        if isinstance(spec, s.SingleChoiceField):
            return self._labels(spec).get(str(value), str(value))
        if isinstance(spec, s.MultipleChoiceField | s.WeekdaysField):
            labels = self._labels(spec)
            return ", ".join(labels.get(str(v), str(v)) for v in value) if isinstance(value, list) else str(value)
        if isinstance(spec, s.IntegerField) and isinstance(value, int):
            return value
        if isinstance(spec, s.DateField):
            try:
                return dt.date.fromisoformat(str(value))
            except ValueError:
                return str(value)
        if isinstance(spec, s.FileField):
            return self.file
        return str(value)


def iter_rows(service: LoadedService, filters: ExportFilter, plan: ExportPlan) -> Iterator[list[Any]]:
    """The export's rows as typed cells (str, int, Decimal, date, datetime or None), by reference.

    Plain rows, not ORM objects (a registration object costs more to build than its whole CSV
    line), read :data:`BATCH` at a time; the households of each batch, with their guardians, in
    one more query per batch.
    """
    adult = aliased(Guardian)
    query = (
        filters.apply(
            select(
                Registration.reference, Registration.status, Registration.places, Registration.channel,
                Registration.price, Registration.price_unit, Registration.created_at, Registration.updated_at,
                Registration.received_on, Registration.answers, Registration.form_version_id,
                Registration.household_id,
                Child.first_name.label("child_first"), Child.last_name.label("child_last"),
                Child.birth_date, Child.school, Child.class_name,
                adult.first_name.label("adult_first"), adult.last_name.label("adult_last"),
                ServiceSession.label.label("session_label"),
            )
            .outerjoin(Child, Child.id == Registration.child_id)
            .outerjoin(adult, adult.id == Registration.guardian_id)
            .outerjoin(ServiceSession, ServiceSession.id == Registration.session_id)
        )
        .order_by(Registration.id)
        .execution_options(yield_per=BATCH)
    )
    child_service = service.definition.audience == "child"
    with_sessions = bool(service.definition.sessions)
    labels: dict[str, str] = {}
    words = AnswerWords(plan.sensitive_included)

    def _status(status: str) -> str:
        if status not in labels:
            labels[status] = status_name(status, service.code)
        return labels[status]

    for chunk in db.session.execute(query).partitions():
        ids = {r.household_id for r in chunk if r.household_id is not None}
        households = {h.id: h for h in db.session.scalars(
            select(Household).where(Household.id.in_(ids)).options(selectinload(Household.guardians))
        )} if ids else {}
        for r in chunk:
            # An anonymised registration (retention purge) has no household left: blank names.
            household = households.get(r.household_id) if r.household_id is not None else None
            home = household.display_name if household is not None else ""
            if r.child_last is not None:
                first, last = r.child_first, r.child_last
            elif r.adult_last is not None:
                first, last = r.adult_first, r.adult_last
            else:
                first, last = "", home
            row: list[Any] = [r.reference, _status(r.status), first, last]
            if child_service:
                row += [r.birth_date, r.school or "", r.class_name or ""]
            row += [home, ", ".join(g.full_name for g in household.guardians) if household is not None else ""]
            if with_sessions:
                row.append(r.session_label or "")
            row += [r.places, r.channel, r.price, r.price_unit, _local(r.created_at), _local(r.updated_at),
                    r.received_on]
            # Sealed answers are opened only for a reader allowed to see them (their columns are
            # left out otherwise).
            values = unsealed(dict(r.answers or {})) if plan.sensitive_included else dict(r.answers or {})
            for column in plan.fields:
                row.append(words.cell(column.specs.get(r.form_version_id), values))
            yield row


# -- CSV -------------------------------------------------------------------------------------------

def csv_cell(value: Any) -> str:
    """A cell as French Excel reads it: dates dd/mm/yyyy, decimal comma, formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def iter_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """CSV text in chunks: a BOM, then ``;``-separated lines (CRLF, as Excel writes them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=SEPARATOR, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([csv_cell(h) for h in headers])
    for n, row in enumerate(rows, start=1):
        writer.writerow([csv_cell(v) for v in row])
        if n % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# -- XLSX ------------------------------------------------------------------------------------------

def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str) and value.startswith(FORMULA_START[:4]):
        # openpyxl stores a string starting with "=" as a formula.
        return "'" + value
    return value


def write_xlsx(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> IO[bytes]:
    """An XLSX workbook of one sheet, written row by row; returns the file, rewound."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        cells: list[Any] = []
        for value in row:
            value = _xlsx_cell(value)
            if isinstance(value, dt.datetime | dt.date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "DD/MM/YYYY HH:MM" if isinstance(value, dt.datetime) else "DD/MM/YYYY"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
    workbook.save(out)
    out.seek(0)
    return out  # type: ignore[return-value]


def _sheet_title(title: str) -> str:
    # Sheet names: 31 characters at most, none of []:*?/\
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in title).strip()
    return (cleaned or "Export")[:31]
