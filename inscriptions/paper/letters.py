"""Letters for families without e-mail: confirmation, waiting list, rejection, request received.

A household with no e-mail address gets no message from :mod:`inscriptions.notifications`; the
town posts it a letter instead. :func:`pending_letters` finds what to write since a date,
:func:`render_letters` prints the letters (A4, town letterhead, address placed for a DL window
envelope, folded in three), sorted by postcode for mailing.

The address block sits at 110 mm from the left edge and 50 mm from the top, 85 x 35 mm: the
window of a French DL envelope (110 x 220 mm, 45 x 100 mm window 20 mm from the right and 15 mm
from the bottom) with the sheet folded in three at 99 and 198 mm (fold marks are printed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from inscriptions.allocation import explain
from inscriptions.allocation.explain import explain_application
from inscriptions.clock import local_zone, now
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.extensions import db
from inscriptions.models import Application, Household, Registration, Status, StatusChange
from inscriptions.notifications import household_emails, status_label
from inscriptions.paper.fonts import BOLD, MM_PER_PT, REGULAR, pdf_text, wrap
from inscriptions.paper.logo import load_logo
from inscriptions.pricing import euros
from inscriptions.town import Town

MM = 72 / 25.4
PAGE_H = 297.0
LEFT, RIGHT = 20.0, 190.0
ADDRESS_BLOCK = (110.0, 50.0, 85.0, 35.0)
FOLDS = (99.0, 198.0)
# Which statuses get a letter, and the kind of letter.
KINDS = {
    Status.ACCEPTED: "confirmation",
    Status.WAITLISTED: "waiting_list",
    Status.REJECTED: "rejection",
    Status.SUBMITTED: "received",
}


@dataclass
class Letter:
    """One letter: a household and the registrations of one booking that share a status."""

    household: Household
    registrations: list[Registration]

    @property
    def status(self) -> str:
        return self.registrations[0].status

    @property
    def kind(self) -> str:
        return KINDS[Status(self.status)]


def pending_letters(since: dt.datetime, household_ids: Sequence[int] | None = None) -> list[Letter]:
    """Letters owed to households without e-mail for status changes made since ``since`` (UTC, naive).

    A registration whose status changed again since (e.g. accepted then cancelled) is written about
    only in its current status, and only if that status has a letter. Sorted by postcode, then name.
    An anonymised registration (purge, deleted account) has no household left to write to: none.
    """
    changed = (
        select(StatusChange.registration_id)
        .where(StatusChange.at >= since, StatusChange.to_status.in_([str(s) for s in KINDS]))
    )
    query = (
        select(Registration)
        .where(Registration.id.in_(changed), Registration.status.in_([str(s) for s in KINDS]),
               Registration.household_id.is_not(None))
        .options(selectinload(Registration.household).selectinload(Household.guardians),
                 selectinload(Registration.child), selectinload(Registration.session),
                 selectinload(Registration.history))
        .order_by(Registration.household_id, Registration.batch, Registration.id)
    )
    if household_ids is not None:
        query = query.where(Registration.household_id.in_(household_ids))
    letters: list[Letter] = []
    emails: dict[int, bool] = {}
    for (household_id, _batch, _status), regs in groupby(
        db.session.scalars(query), key=lambda r: (r.household_id, r.batch, r.status)
    ):
        if household_id not in emails:
            emails[household_id] = bool(household_emails(household_id))
        if emails[household_id]:
            continue
        regs = list(regs)
        # Only if the current status is the one the recent change set (no letter for an old state).
        regs = [r for r in regs if r.history and r.history[-1].at >= since and r.history[-1].to_status == r.status]
        if regs:
            letters.append(Letter(regs[0].household, regs))
    letters.sort(key=lambda letter: (letter.household.postcode or "", letter.household.display_name,
                                     letter.household.id))
    return letters


def render_letters(letters: Iterable[Letter], out_path: str | Path,
                   progress: Callable[[int], None] | None = None) -> int:
    """Print ``letters`` into one PDF (one or more pages each); returns how many were printed."""
    town: Town = current_app.extensions["inscriptions.town"]
    canvas = Canvas(str(out_path), pagesize=A4, pageCompression=1)
    canvas.setTitle(pdf_text(_("Letters")))
    canvas.setAuthor(pdf_text(town.name))
    writer = _LetterWriter(canvas, town)
    count = 0
    for letter in letters:
        writer.draw(letter)
        count += 1
        if progress:
            progress(count)
    canvas.save()
    return count


def letters_since(since: dt.datetime, out_path: str | Path) -> int:
    """Find and print every letter owed since ``since``; returns how many (no file when none)."""
    letters = pending_letters(since)
    if not letters:
        return 0
    return render_letters(letters, out_path)


class _LetterWriter:
    def __init__(self, canvas: Canvas, town: Town):
        self.c = canvas
        self.town = town
        self.logo = load_logo(town)
        primary = town.colours.primary
        self.primary = tuple(int(primary[i : i + 2], 16) / 255 for i in (1, 3, 5))
        self.y = 0.0

    # -- primitives (millimetres from the top-left corner) --
    def text(self, x: float, y: float, text: str, size: float = 10, font: str = REGULAR) -> None:
        self.c.setFont(font, size)
        self.c.drawString(x * MM, (PAGE_H - y) * MM, pdf_text(text))

    def para(self, text: str, size: float = 10, font: str = REGULAR, width: float = RIGHT - LEFT,
             after: float = 3.0) -> None:
        line = size * 1.35 * MM_PER_PT
        for chunk in wrap(text, "bold" if font == BOLD else "regular", size, width):
            self.need(line)
            self.y += line
            self.text(LEFT, self.y, chunk, size, font)
        self.y += after

    def need(self, height: float) -> None:
        if self.y + height > 265.0:
            self.footer()
            self.c.showPage()
            self.y = 25.0

    def footer(self) -> None:
        town = self.town
        self.c.setFillColorRGB(0.2, 0.2, 0.2)
        notice = _("Your personal data is processed by %(town)s to manage registrations. To see, correct or "
                   "delete it, write to %(dpo)s, %(where)s.", town=town.name, dpo=town.dpo.name,
                   where=str(town.dpo.email or town.dpo.address))
        y = 280.0
        for chunk in wrap(notice, "regular", 7, RIGHT - LEFT)[:3]:
            self.text(LEFT, y, chunk, 7)
            y += 3.0
        self.c.setFillColorRGB(0, 0, 0)

    # -- the letter --
    def draw(self, letter: Letter) -> None:
        c, town = self.c, self.town
        regs = letter.registrations
        defn = definition_for(regs[0].form_version_id)
        # Fold marks on the left edge, for folding in three into a DL envelope.
        c.setLineWidth(0.3)
        for fold in FOLDS:
            c.line(4 * MM, (PAGE_H - fold) * MM, 9 * MM, (PAGE_H - fold) * MM)
        if self.logo is not None:
            self.logo.draw(c, (LEFT, 15.0, 18.0, 18.0), PAGE_H)
        c.setFillColorRGB(*self.primary)
        self.text(LEFT + 22.0, 21.0, town.name, 15, BOLD)
        c.setFillColorRGB(0, 0, 0)
        y = 26.5
        contact = town.contact
        for line in (contact.name, contact.address, contact.phone, str(contact.email or "")):
            if line:
                self.text(LEFT + 22.0, y, line, 8.5)
                y += 3.8

        x, top, _w, _h = ADDRESS_BLOCK
        y = top + 6.0
        for line in address_lines(letter.household):
            self.text(x, y, line, 10.5)
            y += 5.0

        today = now().astimezone(local_zone()).date()
        self.text(x, 96.0, _("%(town)s, %(date)s", town=_town_city(town), date=format_date(today, "long")), 10)

        subjects = {
            "confirmation": _("Registration confirmed: %(service)s", service=defn.name),
            "waiting_list": _("Waiting list: %(service)s", service=defn.name),
            "rejection": _("Registration declined: %(service)s", service=defn.name),
            "received": _("Registration received: %(service)s", service=defn.name),
        }
        self.y = 108.0
        self.text(LEFT, self.y, _("Subject: %(subject)s", subject=subjects[letter.kind]), 10.5, BOLD)
        self.y += 5.0
        self.text(LEFT, self.y, _("Reference: %(refs)s", refs=", ".join(r.reference for r in regs)), 9.5)
        self.y += 10.0
        self.para(_("Dear Sir or Madam,"), after=2.0)
        bodies = {
            "confirmation": _("We are pleased to confirm the registration below."),
            "waiting_list": _("There is no place left for now: you are on the waiting list. We will write to you "
                              "as soon as a place becomes free."),
            "rejection": _("We are sorry: we cannot accept the registration below."),
            "received": _("We have received the registration below. The service will review it and write to "
                          "you again to confirm it."),
        }
        self.para(bodies[letter.kind])
        for reg in regs:
            self.registration(reg, letter.kind)
        self.y += 2.0
        self.explanation(regs[0])
        self.para(_("Keep this letter: please give the reference for any question."))
        parts = [contact.name, contact.phone, str(contact.email or ""), contact.hours]
        self.para(_("Any question? Contact us: %(contact)s.", contact=", ".join(p for p in parts if p)))
        self.para(_("Yours faithfully,"), after=6.0)
        self.para(contact.name, font=BOLD)
        self.footer()
        c.showPage()

    def explanation(self, reg: Registration) -> None:
        """How the service's draw or points applied to the family, with the legal mention that a
        decision taken by an algorithm carries (CRPA L311-3-1), as on the web page and the e-mail."""
        live = registry().get(reg.service_code)
        if live is None or not live.definition.allocation.uses_draw or reg.application_id is None:
            return  # decided by arrival: nothing to read, nothing to say
        application = db.session.get(Application, reg.application_id)
        why = explain_application(application) if application is not None else None
        sentences = why.sentences() if why is not None else []
        if not sentences:
            return
        for line in sentences:
            self.para(line, after=1.0)
        self.y += 2.0
        contact = self.town.contact
        self.para(explain.legal_mention(str(contact.email or contact.address or contact.name)), size=9)

    def registration(self, reg: Registration, kind: str) -> None:
        lines = [(reg.participant_name, BOLD)]
        if reg.session is not None:
            lines.append((_("Session: %(label)s", label=reg.session.label), REGULAR))
        lines.append((_("Status: %(status)s", status=status_label(reg.status)), REGULAR))
        if kind in ("confirmation", "received", "waiting_list"):
            price = euros(reg.price) + (f" / {reg.price_unit}" if reg.price_unit else "")
            lines.append((_("Price: %(price)s", price=price), REGULAR))
        if kind == "rejection" and reg.history and reg.history[-1].reason:
            lines.append((_("Reason: %(reason)s", reason=reg.history[-1].reason), REGULAR))
        self.need(len(lines) * 5.0 + 3.0)
        for text, font in lines:
            for chunk in wrap(text, "bold" if font == BOLD else "regular", 10, RIGHT - LEFT - 6.0):
                self.y += 5.0
                self.text(LEFT + 6.0, self.y, chunk, 10, font)
        self.y += 4.0


def address_lines(household: Household) -> list[str]:
    """The postal address as La Poste wants it: names, street, then postcode and TOWN in capitals."""
    names = []
    for guardian in household.guardians[:2]:
        if guardian.full_name not in names:
            names.append(guardian.full_name)
    if len(names) == 2:
        lines = [_("%(first)s and %(second)s", first=names[0], second=names[1])]
    else:
        lines = [names[0] if names else household.display_name]
    lines += [line for line in (household.address_line1, household.address_line2) if line]
    lines.append(f"{household.postcode} {household.city.upper()}".strip())
    return [line[:38] if len(line) > 38 else line for line in lines][:6]


def _town_city(town: Town) -> str:
    return town.residency.cities[0] if town.residency.cities else town.name
