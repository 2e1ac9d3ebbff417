"""The right of access is complete: the export holds every table, column and file about a household.

The schema is walked here on its own (not with the export's code): from the ``households`` row,
every row one of whose foreign keys, ``household_id`` columns or declared links without a foreign
key (:data:`inscriptions.privacy.export.LINKS_WITHOUT_FOREIGN_KEY`) points at a row already found
is about the household. Every column of such a table must be exported
(:func:`~inscriptions.privacy.export.exported_columns`) or listed in
:data:`~inscriptions.privacy.export.LEFT_OUT` with a reason: a table or column added later without
either fails :func:`test_every_column_about_a_household_is_exported_or_left_out_with_a_reason`.

The household is filled through every channel the fixtures allow: a web draft with an allergy's
details, a web registration with a file, a staff status change, photo consent, a counter read
with its reason, a mass printing, a paper form printed, scanned and confirmed by an agent (a paper
registration keyed by the agent, decided by the allocator), an API key.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
from flask import Flask
from flask.testing import FlaskClient
from privacy_helpers import ATELIER, upload_for, write_plugins
from sqlalchemy import select

from inscriptions.api.tokens import issue_token
from inscriptions.audit import Action
from inscriptions.definitions.registry import current_version, registry, sync_all
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent, Household, PrintToken, Registration, ScanPage, Upload
from inscriptions.paper import batch as print_batch
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import simulate as sim
from inscriptions.privacy import export
from inscriptions.privacy.sealing import unsealed
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations
from inscriptions.settings import PROJECT_ROOT

ROOT = "households"
# Tables the walk must reach from a household (a broken walk would check nothing).
REACHED = {"guardians", "children", "accounts", "registrations", "status_changes", "applications",
           "allocation_decisions", "drafts", "uploads", "print_tokens", "print_jobs", "scan_pages",
           "photo_consents", "audit_events", "api_tokens", "submission_keys"}

# What the filled household typed or was given, each string found nowhere else.
CHILD = "Zéphyrine"
SURNAME = "Quenouillard"
DRAFT_ALLERGY = "Kiwi et noisette, trousse PAI dans le cartable"
WEB_ALLERGY = "Arachides, stylo adrénaline"
SCAN_PICKUP = "Ophélie Scanlu"
ACCESS_DETAIL = "appel du père pour un changement d'adresse"
STATUS_REASON = "Dossier complet, place confirmée"
API_KEY_NAME = "Tableur familial"
OTHER = "Autrefamille"


# -- the world -----------------------------------------------------------------------------------

@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    """The canteen (printed, scanned) and a test service reviewed by hand, with a file field and
    photo consent."""
    atelier = copy.deepcopy(ATELIER)
    atelier["workflow"] = "manual"
    plugins = write_plugins(tmp_path / "plugins", atelier)
    shutil.copytree(PROJECT_ROOT / "plugins" / "cantine", plugins / "cantine")
    application = make_app(PLUGINS_DIR=plugins, WTF_CSRF_ENABLED=False)
    with application.app_context():
        sync_all()
        yield application


@dataclass
class Filled:
    household: Household
    other: Household
    account: Account
    agent: Account


def _book_atelier(household: Household, answers: dict[str, Any], key: str) -> Registration:
    outcome = create_registrations(RegistrationInput(
        service_code="atelier", household_id=household.id, channel="web", session_code="old",
        participants=[ParticipantInput(child_id=c.id, answers=answers) for c in household.children],
        idempotency_key=key))
    return db.session.get(Registration, outcome.registration_ids[0])


def _scan_and_confirm(client: FlaskClient, household: Household) -> None:
    """A canteen form printed for the household's child, filled, scanned and confirmed."""
    version = current_version(registry().get("cantine"))
    layout_for(version)
    db.session.commit()
    ticked = {"days": ["mon", "thu"], "diet": "sans_viande", "allergy": False, "rules": True}
    pages, _answers = sim.filled_documents(version, 1, np.random.default_rng(3), answers=[ticked],
                                           settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                           styles={"cross": 1.0}, smudges=0.0)
    child = household.children[0]
    token = db.session.scalar(select(PrintToken).filter_by(token=pages[0].token))
    token.household_id, token.child_id = household.id, child.id
    db.session.commit()
    files = [(io.BytesIO(p.data), p.filename) for p in pages]
    response = client.post("/guichet/numerisation/", data={"scans": files}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    response = client.post(f"/guichet/numerisation/documents/{pages[0].token}", data={
        f"c{child.id}-days": ["mon", "thu"], f"c{child.id}-diet": "sans_viande", f"c{child.id}-allergy": "no",
        "pickup-0-name": SCAN_PICKUP, "pickup-0-phone": "06 12 34 56 78", "rules": "y",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def filled(client: FlaskClient, make_household: Callable[..., Household], login: Callable[[Household], Account],
           login_as: Callable[[Account | None], Account | None], staff: Callable[..., Account]) -> Filled:
    home = make_household(last_name=SURNAME, children=[(CHILD, dt.date(2018, 5, 2))])
    other = make_household(last_name=OTHER, children=[("Autreenfant", dt.date(2018, 1, 1))])
    # The other family shares a mass printing and has data of its own: none of it may leak.
    upload_for(other)
    _book_atelier(other, {"level": "b", "allergies": f"{OTHER} allergie"}, "other-key-1")

    # The family online: a canteen form started and not sent, photo consent, a registration with
    # a file, an API key.
    account = login(home)
    child = home.children[0]
    started = client.post("/services/cantine/inscription", data={"participant": [f"c{child.id}"]})
    assert started.status_code == 302, started.get_data(as_text=True)[:500]
    draft = started.headers["Location"].split("/inscription/")[1].split("/")[0]
    page = client.post(f"/inscription/{draft}/etape/1", content_type="multipart/form-data", data={
        "_action": "next", f"c{child.id}-days": ["mon"], f"c{child.id}-diet": "standard",
        f"c{child.id}-allergy": "yes", f"c{child.id}-pai_details": DRAFT_ALLERGY})
    assert page.status_code == 302, page.get_data(as_text=True)[:500]
    assert client.post(f"/mon-foyer/donnees/photos/{child.id}/atelier", data={"action": "give"}).status_code == 302
    token = upload_for(home)
    reg = _book_atelier(home, {"level": "a", "allergies": WEB_ALLERGY, "certificate": token,
                               "contacts": [{"who": "Mamie Jeanne", "health_note": "asthme"}]}, "family-key-1")
    issue_token(db.session.get(Account, account.id), API_KEY_NAME)

    # The town's staff: a status change with its reason, a counter read with its reason, a mass
    # printing, a scanned paper form confirmed into a registration.
    login_as(staff("agent", "atelier"))
    moved = client.post(f"/gestion/atelier/inscriptions/{reg.reference}/statut",
                        data={"to": "accepted", "reason": STATUS_REASON})
    assert moved.status_code == 303
    agent = staff("agent", "cantine")
    login_as(agent)
    opened = client.post(f"/guichet/foyers/{home.id}/acces", data={"reason": "other", "detail": ACCESS_DETAIL})
    assert opened.status_code == 302
    manager = staff("manager", "cantine")
    job = print_batch.request_print("forms", "cantine", {"selection": "ids", "household_ids": [home.id, other.id],
                                                         "blank": 0, "with_answers": False}, manager.id)
    assert job.status == print_batch.DONE, job.error
    _scan_and_confirm(client, home)
    login(home)
    db.session.expire_all()
    return Filled(household=db.session.get(Household, home.id), other=db.session.get(Household, other.id),
                  account=db.session.get(Account, account.id), agent=agent)


# -- the walk (independent of the export's own) ------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    table: str
    column: str
    target: str
    target_column: str
    json_key: str | None = None


def references() -> list[Ref]:
    """Every way a row names another: foreign keys, ``household_id`` columns, declared links."""
    refs = []
    for table in db.metadata.tables.values():
        for fk in table.foreign_keys:
            refs.append(Ref(table.name, fk.parent.name, fk.column.table.name, fk.column.name))
        if "household_id" in table.columns and not table.columns["household_id"].foreign_keys:
            refs.append(Ref(table.name, "household_id", ROOT, "id"))
    for link in export.LINKS_WITHOUT_FOREIGN_KEY:
        refs.append(Ref(link.table, link.column, link.target, link.target_column, link.json_key))
    return [r for r in refs if r.table != ROOT]


def tables_about_a_household() -> set[str]:
    """Tables one of whose rows can be about a household (a reference path to ``households``)."""
    found = {ROOT}
    grew = True
    while grew:
        grew = False
        for ref in references():
            if ref.target in found and ref.table not in found:
                found.add(ref.table)
                grew = True
    return found


def _pk(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in db.metadata.tables[table].primary_key.columns)


def _values(value: Any, ref: Ref) -> list[Any]:
    if ref.json_key is None:
        return [value]
    if isinstance(value, str):
        value = json.loads(value)
    found = value.get(ref.json_key) if isinstance(value, dict) else None
    return list(found) if isinstance(found, list) else []


def rows_about(household_id: int) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row of the database about the household, by table and primary key."""
    everything = {name: [dict(r) for r in db.session.execute(select(table)).mappings()]
                  for name, table in db.metadata.tables.items()}
    found: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in everything}
    found[ROOT] = {_pk(ROOT, r): r for r in everything[ROOT] if r["id"] == household_id}
    grew = True
    while grew:
        grew = False
        for ref in references():
            targets = {row[ref.target_column] for row in found[ref.target].values()} - {None}
            for row in everything[ref.table]:
                key = _pk(ref.table, row)
                if key not in found[ref.table] and targets.intersection(_values(row[ref.column], ref)):
                    found[ref.table][key] = row
                    grew = True
    return found


def as_json(value: Any) -> Any:
    """A column's value as the family must read it in the JSON (sealed answers opened)."""
    if isinstance(value, dict | list):
        return unsealed(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _zip(client: FlaskClient, url: str = "/mon-foyer/donnees/export.zip", **kwargs: Any) -> zipfile.ZipFile:
    response = client.open(url, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(response.data))


def _pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


# -- the tests ---------------------------------------------------------------------------------------

def test_every_column_about_a_household_is_exported_or_left_out_with_a_reason(app: Flask) -> None:
    about = tables_about_a_household()
    assert about >= REACHED, f"the walk does not reach {sorted(REACHED - about)}"
    missing = []
    for name in sorted(about):
        if name in export.LEFT_OUT:
            continue
        exported = set(export.exported_columns(name))
        for column in db.metadata.tables[name].columns:
            if column.name not in exported and f"{name}.{column.name}" not in export.LEFT_OUT:
                missing.append(f"{name}.{column.name}")
    assert not missing, (
        "columns about a household neither exported nor left out with a reason "
        f"(inscriptions/privacy/export.py EXPORTED / LEFT_OUT): {missing}")

    # Nothing declared that the schema does not have (a renamed column would hide a new one).
    tables = db.metadata.tables
    stale = [f"{t}.{c}" for t, columns in export.EXPORTED.items() for c in columns
             if t not in tables or c not in tables[t].columns]
    stale += [key for key in export.LEFT_OUT
              if key.partition(".")[0] not in tables
              or (key.partition(".")[2] and key.partition(".")[2] not in tables[key.partition(".")[0]].columns)]
    stale += [f"{link.table}.{link.column} -> {link.target}.{link.target_column}"
              for link in export.LINKS_WITHOUT_FOREIGN_KEY
              if link.table not in tables or link.column not in tables[link.table].columns
              or link.target not in tables or link.target_column not in tables[link.target].columns]
    assert not stale, f"declared in inscriptions/privacy/export.py but not in the schema: {stale}"
    overlap = [f"{t}.{c}" for t in export.EXPORTED for c in export.EXPORTED[t] if f"{t}.{c}" in export.LEFT_OUT]
    assert not overlap

    # Every reason is words for the family, in French.
    for key, reason in export.LEFT_OUT.items():
        assert len(str(reason)) > 30, key
    assert "secret" in str(export.LEFT_OUT["accounts.password_hash"]).lower()
    assert "empreinte" in str(export.LEFT_OUT["accounts.password_hash"])

    # A reference kept without a foreign key must be declared, or the walk would miss its rows.
    declared = {(link.table, link.column) for link in export.LINKS_WITHOUT_FOREIGN_KEY}
    loose = [f"{t.name}.{c.name}" for t in tables.values() for c in t.columns
             if c.name.endswith("_id") and not c.foreign_keys and c.name != "household_id"
             and (t.name, c.name) not in declared and f"{t.name}.{c.name}" not in export.NOT_LINKS]
    assert not loose, ("columns naming rows without a foreign key, in neither LINKS_WITHOUT_FOREIGN_KEY nor "
                       f"NOT_LINKS (inscriptions/privacy/export.py): {loose}")
    assert all(len(why) > 20 for why in export.NOT_LINKS.values())


def test_export_holds_every_row_column_and_file_of_a_household_filled_through_every_channel(
        client: FlaskClient, filled: Filled) -> None:
    home = filled.household
    before = rows_about(home.id)
    with_rows = {name for name, rows in before.items() if rows}
    assert with_rows >= REACHED, f"the fixture filled no row in {sorted(REACHED - with_rows)}"
    # The channels the household went through, as the rows say.
    regs = list(before["registrations"].values())
    assert {r["channel"] for r in regs} == {"web", "paper"}
    assert any(r["keyed_by_id"] == filled.agent.id and r["price_detail"] for r in regs)
    assert any(c["by_id"] is not None and c["reason"] == STATUS_REASON for c in before["status_changes"].values())
    assert any(d["submitted_batch"] is None for d in before["drafts"].values())
    assert any(p["machine_values"] and p["confirmed_values"] for p in before["scan_pages"].values())
    assert any(e["reason"].endswith(ACCESS_DETAIL) for e in before["audit_events"].values())
    # The other family's rows are never reached.
    assert filled.other.id not in {r["household_id"] for r in before["registrations"].values()}

    archive = _zip(client)
    data = json.loads(archive.read("donnees.json"))
    assert data["format_version"] == export.FORMAT_VERSION and data["household_id"] == home.id
    tables = data["tables"]

    # Every row found by the walk is in the export, every exported column with its value; no
    # column left out is there.
    problems = []
    for name, rows in before.items():
        if not rows:
            continue
        columns = export.exported_columns(name)
        entries = {tuple(e[c.name] for c in db.metadata.tables[name].primary_key.columns): e
                   for e in tables.get(name, [])}
        for key, row in rows.items():
            entry = entries.get(tuple(as_json(k) for k in key))
            if entry is None:
                problems.append(f"{name} row {key} missing")
                continue
            for column in columns:
                if column not in entry:
                    problems.append(f"{name}.{column} missing in row {key}")
                elif entry[column] != as_json(row[column]):
                    problems.append(f"{name}.{column} of row {key}: {entry[column]!r} != {as_json(row[column])!r}")
            problems += [f"{name}.{c} left out yet exported" for c in entry if f"{name}.{c}" in export.LEFT_OUT]
    assert not problems, problems

    # Rows exported beyond the walk (the scan batch of a page, the print job of a form) hold their
    # real values too, and belong to the household's pages and forms.
    batches = {p["batch_id"] for p in before["scan_pages"].values()}
    assert {b["id"] for b in tables["scan_batches"]} == batches
    assert [j["kind"] for j in tables["print_jobs"]] == ["forms"]
    for name in ("scan_batches", "print_jobs"):
        table = db.metadata.tables[name]
        for entry in tables[name]:
            row = dict(db.session.execute(select(table).where(table.c.id == entry["id"])).mappings().one())
            assert {c: entry[c] for c in export.exported_columns(name)} == {
                c: as_json(row[c]) for c in export.exported_columns(name)}
    assert "params" not in tables["print_jobs"][0]  # it lists the other household

    # Who the account numbers are: the family's own accounts with their e-mail, staff by role.
    actors = data["actors"]
    assert actors[str(filled.account.id)] == {"account_id": filled.account.id, "kind": "family",
                                              "email": filled.account.email, "roles": []}
    assert actors[str(filled.agent.id)]["kind"] == "staff"
    assert actors[str(filled.agent.id)]["roles"] == [{"role": "agent", "service": "cantine"}]
    assert "email" not in actors[str(filled.agent.id)]
    assert all(str(reason) for reason in data["left_out"].values())
    decided = [d for a in data["allocation"] for d in a["decisions"]]
    assert decided and all(d["reason"] and d["run"]["algorithm"] for d in decided)

    # The files themselves: the document sent, each scanned page and its cut-outs, as stored.
    names = set(archive.namelist())
    assert {"LISEZMOI.txt", "donnees.json", "donnees.pdf"} <= names
    upload = db.session.scalar(select(Upload).filter_by(household_id=home.id))
    document = next(f for f in data["files"] if f["table"] == "uploads")
    assert document["available"] and document["path"] in names
    assert hashlib.sha256(archive.read(document["path"])).hexdigest() == upload.sha256
    pages = list(db.session.scalars(select(ScanPage).where(ScanPage.id.in_([k[0] for k in before["scan_pages"]]))))
    for page in pages:
        entry = next(f for f in data["files"] if f["kind"] == "scan_page" and f["row_id"] == page.id)
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == page.image_sha256
    cut_outs = [f for f in data["files"] if f["kind"] == "scan_cut_out"]
    assert cut_outs and all(f["available"] and f["path"] in names for f in cut_outs)

    # Nothing of the other family, and no secret.
    text = archive.read("donnees.json").decode("utf-8")
    # Sealed (encrypted) health answers are opened for the family: its own data, in clear.
    assert WEB_ALLERGY in text and DRAFT_ALLERGY in text and "$sealed" not in text
    assert OTHER not in text and OTHER not in _pdf_text(archive.read("donnees.pdf"))
    assert filled.account.password_hash not in text
    other_people = {g.id for g in filled.other.guardians} | {c.id for c in filled.other.children}
    assert not other_people & {row["id"] for row in tables["guardians"] + tables["children"]}
    # The download itself is in the family's history, as the family's.
    event = db.session.scalars(select(AuditEvent).filter_by(action=Action.DOWNLOAD_OWN_DATA)).all()[-1]
    assert event.household_id == home.id and event.detail == {"format": "zip"}


def test_pdf_says_everything_in_plain_french(client: FlaskClient, filled: Filled) -> None:
    pdf = client.get("/mon-foyer/donnees/export.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = " ".join(_pdf_text(pdf.data).split())
    home = filled.household
    reference = db.session.scalar(select(Registration.reference).filter_by(household_id=home.id, channel="paper"))
    for expected in (
        f"{CHILD} {SURNAME}", home.address_line1, home.guardians[0].email,
        # A form started and not sent, with the allergy's details typed in it.
        "Formulaires commencés et non envoyés", DRAFT_ALLERGY,
        # Registrations: the answers, the price and its detail, who keyed it, the status history.
        WEB_ALLERGY, "Sans viande", reference, "2,40", "Saisie par",
        f"agent n° {filled.agent.id} (agent – Restauration scolaire)", STATUS_REASON,
        # Decisions and why, files sent, paper forms printed and scanned, what was read on them.
        "Demandes et décisions", "Une place était libre", "certificat.png", "Formulaires papier imprimés",
        "Impressions en série", "Formulaires papier scannés et valeurs lues", SCAN_PICKUP,
        # Photo consent, API key, every access with its reason, role and channel, what is left out.
        "Autorisation de photographier", API_KEY_NAME, "Accès à votre dossier", ACCESS_DETAIL, "site web",
        "Ce qui n'est pas dans ce document", "empreinte",
    ):
        assert expected in text, (expected, text)
    assert OTHER not in text


def test_dpo_produces_a_paper_only_household_data_on_request(
        client: FlaskClient, make_household: Callable[..., Household], staff: Callable[..., Account],
        login_as: Callable[[Account | None], Account | None], login: Callable[[Household], Account]) -> None:
    paper = make_household(last_name="Papierseul", email=None, children=[(CHILD, dt.date(2018, 5, 2))])
    agent = staff("agent", "atelier")
    create_registrations(RegistrationInput(
        service_code="atelier", household_id=paper.id, channel="mail", keyed_by_id=agent.id, session_code="old",
        received_on=dt.date(2026, 9, 14), mediation_reason="Formulaire reçu par courrier",
        participants=[ParticipantInput(child_id=paper.children[0].id, answers={"level": "a"})]))
    dpo = staff("dpo")
    url = "/dpo/donnees-foyer"
    reason = "Courrier du 14 septembre de Mme Papierseul demandant ses données"

    # Only the DPO; the reason is required and the household must exist.
    for account in (agent, staff("admin")):
        login_as(account)
        assert client.get(f"{url}?household={paper.id}").status_code == 403
        assert client.post(url, data={"household": paper.id, "reason": reason}).status_code == 403
    login(make_household(last_name="Parent"))
    assert client.get(url).status_code == 403
    login_as(dpo)
    page = client.get(f"{url}?household={paper.id}")
    assert page.status_code == 200 and f'value="{paper.id}"' in page.get_data(as_text=True)
    assert client.post(url, data={"household": paper.id, "reason": ""}).status_code == 422
    assert client.post(url, data={"household": 999_999, "reason": reason}).status_code == 422
    assert client.post(url, data={"household": paper.id, "reason": reason, "format": "exe"}).status_code == 400
    assert not db.session.scalars(select(AuditEvent).filter_by(action=Action.PRODUCE_HOUSEHOLD_DATA)).all()

    archive = _zip(client, url, method="POST", data={"household": paper.id, "reason": reason, "format": "zip"})
    data = json.loads(archive.read("donnees.json"))
    assert data["household_id"] == paper.id
    assert data["tables"]["guardians"][0]["last_name"] == "Papierseul"
    assert "accounts" not in data["tables"]
    reg = data["tables"]["registrations"][0]
    assert reg["channel"] == "mail" and reg["keyed_by_id"] == agent.id
    # The production is in the journal with the request as reason, and in the export itself.
    event = db.session.scalar(select(AuditEvent).filter_by(action=Action.PRODUCE_HOUSEHOLD_DATA))
    assert (event.household_id, event.actor_account_id, event.reason) == (paper.id, dpo.id, reason)
    assert event.detail == {"format": "zip"}
    assert [e["reason"] for e in data["tables"]["audit_events"]
            if e["action"] == Action.PRODUCE_HOUSEHOLD_DATA] == [reason]
    text = " ".join(_pdf_text(archive.read("donnees.pdf")).split())
    assert "Papierseul" in text and "aucun : ce foyer est suivi sur papier" in text
    assert "Formulaire reçu par courrier" in text and reason in text

    pdf = client.post(url, data={"household": paper.id, "reason": reason, "format": "pdf"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Papierseul" in _pdf_text(pdf.data)
    assert len(db.session.scalars(select(AuditEvent).filter_by(action=Action.PRODUCE_HOUSEHOLD_DATA)).all()) == 2
