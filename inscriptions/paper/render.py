"""Drawing paper forms with ReportLab: blank, prefilled for a family, or by the thousand.

The frozen :class:`~inscriptions.paper.layout.FormLayout` says where everything goes; this module
only draws it. The static part of each page (marks, header, footer, questions, empty boxes) is
drawn once per PDF as a form XObject; each copy's page then adds only its QR code (one vector
path built from segno's matrix, not ReportLab's QR widget, which is several times slower), its
human-readable code and the prefilled values. About 400 pages per second on one core, ~2 KB of
PDF and ~8 KB of memory per page until the file is written (ReportLab writes the file at the end;
households are read, and tokens committed, a chunk at a time).

The town's name, logo and contact lines are drawn at print time from the current town file (a
town that changes its phone number reprints old form versions with the new number); they sit in
the layout's ``header`` and ``footer`` zones, which hold no boxes.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import segno
from flask import current_app
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from inscriptions.definitions import schema as s
from inscriptions.definitions.registry import current_version, definition_of, registry
from inscriptions.extensions import db
from inscriptions.models import Child, FormVersion, Household, Registration
from inscriptions.paper.fonts import FONTS, REGULAR, pdf_text, wrap
from inscriptions.paper.layout import FormLayout, PageLayout, layout_for
from inscriptions.paper.logo import Logo, load_logo
from inscriptions.paper.tokens import PayloadSigner, human_code, issue_tokens
from inscriptions.privacy.sealing import unsealed
from inscriptions.town import Town

MM = 72 / 25.4
CODE_FONT = "Courier-Bold"
GUIDE_GREY = "#c8c8c8"  # lighter than the reader's ink threshold: guide lines never count as ink
PREFILL_SIZE = 10.0

ProgressCallback = Callable[[int, int], None]


def _rgb(colour: str) -> tuple[float, float, float]:
    return int(colour[1:3], 16) / 255, int(colour[3:5], 16) / 255, int(colour[5:7], 16) / 255


def draw_qr(canvas: Canvas, payload: str, x_mm: float, y_mm: float, module_mm: float, version: int = 4,
            error: str = "m", mask: int | None = 2, page_h_mm: float = 297.0) -> None:
    """The QR code of ``payload`` as ONE filled vector path; (x_mm, y_mm) is its top-left corner.

    Each row's dark modules are merged into runs (about 300 rectangles instead of 600 modules),
    written in module units under one transformation: small integers, ~3 KB per page.
    """
    qr = segno.make_qr(payload, version=version, error=error, mode="alphanumeric", boost_error=False, mask=mask)
    module = module_mm * MM
    canvas.saveState()
    # Origin at the symbol's top-left corner, one unit per module, y going down like the matrix.
    canvas.transform(module, 0, 0, -module, x_mm * MM, (page_h_mm - y_mm) * MM)
    path = canvas.beginPath()
    for r, row in enumerate(qr.matrix):
        c = 0
        n = len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                path.rect(start, r, c - start, 1)
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


# -- the printer ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Op:
    """One drawing operation in points, bottom-left origin (ReportLab's)."""

    kind: str  # text | rect | line
    args: tuple[Any, ...]
    colour: tuple[float, float, float] | None = None
    fill: tuple[float, float, float] | None = None
    width: float = 0.0
    font: str = ""
    size: float = 0.0


class FormPrinter:
    """Draws documents of one form version; build one per batch (it prepares the static art once)."""

    def __init__(self, layout: FormLayout, defn: s.ServiceDefinition, town: Town,
                 signer: PayloadSigner | None = None):
        self.layout = layout
        self.defn = defn
        self.town = town
        self.signer = signer or PayloadSigner()
        self.page_h = layout.page_size[1]
        self.colours = {
            "primary": _rgb(town.colours.primary),
            "primary_text": _rgb(town.colours.primary_text),
            "accent": _rgb(town.colours.accent),
        }
        self.logo: Logo | None = load_logo(town)
        self._pages = [self._static_ops(page) for page in layout.pages]
        self._chrome = self._chrome_ops()
        self._defined: weakref.WeakKeyDictionary[Canvas, list[str]] = weakref.WeakKeyDictionary()

    # -- preparation --
    def _colour(self, value: str | None) -> tuple[float, float, float] | None:
        if value is None:
            return None
        return self.colours.get(value) or _rgb(value)

    def _x(self, mm: float) -> float:
        return mm * MM

    def _y(self, mm: float) -> float:
        return (self.page_h - mm) * MM

    def _text_op(self, x: float, y: float, text: str, size: float, style: str = "regular",
                 colour: str = "#000000", align: str = "left") -> _Op:
        return _Op("text", (self._x(x), self._y(y), text, align), colour=self._colour(colour), font=FONTS[style],
                   size=size)

    def _rect_op(self, rect: Sequence[float], stroke: str | None = "#000000", fill: str | None = None,
                 width: float = 0.75) -> _Op:
        x, y, w, h = rect
        return _Op("rect", (self._x(x), self._y(y + h), w * MM, h * MM), colour=self._colour(stroke),
                   fill=self._colour(fill), width=width)

    def _line_op(self, coords: Sequence[float], colour: str, width: float) -> _Op:
        x1, y1, x2, y2 = coords
        return _Op("line", (self._x(x1), self._y(y1), self._x(x2), self._y(y2)), colour=self._colour(colour),
                   width=width)

    def _static_ops(self, page: PageLayout) -> list[_Op]:
        ops: list[_Op] = []
        for shape in page.shapes:
            if shape.kind == "rect":
                ops.append(self._rect_op(shape.coords, shape.stroke, shape.fill, shape.width))
            else:
                ops.append(self._line_op(shape.coords, shape.stroke or "#000000", shape.width))
        for box in page.boxes:
            if box.kind == "checkbox":
                ops.append(self._rect_op(box.rect, width=1.0))
            elif box.kind == "comb":
                ops.extend(self._rect_op(cell, width=0.75) for cell in box.cells or [])
            else:
                ops.append(self._rect_op(box.rect, width=0.75))
                if box.kind == "text" and (box.lines or 1) > 1:
                    x, y, w, h = box.rect
                    step = h / (box.lines or 1)
                    for n in range(1, box.lines or 1):
                        ops.append(self._line_op((x + 1.5, y + n * step, x + w - 1.5, y + n * step), GUIDE_GREY, 0.4))
        for text in page.texts:
            ops.append(self._text_op(text.x, text.y, text.text, text.size, text.style, text.colour, text.align))
        return ops

    def _chrome_ops(self) -> list[_Op]:
        """What every page shows whatever its number: corner marks, town header, footer."""
        layout, town = self.layout, self.town
        ops = [self._rect_op(mark, stroke=None, fill="#000000") for mark in layout.marks]
        logo_x, logo_y, logo_w, _logo_h = layout.logo
        # Beside the logo, above the service name the layout prints (with or without a logo).
        ops.append(self._text_op(logo_x + logo_w + 4.0, logo_y + 6.0, town.name, 14, "bold", "primary"))
        fx, fy, fw, _fh = layout.footer
        contact = town.contact
        parts = [contact.name, contact.address, contact.phone, str(contact.email or "")]
        line = " · ".join(p for p in parts if p)
        y = fy + 3.0
        for text in wrap(line, "regular", 7.5, fw - 30.0)[:2]:
            ops.append(self._text_op(fx, y, text, 7.5, "bold", "#333333"))
            y += 3.2
        notice = _(
            "Your answers are processed by %(town)s to handle this registration (%(service)s) and kept for "
            "%(months)s months after it ends. You may see, correct or delete them: write to %(dpo)s, %(where)s.",
            town=town.name, service=self.defn.name, months=self.defn.retention_months, dpo=town.dpo.name,
            where=str(town.dpo.email or town.dpo.address),
        )
        for text in wrap(notice, "regular", 6.5, fw - 30.0)[:4]:
            ops.append(self._text_op(fx, y, text, 6.5, "regular", "#333333"))
            y += 2.8
        return ops

    # -- drawing --
    def _run(self, canvas: Canvas, ops: Iterable[_Op]) -> None:
        font: tuple[str, float] | None = None
        fill: tuple[float, float, float] | None = None
        stroke: tuple[float, float, float] | None = None
        width = -1.0
        for op in ops:
            if op.kind == "text":
                if font != (op.font, op.size):
                    font = (op.font, op.size)
                    canvas.setFont(op.font, op.size)
                if op.colour != fill:
                    fill = op.colour
                    canvas.setFillColorRGB(*op.colour)  # type: ignore[misc]
                x, y, text, align = op.args
                if align == "left":
                    canvas.drawString(x, y, text)
                elif align == "right":
                    canvas.drawRightString(x, y, text)
                else:
                    canvas.drawCentredString(x, y, text)
                continue
            if op.width != width and op.colour is not None:
                width = op.width
                canvas.setLineWidth(op.width)
            if op.colour is not None and op.colour != stroke:
                stroke = op.colour
                canvas.setStrokeColorRGB(*op.colour)
            if op.fill is not None and op.fill != fill:
                fill = op.fill
                canvas.setFillColorRGB(*op.fill)
            if op.kind == "rect":
                canvas.rect(*op.args, stroke=1 if op.colour is not None else 0, fill=1 if op.fill is not None else 0)
            else:
                canvas.line(*op.args)

    def _forms(self, canvas: Canvas) -> list[str]:
        """The static part of each page (everything but the codes and the prefilled values), drawn
        once per PDF as a form XObject that every copy reuses: 5 to 10 times less to write per page,
        and the way variable-data printing (PDF/VT) builds its files."""
        names = self._defined.get(canvas)
        if names is None:
            names = []
            for number, ops in enumerate(self._pages, start=1):
                name = f"page{number}"
                canvas.beginForm(name)
                self._run(canvas, self._chrome)
                if self.logo is not None:
                    self.logo.draw_now(canvas, self.layout.logo, self.page_h)
                self._run(canvas, ops)
                canvas.endForm()
                names.append(name)
            self._defined[canvas] = names
        return names

    def draw(self, canvas: Canvas, token: str, prefill: Mapping[str, Any] | None = None) -> int:
        """Draw every page of one document (token ``token``); returns the number of pages."""
        layout = self.layout
        total = layout.page_count
        qx, qy, _qw, _qh = layout.qr.rect
        cx, cy, cw, ch = layout.code
        forms = self._forms(canvas)
        for number in range(1, total + 1):
            canvas.doForm(forms[number - 1])
            canvas.setFillColorRGB(0, 0, 0)
            draw_qr(canvas, self.signer(token, number, total), qx, qy, layout.qr.module_mm, layout.qr.version,
                    layout.qr.error.lower(), layout.qr.mask, self.page_h)
            canvas.setFont(CODE_FONT, 9)
            canvas.drawCentredString(self._x(cx + cw / 2), self._y(cy + ch - 1.0), human_code(token, number))
            if prefill:
                self._prefill(canvas, layout.pages[number - 1], prefill)
            canvas.showPage()
        return total

    def _prefill(self, canvas: Canvas, page: PageLayout, values: Mapping[str, Any]) -> None:
        canvas.setFillColorRGB(0, 0, 0)
        canvas.setStrokeColorRGB(0, 0, 0)
        for box in page.boxes:
            value = values.get(box.field)
            if value is None or value == "" or value == []:
                continue
            x, y, w, h = box.rect
            if box.kind == "checkbox":
                if _ticks(value, box.value):
                    canvas.setLineWidth(1.4)
                    canvas.line(self._x(x + 0.9), self._y(y + 0.9), self._x(x + w - 0.9), self._y(y + h - 0.9))
                    canvas.line(self._x(x + w - 0.9), self._y(y + 0.9), self._x(x + 0.9), self._y(y + h - 0.9))
            elif box.kind == "comb":
                chars = comb_characters(box.format or "", value, len(box.cells or []))
                canvas.setFont(REGULAR, 11)
                for char, (cx, cy, cw, ch) in zip(chars, box.cells or [], strict=False):
                    if char != " ":
                        canvas.drawCentredString(self._x(cx + cw / 2), self._y(cy + ch - 2.0), char)
            elif box.kind == "text":
                lines = box.lines or 1
                step = h / lines
                texts = wrap(str(value), "regular", PREFILL_SIZE, w - 3.0)[:lines]
                canvas.setFont(REGULAR, PREFILL_SIZE)
                for n, text in enumerate(texts):
                    canvas.drawString(self._x(x + 1.5), self._y(y + (n + 1) * step - min(2.2, step * 0.3)), text)


def _ticks(value: Any, box_value: Any) -> bool:
    # ``True == 1``: compare types too, so a yes/no answer never ticks a choice valued 1.
    chosen = value if isinstance(value, list | tuple | set) else [value]
    return any(v == box_value and type(v) is type(box_value) for v in chosen)


def comb_characters(fmt: str, value: Any, cells: int) -> str:
    """The characters printed one per cell for a prefilled comb box."""
    if fmt == "date":
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        text = day.strftime("%d%m%Y")
    elif fmt == "phone":
        digits = re.sub(r"\D", "", str(value))
        if digits.startswith("33") and len(digits) == 11:
            digits = "0" + digits[2:]
        text = digits
    elif fmt == "integer":
        text = str(value).rjust(cells)
    else:
        text = re.sub(r"\s", "", str(value))
    return text[:cells] if len(text) <= cells else ""


# -- what a prefilled form shows -----------------------------------------------------------------

def prefill_values(layout: FormLayout, household: Household, child: Child | None = None,
                   earlier: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Values printed in the boxes of a form prefilled for ``household`` (and ``child``).

    ``earlier``: answers of an earlier registration (re-enrolment); only fields the layout asks,
    never sensitive ones (health data is not reprinted on paper sent through the post).
    """
    values: dict[str, Any] = {}
    guardian = household.guardians[0] if household.guardians else None
    if guardian is not None:
        values["household.last_name"] = guardian.last_name
        values["household.first_name"] = guardian.first_name
        values["household.phone"] = guardian.phone or ""
        values["household.email"] = guardian.email or ""
    values["household.address_line1"] = household.address_line1
    values["household.address_line2"] = household.address_line2
    values["household.postcode"] = household.postcode
    values["household.city"] = household.city
    if child is not None:
        values.update({
            "participant.last_name": child.last_name, "participant.first_name": child.first_name,
            "participant.birth_date": child.birth_date, "participant.school": child.school,
            "participant.class_name": child.class_name,
        })
    elif layout.participant == "adult" and guardian is not None:
        values.update({
            "participant.last_name": guardian.last_name, "participant.first_name": guardian.first_name,
            "participant.birth_date": guardian.birth_date,
        })
    if earlier:
        values.update(_earlier_values(layout, earlier))
    return values


def _earlier_values(layout: FormLayout, answers: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for info in layout.fields:
        if info.sensitive or info.type in ("group", "file", "consent", "signature", "session"):
            continue
        if info.path.startswith(("household.", "participant.", "signature")):
            continue
        if info.group is not None:
            rows = answers.get(info.group)
            if not isinstance(rows, list) or info.item is None or info.item >= len(rows):
                continue
            value = rows[info.item].get(info.path.rsplit(".", 1)[1]) if isinstance(rows[info.item], dict) else None
        else:
            value = answers.get(info.path)
        if value is None:
            continue
        if info.values is not None:
            # Only values this version still offers: a removed choice must not be re-ticked.
            chosen = value if isinstance(value, list) else [value]
            kept = [v for v in chosen if any(v == x and type(v) is type(x) for x in info.values)]
            if kept:
                found[info.path] = kept if isinstance(value, list) else kept[0]
        else:
            found[info.path] = value
    return found


# -- batches -------------------------------------------------------------------------------------

@dataclass
class BatchResult:
    path: Path
    documents: int
    pages: int
    # The households whose prefilled forms were printed (the audit log of the print).
    households: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Doc:
    household_id: int | None
    child_id: int | None


def _eligible_children(defn: s.ServiceDefinition, household: Household) -> list[Child]:
    if defn.age is None:
        return list(household.children)
    from inscriptions.eligibility import age_reference_day
    from inscriptions.registrations.participants import child_view

    on = age_reference_day(defn)
    kept = []
    for child in household.children:
        age = child_view(child).age_on(on)
        if age is not None and defn.age.min <= age <= defn.age.max:
            kept.append(child)
    return kept


def _documents(defn: s.ServiceDefinition, households: Iterable[Household]) -> Iterator[tuple[_Doc, Household,
                                                                                             Child | None]]:
    for household in households:
        if defn.audience == "child":
            for child in _eligible_children(defn, household):
                yield _Doc(household.id, child.id), household, child
        else:
            yield _Doc(household.id, None), household, None


def _earlier_answers(service_code: str, docs: Sequence[tuple[_Doc, Household, Child | None]]) -> dict[_Doc, dict]:
    """The latest answers per document's participant in this service (any form version)."""
    child_ids = [d.child_id for d, _h, _c in docs if d.child_id is not None]
    household_ids = [d.household_id for d, _h, _c in docs if d.child_id is None]
    found: dict[_Doc, dict] = {}
    query = select(Registration).filter_by(service_code=service_code).order_by(Registration.id)
    if child_ids:
        for reg in db.session.scalars(query.where(Registration.child_id.in_(child_ids))):
            found[_Doc(reg.household_id, reg.child_id)] = unsealed(reg.answers)
    if household_ids:
        for reg in db.session.scalars(query.where(Registration.household_id.in_(household_ids),
                                                  Registration.child_id.is_(None))):
            found[_Doc(reg.household_id, None)] = unsealed(reg.answers)
    return found


def count_documents(service_code: str, household_ids: Sequence[int] | None) -> int:
    """How many documents :func:`render_batch` will print for these households (for progress bars)."""
    defn = registry().get(service_code).definition  # type: ignore[union-attr]
    query = select(Household).options(selectinload(Household.children))
    if household_ids is not None:
        query = query.where(Household.id.in_(household_ids))
    if defn.audience != "child":
        return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return sum(1 for _d in _documents(defn, db.session.scalars(query)))


def render_batch(
    service_code: str,
    household_ids: Sequence[int] | None,
    out_path: str | Path,
    *,
    blank: int = 0,
    with_answers: bool = False,
    printed_by_id: int | None = None,
    progress: ProgressCallback | None = None,
    chunk: int = 100,
) -> BatchResult:
    """Print one document per household (per eligible child for child services) into ``out_path``.

    ``household_ids``: ``None`` for every household, ``[]`` for none (only ``blank`` forms).
    ``blank``: that many blank forms after the prefilled ones, each with its own token.
    ``with_answers``: prefill the answers of the participant's latest registration to this service
    (re-enrolment campaigns), except sensitive fields. ``progress(done, total)`` is called after
    each document. Households are read and tokens committed ``chunk`` at a time, so memory stays
    flat whatever the number of households; usable from a background job (it commits).
    """
    service = registry().get(service_code)
    if service is None:
        raise LookupError(f"no service {service_code!r}")
    version = current_version(service)
    layout = layout_for(version)
    db.session.commit()
    defn = definition_of(version)
    town: Town = current_app.extensions["inscriptions.town"]
    printer = FormPrinter(layout, defn, town)
    total = (count_documents(service_code, household_ids) if household_ids != [] else 0) + blank
    out = Path(out_path)
    canvas = Canvas(str(out), pagesize=A4, pageCompression=1)
    canvas.setTitle(pdf_text(f"{defn.name} ({total})"))
    canvas.setAuthor(pdf_text(town.name))
    done = pages = 0
    printed: list[int] = []

    if household_ids != []:
        id_query = select(Household.id).order_by(Household.id)
        if household_ids is not None:
            id_query = id_query.where(Household.id.in_(household_ids))
        ids = list(db.session.scalars(id_query))
        for start in range(0, len(ids), chunk):
            households = db.session.scalars(
                select(Household).where(Household.id.in_(ids[start : start + chunk])).order_by(Household.id)
                .options(selectinload(Household.guardians), selectinload(Household.children))
            ).all()
            docs = list(_documents(defn, households))
            printed.extend(sorted({d.household_id for d, _h, _c in docs if d.household_id is not None}))
            earlier = _earlier_answers(service_code, docs) if with_answers else {}
            # Read everything before the commit: committing expires the loaded rows (a reload each).
            prefilled = [prefill_values(layout, household, child, earlier.get(doc)) for doc, household, child in docs]
            tokens = issue_tokens(len(docs), form_version_id=version.id, pages=layout.page_count,
                                  owners=[(d.household_id, d.child_id) for d, _h, _c in docs],
                                  printed_by_id=printed_by_id)
            # Committed before drawing: a short write transaction, never held while the PDF is made.
            db.session.commit()
            for token, values in zip(tokens, prefilled, strict=True):
                pages += printer.draw(canvas, token, values)
                done += 1
                if progress:
                    progress(done, total)
            # The session's identity map holds rows weakly: once this chunk's objects are dropped,
            # their memory is freed (no expunge, which would detach the caller's objects too).
            del households, docs, prefilled
    for start in range(0, blank, chunk):
        count = min(chunk, blank - start)
        tokens = issue_tokens(count, form_version_id=version.id, pages=layout.page_count,
                              printed_by_id=printed_by_id)
        db.session.commit()
        for token in tokens:
            pages += printer.draw(canvas, token)
            done += 1
            if progress:
                progress(done, total)
    canvas.save()
    return BatchResult(out, done, pages, printed)


def render_batch_job(service_code: str, household_ids: list[int] | None, out_path: str, blank: int = 0,
                     with_answers: bool = False, printed_by_id: int | None = None) -> dict[str, Any]:
    """:func:`render_batch` with JSON-able arguments and result, for :func:`inscriptions.jobs.enqueue`."""
    result = render_batch(service_code, household_ids, out_path, blank=blank, with_answers=with_answers,
                          printed_by_id=printed_by_id)
    return {"path": str(result.path), "documents": result.documents, "pages": result.pages}


def render_one(version: FormVersion, out_path: str | Path, *, household: Household | None = None,
               child: Child | None = None, earlier: Mapping[str, Any] | None = None,
               printed_by_id: int | None = None) -> tuple[str, Path]:
    """One document (blank, or prefilled for ``household``/``child``); returns its token and path."""
    layout = layout_for(version)
    defn = definition_of(version)
    town: Town = current_app.extensions["inscriptions.town"]
    owners = [(household.id if household else None, child.id if child else None)]
    (token,) = issue_tokens(1, form_version_id=version.id, pages=layout.page_count, owners=owners,
                            printed_by_id=printed_by_id)
    db.session.commit()
    canvas = Canvas(str(out_path), pagesize=A4, pageCompression=1)
    values = prefill_values(layout, household, child, earlier) if household is not None else None
    FormPrinter(layout, defn, town).draw(canvas, token, values)
    canvas.save()
    return token, Path(out_path)

