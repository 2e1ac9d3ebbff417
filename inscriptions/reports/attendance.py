"""The printable attendance list of a session (pool group, screening...): a PDF with the town's letterhead.

Only accepted registrations are listed, sorted by last name then first name, with the child's age
on the session's first day and class (or the number of places for household bookings), and blank
columns to tick (one per lesson; the staff write the dates in the header cells). A4 landscape,
standard PDF fonts, drawn directly with ReportLab's canvas like the letters
(:mod:`inscriptions.paper.letters`).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from io import BytesIO

from flask import current_app
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from inscriptions import TOWN_KEY
from inscriptions.clock import local_zone
from inscriptions.definitions.loader import LoadedService
from inscriptions.extensions import db
from inscriptions.models import Household, Registration, ServiceSession, Status
from inscriptions.paper.fonts import BOLD, REGULAR, pdf_text, width_mm
from inscriptions.paper.logo import load_logo
from inscriptions.reports.dashboard import today
from inscriptions.town import Town

MM = 72 / 25.4
PAGE_W, PAGE_H = 297.0, 210.0
LEFT, RIGHT = 12.0, 285.0
TABLE_TOP = 38.0
ROW_H = 7.5
BOTTOM = 192.0
DEFAULT_TICKS = 8
MAX_TICKS = 20


@dataclass(frozen=True)
class Attendee:
    last_name: str
    first_name: str
    age: int | None
    class_name: str
    places: int
    # Whose registration it is (the audit log of the list's print), None once anonymised.
    household_id: int | None = None


def age_on(birth: dt.date | None, day: dt.date) -> int | None:
    """Age in whole years on ``day``."""
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def attendees(session: ServiceSession) -> list[Attendee]:
    """The accepted registrations of ``session``, sorted by name."""
    first_day = session.starts_at.replace(tzinfo=dt.UTC).astimezone(local_zone()).date()
    regs = db.session.scalars(
        select(Registration)
        .where(Registration.session_id == session.id, Registration.status == Status.ACCEPTED)
        .options(selectinload(Registration.child), selectinload(Registration.guardian),
                 selectinload(Registration.household).selectinload(Household.guardians))
    )
    people = []
    for reg in regs:
        person = reg.child or reg.guardian
        if person is not None:
            birth = person.birth_date
            people.append(Attendee(person.last_name, person.first_name, age_on(birth, first_day),
                                   reg.child.class_name if reg.child is not None else "", reg.places,
                                   reg.household_id))
        else:
            name = reg.household.display_name if reg.household is not None else "–"  # anonymised
            people.append(Attendee(name, "", None, "", reg.places, reg.household_id))
    people.sort(key=lambda a: (name_key(a.last_name), name_key(a.first_name)))
    return people


def name_key(text: str) -> str:
    """Sort key of a name as a French list sorts it: accents and case ignored (Élodie before Zoé)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def render_attendance(service: LoadedService, session: ServiceSession, people: list[Attendee],
                      ticks: int = DEFAULT_TICKS) -> bytes:
    """The attendance list as PDF bytes."""
    town: Town = current_app.extensions[TOWN_KEY]
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=landscape(A4), pageCompression=1)
    title = _("Attendance list")
    canvas.setTitle(pdf_text(f"{title} – {service.definition.name} – {session.label}"))
    canvas.setAuthor(pdf_text(town.name))
    _Writer(canvas, town, service, session, max(1, min(ticks, MAX_TICKS))).draw(people)
    canvas.save()
    return buffer.getvalue()


