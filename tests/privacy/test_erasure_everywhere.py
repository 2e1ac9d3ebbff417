"""Erasure and purge reach everything (issue 17, point 2).

One family is filled through every channel with strings found nowhere else: a web registration
with a file and a form started online and never sent, a counter entry, forms printed for it by a
mass printing (prefilled), the printed pages scanned back (one document confirmed into a paper
registration, one left waiting), the letter of its registration. The DPO erases it on its request;
then every row of every table but the audit journal's, and every file under the test's folders
(``UPLOAD_DIR``, the journal's head file), are read: none of the family's strings is left, no file
written for it is left (compared byte for byte), and another family printed and scanned in the
same runs keeps its data. A paper-only family (no account) goes the same way through the purge,
once its retention has passed, after a dry run that changes nothing.

Both run on SQLite and PostgreSQL (``INSCRIPTIONS_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from flask import Flask
from flask.testing import FlaskClient
from privacy_helpers import ATELIER, PNG, write_plugins
from sqlalchemy import MetaData, select

from inscriptions import files
from inscriptions.definitions.registry import current_version, registry, sync_all
from inscriptions.extensions import db
from inscriptions.models import (
    Account,
    Draft,
    Household,
    PrintJob,
    PrintToken,
    Registration,
    ScanBatch,
    ScanPage,
    StoredFile,
    Upload,
)
from inscriptions.paper import batch as print_batch
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import simulate as sim
from inscriptions.privacy.purge import purge
from inscriptions.settings import PROJECT_ROOT

UTC = dt.UTC
PG = bool(os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"))
# The journal keeps what was done (ids, and the reasons staff typed): read by the DPO, purged by
# its own retention, and left out of this search by design.
JOURNAL_TABLES = {"audit_events", "audit_event_households", "audit_seals", "audit_checkpoints"}

SURNAME = "Vrillonnière"
GUARDIAN = "Hortensiane"
CHILD = "Zébulonne"
CHILD2 = "Philoxène"
EMAIL = "hortensiane.vrillonniere@exemple-unique.test"
ADDRESS = "17 impasse des Glycines Bleues"
WEB_ALLERGY = "Allergie au kiwi doré et au sésame noir"
DRAFT_ALLERGY = "Brouillon : intolérance aux noix de pécan"
CONTACT = "Grand-oncle Barnabé Quintal"
COUNTER_PAI = "PAI asthme, ventoline dans le cartable violet"
PICKUP = "Anatole Grandpickup"
MEDIATION = "Famille Vrillonnière reçue au guichet"
UPLOAD_NAME = "certificat-vrillonniere-zebulonne.png"
SCAN_NAME = "scan-vrillonniere"
# Health answers (allergies, PAI) are sealed at rest when a data key is set: the strings are then
# checked gone together with the sealed values that held them.
HEALTH_STRINGS = (WEB_ALLERGY, DRAFT_ALLERGY, COUNTER_PAI)
FAMILY_STRINGS = (SURNAME, "Vrillonniere", GUARDIAN, CHILD, CHILD2, EMAIL, ADDRESS, CONTACT, PICKUP, *HEALTH_STRINGS)
SEALED = re.compile(r"gAAAAA[A-Za-z0-9_=-]{40,}")
OTHER = "Autrefamillard"

PAPER_SURNAME = "Papierbuissonnet"
PAPER_CHILD = "Clothilde-Aube"
PAPER_ADDRESS = "3 chemin du Moulin Bancal"
PAPER_PAI = "PAI allergie aux fruits à coque, trousse rouge"
PAPER_PICKUP = "Tante Gertrude Papillotte"
PAPER_STRINGS = (PAPER_SURNAME, PAPER_CHILD, PAPER_ADDRESS, PAPER_PAI, PAPER_PICKUP)
HEALTH_STRINGS += (PAPER_PAI,)
CANTEEN_MARKS = {"days": ["mon", "thu"], "diet": "standard", "allergy": False, "rules": True}


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    """The canteen (printed, scanned, keyed at the counter) and a web service with a file field."""
    plugins = write_plugins(tmp_path / "plugins", copy.deepcopy(ATELIER))
    shutil.copytree(PROJECT_ROOT / "plugins" / "cantine", plugins / "cantine")
    application = make_app(PLUGINS_DIR=plugins, WTF_CSRF_ENABLED=False)
    with application.app_context():
        sync_all()
        yield application


# -- reading everything back ----------------------------------------------------------------------

def _forms(text: str) -> set[str]:
    """A string as it may be stored: as typed, and escaped in JSON (SQLite keeps JSON as text)."""
    return {text, json.dumps(text)[1:-1]}


def database_text() -> str:
    """Every row of every table of the database (the journal's aside), as text; on SQLite, the
    database's own dump too (the schema included)."""
    metadata = MetaData()
    metadata.reflect(bind=db.engine)
    parts = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in JOURNAL_TABLES:
                continue
            for row in conn.execute(select(table)):
                parts.append(json.dumps([table.name, *row], default=str, ensure_ascii=False))
    if not PG:
        raw = db.engine.raw_connection()
        try:
            parts += [line for line in raw.driver_connection.iterdump()
                      if not any(f'"{name}"' in line.split("VALUES")[0] for name in JOURNAL_TABLES)]
        finally:
            raw.close()
    return "\n".join(parts)


def pdf_text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


@dataclass
class Folder:
    """Every file under the test's folders but the database's own: path -> bytes."""

    files: dict[Path, bytes] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Folder:
        found = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.startswith("test.sqlite3") or "plugins" in path.parts:
                continue
            found[path] = path.read_bytes()
        return cls(found)

    def digests(self) -> set[str]:
        return {hashlib.sha256(data).hexdigest() for data in self.files.values()}

    def text(self) -> str:
        """What each file says: its bytes as text, and a PDF's extracted text too."""
        parts = []
        for path, data in self.files.items():
            parts.append(f"{path}\n{data.decode('utf-8', 'replace')}")
            if data.startswith(b"%PDF"):
                parts.append(pdf_text(data))
        return "\n".join(parts)


def leftovers(text: str, strings: tuple[str, ...]) -> list[str]:
    lowered = text.lower()
    return [s for s in strings if any(form.lower() in lowered for form in _forms(s))]


def stored_everywhere(text: str, strings: tuple[str, ...]) -> set[str]:
    """Before the erasure: every string is stored (health answers as typed, or sealed); returns
    the sealed values, which must be gone after it."""
    missing = set(strings) - set(leftovers(text, strings)) - set(HEALTH_STRINGS)
    assert not missing, f"not stored, the search would prove nothing: {missing}"
    sealed = set(SEALED.findall(text))
    assert sealed or not set(HEALTH_STRINGS) - set(leftovers(text, HEALTH_STRINGS))
    return sealed


# -- the channels ---------------------------------------------------------------------------------

def _family(make_household: Callable[..., Household]) -> Household:
    home = make_household(last_name=SURNAME, email=EMAIL,
                          children=[(CHILD, dt.date(2018, 3, 1)), (CHILD2, dt.date(2019, 6, 2))])
    home.address_line1 = ADDRESS
    home.guardians[0].first_name = GUARDIAN
    db.session.commit()
    return home


def _web(client: FlaskClient, home: Household) -> None:
    """A registration sent online with a certificate, and a second form started, a file sent with
    it, never sent."""
    child = home.children[0]
    p = f"c{child.id}"

    def page(token: str, allergy: str, contact: str, name: str) -> None:
        response = client.post(f"/inscription/{token}/etape/1", content_type="multipart/form-data", data={
            "_action": "next", f"{p}-level": "a", f"{p}-allergies": allergy,
            f"{p}-contacts-0-who": contact, f"{p}-contacts-0-health_note": "",
            f"{p}-certificate": (io.BytesIO(PNG), name)})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]

    def start(session: str) -> str:
        response = client.post("/services/atelier/inscription", data={"participant": [p], "session": session})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return response.headers["Location"].split("/inscription/")[1].split("/")[0]

    sent = start("old")
    page(sent, WEB_ALLERGY, CONTACT, UPLOAD_NAME)
    assert client.post(f"/inscription/{sent}/recapitulatif").status_code == 302
    draft = start("later")
    page(draft, DRAFT_ALLERGY, CONTACT, UPLOAD_NAME)
    assert db.session.scalar(select(Registration).filter_by(household_id=home.id, service_code="atelier"))
    assert db.session.scalar(select(Draft).filter_by(token=draft)).state


