"""All data about a household, for the family's right of access (RGPD art. 15 and 20).

:func:`household_data` gathers it as a JSON-ready mapping (the machine-readable copy);
:func:`household_pdf` lays the same data out as a readable PDF (ReportLab). The family sees all
its own answers, sensitive ones included, and the dated list of staff accesses to its file
(what and why, not which agent).
"""

from __future__ import annotations

import datetime as dt
import io
from html import escape
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select

from inscriptions.audit import events_of_household
from inscriptions.clock import utcnow_naive
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.extensions import db
from inscriptions.models import Account, Household, PhotoConsent, Registration, Upload

FORMAT_VERSION = 1


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _service_name(code: str) -> str:
    service = registry().get(code)
    return service.definition.name if service is not None else code


def household_data(household: Household) -> dict[str, Any]:
    """Every piece of data the application keeps about ``household``, JSON-ready."""
    guardian_ids = [g.id for g in household.guardians]
    accounts = {a.guardian_id: a for a in db.session.scalars(
        select(Account).where(Account.guardian_id.in_(guardian_ids)))} if guardian_ids else {}
    regs = list(db.session.scalars(
        select(Registration).where(Registration.household_id == household.id).order_by(Registration.id)))
    uploads = list(db.session.scalars(
        select(Upload).where(Upload.household_id == household.id).order_by(Upload.id)))
    child_ids = [c.id for c in household.children]
    consents = list(db.session.scalars(
        select(PhotoConsent).where(PhotoConsent.child_id.in_(child_ids)).order_by(PhotoConsent.id)
    )) if child_ids else []
    town = current_app.extensions["inscriptions.town"]
    own_accounts = {a.id for a in accounts.values()}
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": _iso(utcnow_naive()),
        "data_controller": town.name,
        "household": {
            "id": household.id,
            "address_line1": household.address_line1,
            "address_line2": household.address_line2,
            "postcode": household.postcode,
            "city": household.city,
            "quotient_familial": household.quotient_familial,
            "created_at": _iso(household.created_at),
            "updated_at": _iso(household.updated_at),
        },
        "guardians": [
            {
                "id": g.id, "first_name": g.first_name, "last_name": g.last_name, "email": g.email,
                "phone": g.phone, "birth_date": _iso(g.birth_date),
                "account": None if g.id not in accounts else {
                    "email": accounts[g.id].email,
                    "created_at": _iso(accounts[g.id].created_at),
                    "last_login_at": _iso(accounts[g.id].last_login_at),
                },
            }
            for g in household.guardians
        ],
        "children": [
            {"id": c.id, "first_name": c.first_name, "last_name": c.last_name,
             "birth_date": _iso(c.birth_date), "school": c.school, "class_name": c.class_name}
            for c in household.children
        ],
        "registrations": [_registration(r) for r in regs],
        "uploads": [
            {"filename": u.filename, "content_type": u.content_type, "size": u.size,
             "sha256": u.sha256, "created_at": _iso(u.created_at)}
            for u in uploads
        ],
        "photo_consents": [
            {"child_id": c.child_id, "service": c.service_code, "given_at": _iso(c.given_at),
             "withdrawn_at": _iso(c.withdrawn_at)}
            for c in consents
        ],
        "access_log": [
            # The family's own accounts are not staff: their own downloads are theirs.
            {"at": _iso(e.at), "action": e.action,
             "by_staff": e.actor_account_id is not None and e.actor_account_id not in own_accounts,
             "reason": e.reason}
            for e in events_of_household(household.id)
        ],
    }


def _registration(reg: Registration) -> dict[str, Any]:
    return {
        "reference": reg.reference,
        "service": reg.service_code,
        "service_name": _service_name(reg.service_code),
        "participant": reg.participant_name,
        "child_id": reg.child_id,
        "guardian_id": reg.guardian_id,
        "session": reg.session.label if reg.session is not None else None,
        "status": reg.status,
        "channel": reg.channel,
        "places": reg.places,
        "price": str(reg.price),
        "price_unit": reg.price_unit,
        "answers": reg.answers or {},
        "received_on": _iso(reg.received_on),
        "mediation_reason": reg.mediation_reason,
        "created_at": _iso(reg.created_at),
        "form_version": reg.form_version.version,
        "history": [
            {"from": h.from_status, "to": h.to_status, "at": _iso(h.at), "reason": h.reason}
            for h in reg.history
        ],
    }