class _Writer:
    def __init__(self, canvas: Canvas, town: Town, service: LoadedService, session: ServiceSession, ticks: int):
        self.c = canvas
        self.town = town
        self.service = service
        self.session = session
        self.ticks = ticks
        self.logo = load_logo(town)
        primary = town.colours.primary
        self.primary = tuple(int(primary[i : i + 2], 16) / 255 for i in (1, 3, 5))
        audience = service.definition.audience
        # (header, width in mm, right-aligned); the tick columns share what is left.
        self.columns: list[tuple[str, float, bool]] = [("#", 8.0, True), (_("Name"), 70.0, False)]
        if audience == "child":
            self.columns += [(_("Age"), 12.0, True), (_("Class"), 22.0, False)]
        elif audience == "adult":
            self.columns += [(_("Age"), 12.0, True)]
        else:
            self.columns += [(_("Places"), 16.0, True)]
        used = sum(w for _h, w, _r in self.columns)
        self.tick_width = (RIGHT - LEFT - used) / ticks
        self.page = 0

    def text(self, x: float, y: float, text: str, size: float = 10, font: str = REGULAR,
             right: bool = False) -> None:
        self.c.setFont(font, size)
        text = pdf_text(text)
        if right:
            self.c.drawRightString(x * MM, (PAGE_H - y) * MM, text)
        else:
            self.c.drawString(x * MM, (PAGE_H - y) * MM, text)

    def fit(self, text: str, width: float, size: float) -> str:
        """``text`` cut to ``width`` mm (an ellipsis marks the cut)."""
        text = pdf_text(text)
        if width_mm(text, "regular", size) <= width:
            return text
        while text and width_mm(text + "…", "regular", size) > width:
            text = text[:-1]
        return text + "…"

    def header(self, count: int) -> None:
        c, town = self.c, self.town
        self.page += 1
        if self.logo is not None:
            self.logo.draw(c, (LEFT, 8.0, 14.0, 14.0), PAGE_H)
        c.setFillColorRGB(*self.primary)
        self.text(LEFT + 18.0, 13.0, town.name, 13, BOLD)
        c.setFillColorRGB(0, 0, 0)
        self.text(LEFT + 18.0, 19.0, f"{_('Attendance list')} – {self.service.definition.name}", 11, BOLD)
        starts = self.session.starts_at.replace(tzinfo=dt.UTC).astimezone(local_zone())
        self.text(LEFT + 18.0, 24.5, self.session.label, 10)
        info = ngettext("%(num)s participant – first session on %(day)s – printed on %(today)s",
                        "%(num)s participants – first session on %(day)s – printed on %(today)s",
                        count, day=format_date(starts.date(), "long"), today=format_date(today(), "long"))
        self.text(LEFT + 18.0, 29.5, info, 8.5)
        self.text(RIGHT, 13.0, _("Page %(n)s", n=self.page), 8.5, right=True)
        self.row(TABLE_TOP, [h for h, _w, _r in self.columns] + [""] * self.ticks, bold=True)

    def row(self, y: float, cells: list[str], bold: bool = False) -> None:
        c = self.c
        c.setLineWidth(0.4)
        if bold:
            c.setFillColorRGB(0.92, 0.92, 0.92)
            c.rect(LEFT * MM, (PAGE_H - y - ROW_H) * MM, (RIGHT - LEFT) * MM, ROW_H * MM, stroke=0, fill=1)
            c.setFillColorRGB(0, 0, 0)
        x = LEFT
        widths = [w for _h, w, _r in self.columns] + [self.tick_width] * self.ticks
        rights = [r for _h, _w, r in self.columns] + [False] * self.ticks
        for cell, width, right in zip(cells, widths, rights, strict=True):
            c.rect(x * MM, (PAGE_H - y - ROW_H) * MM, width * MM, ROW_H * MM, stroke=1, fill=0)
            if cell:
                shown = self.fit(cell, width - 3.0, 9.5)
                if right:
                    self.text(x + width - 1.5, y + 5.2, shown, 9.5, BOLD if bold else REGULAR, right=True)
                else:
                    self.text(x + 1.5, y + 5.2, shown, 9.5, BOLD if bold else REGULAR)
            x += width

    def footer(self) -> None:
        notice = _("Personal data: keep this list with you during the session and destroy it at the end of "
                   "the season.")
        self.c.setFillColorRGB(0.3, 0.3, 0.3)
        self.text(LEFT, PAGE_H - 8.0, notice, 7.5)
        self.c.setFillColorRGB(0, 0, 0)

    def draw(self, people: list[Attendee]) -> None:
        self.header(len(people))
        y = TABLE_TOP + ROW_H
        audience = self.service.definition.audience
        if not people:
            self.text(LEFT, y + 8.0, _("No accepted registration in this session."), 10)
        for n, person in enumerate(people, start=1):
            if y + ROW_H > BOTTOM:
                self.footer()
                self.c.showPage()
                self.header(len(people))
                y = TABLE_TOP + ROW_H
            name = f"{person.last_name.upper()} {person.first_name}".strip()
            cells = [str(n), name]
            if audience == "child":
                cells += ["" if person.age is None else str(person.age), person.class_name]
            elif audience == "adult":
                cells += ["" if person.age is None else str(person.age)]
            else:
                cells += [str(person.places)]
            self.row(y, cells + [""] * self.ticks)
            y += ROW_H
        self.footer()
        self.c.showPage()
