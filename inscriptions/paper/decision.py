"""The detail of a decision taken by the allocator, as a PDF the family downloads or the counter
prints (CRPA L311-3-1 and R311-3-1-2: the rules, the data used and their source, the parameters
and their weight as applied to the person, and the operations carried out)."""

from __future__ import annotations

import io
from html import escape
from typing import Any

from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from inscriptions import clock
from inscriptions.allocation import explain
from inscriptions.allocation.draw import ALGORITHM as DRAW_ALGORITHM
from inscriptions.allocation.draws import published_draw
from inscriptions.allocation.status import ApplicationState
from inscriptions.definitions.registry import registry
from inscriptions.models import Application
from inscriptions.town import Town


def _p(text: Any, style: Any) -> Paragraph:
    # ReportLab paragraphs read a small markup: labels and answers must not be taken for it.
    return Paragraph(escape(str(text if text not in (None, "") else "–"), quote=False), style)


def value_text(value: Any) -> str:
    """A value a criterion read, in words (one per child when it is about the children)."""
    if isinstance(value, list):
        return " ; ".join(value_text(v) for v in value) if value else _("not given")
    if value is None or value == "":
        return _("not given")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def decision_pdf(application: Application, state: ApplicationState) -> bytes:
    """The detail of how ``application`` was decided, as an A4 PDF."""
    town: Town = current_app.extensions["inscriptions.town"]
    live = registry().get(application.service_code)
    defn = live.definition if live is not None else None
    why = state.explanation
    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]
    body.fontSize, body.leading = 11, 14
    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                       ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)])

    def table(rows: list[list[Any]], widths: list[float]) -> Table:
        built = Table([[_p(cell, body) for cell in row] for row in rows], colWidths=[w * mm for w in widths])
        built.setStyle(grid)
        return built

    sent = application.submitted_at
    story: list[Any] = [
        _p(_("Detail of a decision taken by an algorithm"), h1),
        _p(_("%(town)s – %(service)s – application n° %(number)s", town=town.name, service=state.service_name,
             number=state.public_id), body),
        _p(_("Sent on %(when)s. Document generated on %(today)s.",
             when=format_datetime(clock.as_local_aware(sent), "long") if sent else "–",
             today=format_datetime(clock.now(), "long")), body),
        Spacer(1, 4 * mm),
        _p(_("1. The rule"), h2),
    ]
    if defn is not None:
        story.append(_p(explain.rule_summary(defn), body))
        story += [_p("– " + line, body) for line in explain.criteria_lines(defn) + explain.weights_lines(defn)]
    story.append(_p(_("2. The data used and where they come from"), h2))
    if why is not None and why.criteria:
        story.append(_p(_("The household file and the answers of the form, as they were on the date of the "
                          "ranking:"), body))
        story.append(table([[_("Criterion"), _("Value read"), _("Met"), _("Points")]] + [
            [c.label, value_text(c.value), _("yes") if c.met else _("no"), c.points if c.met else 0]
            for c in why.criteria
        ], [75, 45, 20, 20]))
    elif why is not None and why.ranked:
        story.append(_p(_("Only your application number: the draw uses nothing else about you."), body))
        if why.weight is not None:
            story.append(_p(_("Your application's number of tickets, from the household file."), body))
    else:
        story.append(_p(_("The moment your application was sent."), body))
    story.append(_p(_("3. How the rule applied to your application"), h2))
    story += [_p(line, body) for line in (why.sentences() if why is not None else [])]
    story.append(_p(_("4. The operations"), h2))
    story.append(_p(_("The applications are put in this order, then the places of each session are given "
                      "in that order: when a session is full, the next applications wait on its waiting list "
                      "in the same order. Children of one application stay together."), body))
    if state.results:
        story.append(table([[_("Session"), _("Outcome"), _("Why")]] + [
            [r.session or state.service_name,
             ", ".join(f"{line.person}: {line.status_label}" for line in r.lines) or _("Not registered."),
             r.reason_text] for r in state.results
        ], [45, 50, 65]))
    record = published_draw(application.service_code)
    if record is not None and record.seed:
        story.append(_p(_("5. Checking the draw"), h2))
        story.append(_p(_("Algorithm: %(algorithm)s. Fingerprint published before the draw (SHA-256): "
                          "%(commitment)s. Secret number revealed at the draw: %(seed)s.",
                          algorithm=DRAW_ALGORITHM, commitment=record.commitment, seed=record.seed), body))
    story.append(_p(_("Your rights"), h2))
    story.append(_p(explain.legal_mention(str(town.contact.email or town.contact.name)), body))
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=_("Detail of a decision taken by an algorithm"),
                      author=town.name, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                      bottomMargin=18 * mm).build(story)
    return buffer.getvalue()