# -- the readable copy -------------------------------------------------------------------------------

def _p(text: Any, style: Any) -> Paragraph:
    # ReportLab paragraphs read a small markup: the family's own text must not be taken for it.
    return Paragraph(escape(str(text if text not in (None, "") else "–"), quote=False), style)


def _answer_rows(reg: Registration) -> list[tuple[str, str]]:
    """The answers in words (labels, not codes; group rows on one line), as the family saw the form."""
    from inscriptions.forms import web

    defn = definition_for(reg.form_version_id)
    rows: list[tuple[str, str]] = []
    for page in defn.form.pages:
        for answer in web.answers_in_words(page.fields, reg.answers or {}, include_empty=False):
            if answer.rows:
                text = " / ".join(", ".join(f"{sub.label}: {sub.text}" for sub in row) for row in answer.rows)
            else:
                text = answer.text
            rows.append((answer.label, text))
    return rows


def household_pdf(household: Household) -> bytes:
    """The household's data as a readable A4 PDF (same content as :func:`household_data`)."""
    data = household_data(household)
    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]
    table_style = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
    ])

    def pairs(rows: list[tuple[str, Any]]) -> Table:
        table = Table([[_p(k, body), _p(v, body)] for k, v in rows], colWidths=[55 * mm, 115 * mm])
        table.setStyle(table_style)
        return table

    story: list[Any] = [
        _p(_("Personal data of the household"), h1),
        _p(_("%(town)s – document generated on %(day)s", town=data["data_controller"],
             day=data["generated_at"][:10]), body),
        Spacer(1, 6 * mm),
        _p(_("Household"), h2),
    ]
    hh = data["household"]
    story.append(pairs([
        (_("Address"), " ".join(x for x in (hh["address_line1"], hh["address_line2"]) if x)),
        (_("Postcode and city"), f"{hh['postcode']} {hh['city']}"),
        (_("Quotient familial"), hh["quotient_familial"]),
    ]))
    story.append(_p(_("Guardians"), h2))
    for g in data["guardians"]:
        rows = [(_("Name"), f"{g['first_name']} {g['last_name']}"), (_("E-mail"), g["email"]),
                (_("Phone"), g["phone"])]
        if g["account"]:
            rows += [(_("Account"), g["account"]["email"]),
                     (_("Last log-in"), (g["account"]["last_login_at"] or "")[:16].replace("T", " "))]
        story += [pairs(rows), Spacer(1, 3 * mm)]
    story.append(_p(_("Children"), h2))
    for c in data["children"]:
        story += [pairs([(_("Name"), f"{c['first_name']} {c['last_name']}"), (_("Date of birth"), c["birth_date"]),
                         (_("School"), c["school"]), (_("Class"), c["class_name"])]), Spacer(1, 3 * mm)]
    story.append(_p(_("Registrations"), h2))
    regs = list(db.session.scalars(
        select(Registration).where(Registration.household_id == household.id).order_by(Registration.id)))
    from inscriptions.notifications import status_label

    for reg, item in zip(regs, data["registrations"], strict=True):
        rows = [(_("Reference"), item["reference"]), (_("Service"), item["service_name"]),
                (_("Person"), item["participant"]), (_("Session"), item["session"]),
                (_("Status"), status_label(item["status"])), (_("Made on"), item["created_at"][:10])]
        rows += _answer_rows(reg)
        story += [pairs(rows), Spacer(1, 3 * mm)]
    if data["uploads"]:
        story.append(_p(_("Files sent"), h2))
        story.append(pairs([(u["created_at"][:10], u["filename"]) for u in data["uploads"]]))
    if data["photo_consents"]:
        story.append(_p(_("Photo consent"), h2))
        names = {c["id"]: c["first_name"] for c in data["children"]}
        story.append(pairs([
            (f"{names.get(c['child_id'], '')} – {_service_name(c['service'])}",
             _("given on %(given)s", given=c["given_at"][:10])
             + (" – " + _("withdrawn on %(day)s", day=c["withdrawn_at"][:10]) if c["withdrawn_at"] else ""))
            for c in data["photo_consents"]
        ]))
    if data["access_log"]:
        story.append(_p(_("Accesses of the town's staff to your file"), h2))
        story.append(pairs([(e["at"][:16].replace("T", " "), f"{e['action']} {e['reason']}".strip())
                            for e in data["access_log"]]))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=_("Personal data of the household"),
                            leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm)
    doc.build(story)
    return buffer.getvalue()