def _counter(client: FlaskClient, home: Household, child_index: int, pai: str, pickup: str, mediation: str) -> None:
    """A canteen form keyed by an agent at the counter (allergy details and a mediation reason)."""
    child = home.children[child_index]
    assert client.post(f"/guichet/foyers/{home.id}/acces", data={"reason": "counter"}).status_code == 302
    url = f"/guichet/foyers/{home.id}/saisie/cantine"
    setup = {"setup-participant": [f"c{child.id}"], "setup-channel": "counter", "setup-received_on": "",
             "setup-mediation_reason": mediation}
    shown = client.post(url, data={**setup, "_step": "setup"})
    found = re.search(r'name="_key" value="([0-9a-f]{32})"', shown.get_data(as_text=True))
    assert found, shown.get_data(as_text=True)[:2000]
    key = found.group(1)
    p = f"c{child.id}"
    response = client.post(url, data={**setup, "_step": "entry", "_key": key, f"{p}-days": ["mon", "thu"],
                                      f"{p}-diet": "sans_porc", f"{p}-allergy": "yes", f"{p}-pai_details": pai,
                                      "pickup-0-name": pickup, "pickup-0-phone": "0612345678", "rules": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]


def _print_forms(households: list[int], by: int) -> PrintJob:
    job = print_batch.request_print(print_batch.FORMS, "cantine", {
        "selection": print_batch.IDS, "household_ids": households, "blank": 0, "with_answers": True}, by)
    assert job.status == print_batch.DONE, job.error
    return job


def _scans_of(job: PrintJob, seed: int) -> dict[int, list[tuple[bytes, str]]]:
    """The job's printed documents, ticked and scanned (PNG pages): print token id -> pages."""
    version = current_version(registry().get("cantine"))
    layout = layout_for(version)
    pdf = print_batch.job_file(job).read_bytes()
    tokens = list(db.session.scalars(select(PrintToken).where(PrintToken.form_version_id == version.id,
                                                               PrintToken.household_id.is_not(None))
                                     .order_by(PrintToken.id)))[-job.documents:]
    rng = np.random.default_rng(seed)
    raster = sim.rasterise(pdf)
    truth = sim.box_truth(layout, CANTEEN_MARKS)
    scans: dict[int, list[tuple[bytes, str]]] = {}
    for token in tokens:
        for number in range(1, layout.page_count + 1):
            marked, *_rest = sim.fill_in(next(raster), layout, number, truth, rng, styles={"cross": 1.0},
                                         smudges=0.0)
            data = sim.scan(marked, sim.ScanSettings(dpi=200, jpeg=None), rng)
            scans.setdefault(token.id, []).append((data, f"{SCAN_NAME}-{token.token}-{number}.png"))
    return scans


def _upload_scans(client: FlaskClient, pages: list[tuple[bytes, str]]) -> ScanBatch:
    response = client.post("/guichet/numerisation/", content_type="multipart/form-data",
                           data={"scans": [(io.BytesIO(data), name) for data, name in pages]})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return db.session.get(ScanBatch, int(response.headers["Location"].rsplit("/", 1)[1]))


def _confirm_scan(client: FlaskClient, token: PrintToken, pickup: str) -> None:
    p = f"c{token.child_id}"
    response = client.post(f"/guichet/numerisation/documents/{token.token}", data={
        f"{p}-days": ["mon", "thu"], f"{p}-diet": "standard", f"{p}-allergy": "no",
        "pickup-0-name": pickup, "pickup-0-phone": "06 12 34 56 78", "rules": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]


def _all_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file under UPLOAD_DIR is in the register (nothing out of reach)."""
    monkeypatch.setattr(files, "IN_PROGRESS_S", 0)
    assert files.unrecorded() == []


# -- the DPO's erasure ----------------------------------------------------------------------------

def test_erasure_on_request_leaves_nothing_of_the_family(
        app: Flask, client: FlaskClient, tmp_path: Path, make_household, staff, login, login_as,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = _family(make_household)
    other = make_household(last_name=OTHER, children=[("Octave", dt.date(2018, 9, 9))])
    home_id, other_id = home.id, other.id
    chef = staff("manager", "cantine", email="chef@mairie.test")
    staff("manager", "atelier", email="chef@mairie.test")
    dpo = staff("dpo")

    # Online: a registration with a file, and a form left unsent with another file.
    login(home)
    _web(client, home)
    # At the counter: the first child's canteen form, keyed by the agent.
    login_as(chef)
    _counter(client, home, 0, COUNTER_PAI, PICKUP, MEDIATION)
    # A mass printing of the canteen's forms for this family and another one, prefilled.
    job = _print_forms([home_id, other_id], chef.id)
    printed = print_batch.job_file(job).read_bytes()
    assert SURNAME in pdf_text(printed) and OTHER in pdf_text(printed)
    # The forms come back by post and are scanned in one stack: the second child's form is
    # confirmed into a paper registration; the first child's and the other family's wait.
    scans = _scans_of(job, seed=7)
    batch = _upload_scans(client, [page for pages in scans.values() for page in pages])
    tokens = {t.id: t for t in db.session.scalars(select(PrintToken).where(PrintToken.id.in_(scans)))}
    second = next(t for t in tokens.values() if t.child_id == home.children[1].id)
    _confirm_scan(client, second, PICKUP)
    pages = list(db.session.scalars(select(ScanPage).where(ScanPage.batch_id == batch.id)))
    assert {p.status for p in pages} >= {"registered"} and len({p.token for p in pages}) == 3
    # The letter of the online registration, printed from the back office (made on the fly).
    reference = db.session.scalar(select(Registration.reference).filter_by(household_id=home_id,
                                                                          service_code="atelier"))
    letter = client.get(f"/gestion/atelier/inscriptions/{reference}/courrier.pdf")
    assert letter.status_code == 200 and SURNAME in pdf_text(letter.data)

    # Everything is in the database and on disk, every file in the register with its household.
    sealed = stored_everywhere(database_text(), FAMILY_STRINGS)
    _all_recorded(monkeypatch)
    kinds = {f.kind for f in files.of_household(home_id)}
    assert kinds == {files.UPLOAD, files.SCAN_IMAGE, files.SCAN_UPLOAD, files.PRINT}
    family_files = {f.path for f in files.of_household(home_id)}
    family_digests = {hashlib.sha256(files.absolute(name).read_bytes()).hexdigest() for name in family_files}
    other_pages = {p.id: p.image_sha256 for p in pages if p.reading.get("household_id") == other_id}
    assert other_pages
    before = Folder.read(tmp_path)
    assert printed in before.files.values()

    # The DPO erases the family on its request: the counts first, then the erasure.
    login_as(dpo)
    shown = client.get(f"/dpo/effacement-foyer?household={home_id}")
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and GUARDIAN in page and CHILD in page
    counts = dict(item.split('">', 1) for item in page.split('data-count="')[1:])
    assert counts["uploads"].startswith("2 ") and counts["drafts"].startswith("2 ")  # one sent, one not
    assert counts["print_runs"].startswith("1 ") and counts["to_cancel"].startswith("3 ")
    refused = client.post("/dpo/effacement-foyer", data={"household": home_id, "reason": ""})
    assert refused.status_code == 422 and db.session.get(Household, home_id) is not None
    done = client.post("/dpo/effacement-foyer", data={
        "household": home_id, "confirm": "y",
        "reason": f"Courrier du 3 mars de Mme {SURNAME} demandant l'effacement de ses données"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/dpo/journal?household={home_id}")
    db.session.expire_all()

    # Nothing of the family is left, in the database (the journal aside) or on disk.
    assert db.session.get(Household, home_id) is None
    text_after = database_text()
    assert leftovers(text_after, FAMILY_STRINGS) == [], [line[:300] for line in text_after.splitlines()
                                                         if "vrillonni" in line.lower()]
    assert sealed & set(SEALED.findall(text_after)) == set()
    after = Folder.read(tmp_path)
    assert leftovers(after.text(), FAMILY_STRINGS) == []
    assert after.digests() & family_digests == set()
    assert not any(files.absolute(name).exists() for name in family_files)
    assert db.session.scalar(select(StoredFile).where(StoredFile.path.in_(family_files))) is None
    _all_recorded(monkeypatch)
    # The erasure is in the journal, with the request.
    from inscriptions.models import AuditEvent

    event = db.session.scalar(select(AuditEvent).filter_by(action="erase_household", household_id=home_id))
    assert event is not None and SURNAME in event.reason and event.detail["by"] == "staff"

    # The other family keeps its data and its scanned pages; the stack they came in goes whole
    # (it held the erased family's pages), and the batch forgets the file names.
    assert db.session.get(Household, other_id) is not None
    kept = {p.id: p.image_sha256 for p in db.session.scalars(select(ScanPage).where(ScanPage.batch_id == batch.id))}
    assert kept == other_pages
    assert all((files.root() / "scans" / f"{digest}.png").is_file() for digest in kept.values())
    batch = db.session.get(ScanBatch, batch.id)
    assert batch.filename == "" and all(info["name"] == "" for info in batch.files)
    # The print run lost its PDF (it held the erased family): no download; it is printed again.
    job = db.session.get(PrintJob, job.id)
    assert job.file_name is None and print_batch.printed_households(job) == [other_id]
    login_as(chef)
    assert client.get(f"/gestion/cantine/impression/{job.id}/document.pdf").status_code == 404
    assert "print-again" in client.get(f"/gestion/cantine/impression/{job.id}").get_data(as_text=True)
    again = client.post(f"/gestion/cantine/impression/{job.id}/relancer")
    assert again.status_code == 302
    new_job = db.session.get(PrintJob, int(again.headers["Location"].rsplit("/", 1)[1]))
    assert new_job.status == print_batch.DONE and print_batch.printed_households(new_job) == [other_id]
    reprinted = pdf_text(print_batch.job_file(new_job).read_bytes())
    assert OTHER in reprinted and SURNAME not in reprinted


# -- the purge of a paper-only family -------------------------------------------------------------

def test_purge_deletes_a_paper_only_family_after_its_retention(
        app: Flask, client: FlaskClient, tmp_path: Path, make_household, staff, login_as, frozen_clock,
        runner, monkeypatch: pytest.MonkeyPatch) -> None:
    paper = make_household(last_name=PAPER_SURNAME, email=None, with_account=False,
                           children=[(PAPER_CHILD, dt.date(2018, 4, 2))])
    paper.address_line1 = PAPER_ADDRESS
    db.session.commit()
    paper_id = paper.id
    chef = staff("manager", "cantine", email="chef@mairie.test")
    login_as(chef)
    # Keyed at the counter from the paper form it sent; a new form printed for it and scanned back
    # (left waiting); the letter of its registration printed with the others owed (no e-mail).
    _counter(client, paper, 0, PAPER_PAI, PAPER_PICKUP, f"Courrier de M. {PAPER_SURNAME}")
    job = _print_forms([paper_id], chef.id)
    _upload_scans(client, [page for pages in _scans_of(job, seed=11).values() for page in pages])
    letters = print_batch.request_print(print_batch.LETTERS, "cantine", {"since": "2026-09-14"}, chef.id)
    assert letters.status == print_batch.DONE, letters.error
    assert PAPER_SURNAME in pdf_text(print_batch.job_file(letters).read_bytes())
    sealed = stored_everywhere(database_text(), PAPER_STRINGS)
    family_files = {f.path for f in files.of_household(paper_id)}
    assert {f.kind for f in files.of_household(paper_id)} == {files.SCAN_IMAGE, files.SCAN_UPLOAD, files.PRINT}
    family_digests = {hashlib.sha256(files.absolute(name).read_bytes()).hexdigest() for name in family_files}
    _all_recorded(monkeypatch)

    # After 90 days the scanner's stack and the pages never confirmed go (SCAN_RETENTION_DAYS), and
    # the print runs' PDFs after 30 (PRINT_RETENTION_DAYS); the family and its registration stay.
    frozen_clock(dt.datetime(2026, 12, 31, 8, 0, tzinfo=UTC))
    report = purge()
    stacks = {f for f in family_files if f.startswith("scans/uploads/")}
    assert report.expired_files_deleted == 2 + len(stacks) and report.scan_pages_deleted == 2
    db.session.expire_all()
    assert print_batch.job_file(db.session.get(PrintJob, job.id)) is None
    assert db.session.scalar(select(ScanPage)) is None and db.session.get(Household, paper_id) is not None
    # The canteen's period ends on 30 June 2027: its registrations are kept 24 months, and so is
    # a family without an account (PAPER_HOUSEHOLD_RETENTION_MONTHS) after its last registration.
    frozen_clock(dt.datetime(2029, 6, 15, 8, 0, tzinfo=UTC))
    report = purge()
    assert report.paper_households_deleted == 0 and db.session.get(Household, paper_id) is not None
    frozen_clock(dt.datetime(2029, 7, 15, 8, 0, tzinfo=UTC))
    dry = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "[dry run] would have paper households deleted: 1" in dry.output
    db.session.expire_all()
    assert db.session.get(Household, paper_id) is not None
    assert stored_everywhere(database_text(), PAPER_STRINGS) == sealed

    report = purge()
    assert report.paper_households_deleted == 1 and report.registrations_anonymised == 1
    db.session.expire_all()
    assert db.session.get(Household, paper_id) is None
    assert leftovers(database_text(), PAPER_STRINGS) == []
    assert sealed & set(SEALED.findall(database_text())) == set()
    after = Folder.read(tmp_path)
    assert leftovers(after.text(), PAPER_STRINGS) == []
    assert after.digests() & family_digests == set()
    assert db.session.scalar(select(ScanPage)) is None and db.session.scalar(select(ScanBatch)) is None
    _all_recorded(monkeypatch)
    assert db.session.scalar(select(Account).filter_by(email="chef@mairie.test")) is not None
    assert db.session.scalar(select(Upload)) is None
