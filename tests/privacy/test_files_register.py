"""The register of files (inscriptions.files) and the retentions issue 17 added to the purge.

Drafts go ``DRAFT_RETENTION_DAYS`` after their last change (with a file only they named), and with
their registrations when those are anonymised; households without an account go
``PAPER_HOUSEHOLD_RETENTION_MONTHS`` after their last registration's end, anonymised ones
included; a stored file no row knows is reported (``inscriptions privacy files``), and an upload
that fails leaves none; the migration records the files existing rows name. The full walk through
every channel is tests/privacy/test_erasure_everywhere.py.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from privacy_helpers import ANSWERS, upload_for
from sqlalchemy import select, text

from inscriptions import files
from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.intake import store
from inscriptions.models import (
    Draft,
    Household,
    HouseholdActivity,
    Registration,
    ScanBatch,
    StoredFile,
    StoredFileHousehold,
    Upload,
)
from inscriptions.privacy.anonymise import erasure_preview
from inscriptions.privacy.purge import purge
from inscriptions.settings import PROJECT_ROOT

UTC = dt.UTC
PG = bool(os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"))
MIGRATIONS = str(PROJECT_ROOT / "migrations")
REVISION = "f7d4b0e2a6c8"
# The "old" session of the test service ended 2026-10-02; its registrations are kept 12 months.
AFTER_OLD = dt.datetime(2027, 10, 3, 12, 0, tzinfo=UTC)


def _draft(home: Household, state: dict, *, batch: str | None = None) -> str:
    from privacy_helpers import account_of

    token = secrets.token_hex(16)
    version = current_version(registry().get("atelier"))
    db.session.add(Draft(token=token, account_id=account_of(home).id, service_code="atelier",
                         form_version_id=version.id, state=state, submitted_batch=batch))
    db.session.commit()
    return token


def _drafts() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(Draft.token)))


def test_drafts_are_deleted_after_their_retention_with_the_files_only_they_name(
        app, make_household, book, frozen_clock) -> None:
    home = make_household()
    alone = upload_for(home)  # sent on a form never sent
    shared = upload_for(home)  # sent on the form, then on a registration
    book(home, session="later", answers={**ANSWERS, "certificate": shared})
    unsent = _draft(home, {"each": {"1": {"allergies": "NOISETTE-BROUILLON", "certificate": alone}},
                           "shared": {"certificate": shared}})
    folder = Path(app.config["UPLOAD_DIR"]) / str(home.id)

    # 89 days later the draft is kept; after 90 (DRAFT_RETENTION_DAYS) it goes, with the file only it named.
    frozen_clock(dt.datetime(2026, 12, 13, 8, 0, tzinfo=UTC))
    assert purge().drafts_deleted == 0 and unsent in _drafts()
    frozen_clock(dt.datetime(2026, 12, 15, 8, 0, tzinfo=UTC))
    dry = purge(dry_run=True)
    assert (dry.drafts_deleted, dry.uploads_deleted) == (1, 1)
    assert unsent in _drafts() and (folder / alone).is_file()
    report = purge()
    assert (report.drafts_deleted, report.uploads_deleted) == (1, 1)
    assert unsent not in _drafts()
    assert not (folder / alone).exists() and (folder / shared).is_file()
    assert set(db.session.scalars(select(Upload.token))) == {shared}
    assert db.session.scalar(select(StoredFile).where(StoredFile.path == f"{home.id}/{alone}")) is None


def test_a_sent_form_goes_with_its_anonymised_registrations(app, make_household, book, frozen_clock) -> None:
    home = make_household()
    outcome = book(home, session="old")
    # The form the registrations were sent from keeps every answer (a replay finds it by its batch);
    # touched since, so that only the registrations' retention can take it.
    sent = _draft(home, {"each": {"1": dict(ANSWERS)}}, batch=outcome.batch)
    later = book(home, session="later", answers={"level": "b"})
    kept = _draft(home, {"each": {"1": {"level": "b"}}}, batch=later.batch)
    frozen_clock(AFTER_OLD)
    for draft in db.session.scalars(select(Draft)):
        draft.updated_at = dt.datetime(2027, 10, 1)
    db.session.commit()
    report = purge()
    assert report.registrations_anonymised == 1 and report.drafts_deleted == 1
    assert _drafts() == {kept} and sent not in _drafts()
    # The household remembers when its anonymised registrations ended (its own retention counts from it).
    activity = db.session.get(HouseholdActivity, home.id)
    assert activity is not None and activity.last_registration_end == dt.datetime(2026, 10, 2, 15, 0)


def test_paper_households_go_after_their_retention_and_others_stay(app, make_household, book, frozen_clock) -> None:
    paper = make_household(last_name="Papier", email=None, with_account=False)
    never = make_household(last_name="Jamais", email=None, with_account=False)  # created, never registered
    online = make_household(last_name="Enligne")
    later = make_household(last_name="Plustard", email=None, with_account=False)
    for home in (paper, online):
        book(home, session="old", channel="counter")
    book(later, session="later", channel="counter")
    paper_id, never_id, online_id, later_id = paper.id, never.id, online.id, later.id

    # The registrations are anonymised after 12 months; the paper household is kept 24 months
    # after its last registration's end (2 October 2026), the one never registered 24 months
    # after its creation (15 September 2026).
    frozen_clock(AFTER_OLD)
    assert purge().paper_households_deleted == 0
    frozen_clock(dt.datetime(2028, 9, 20, 8, 0, tzinfo=UTC))
    report = purge()
    assert report.paper_households_deleted == 1
    db.session.expire_all()
    assert db.session.get(Household, never_id) is None and db.session.get(Household, paper_id) is not None
    frozen_clock(dt.datetime(2028, 10, 3, 8, 0, tzinfo=UTC))
    assert purge(dry_run=True).paper_households_deleted == 1
    db.session.expire_all()
    assert db.session.get(Household, paper_id) is not None
    assert purge().paper_households_deleted == 1
    db.session.expire_all()
    assert db.session.get(Household, paper_id) is None
    # A family with an account follows the accounts' rule; a later registration keeps its family.
    assert db.session.get(Household, online_id) is not None and db.session.get(Household, later_id) is not None
    from inscriptions.models import AuditEvent

    events = db.session.scalars(select(AuditEvent).filter_by(action="erase_household")).all()
    assert sorted(e.household_id for e in events) == sorted([never_id, paper_id])
    assert all(e.detail["by"] == "purge" and e.detail["retention_months"] == 24 for e in events)


def test_the_register_reports_files_nobody_recorded(app, make_household, runner, monkeypatch) -> None:
    home = make_household()
    token = upload_for(home)
    root = Path(app.config["UPLOAD_DIR"])
    stray = root / "scans" / "uploads" / ("0" * 64)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"a stack whose batch row is gone")
    old = time.time() - 2 * files.IN_PROGRESS_S
    os.utime(stray, (old, old))
    (root / str(home.id) / token).unlink()  # deleted by hand: reported as missing

    result = runner.invoke(args=["privacy", "files"])
    assert result.exit_code == 1, result.output
    assert f"unrecorded: scans/uploads/{'0' * 64}" in result.output
    assert f"missing: {home.id}/{token}" in result.output
    # A file just written may belong to a transaction not committed yet: not reported.
    fresh = root / "print" / "9-fresh.pdf"
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"%PDF-")
    assert files.unrecorded() == [stray]

    result = runner.invoke(args=["privacy", "files", "--delete"])
    assert result.exit_code == 0 and not stray.exists()


def test_a_scan_upload_that_fails_leaves_no_file_behind(app, monkeypatch) -> None:
    from privacy_helpers import PNG

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store.files, "record_many", broken)
    with pytest.raises(RuntimeError):
        store.ingest([store.UploadedFile(PNG, "page.png")], None)
    assert list(store.upload_dir().iterdir()) == []
    assert db.session.scalar(select(ScanBatch)) is None


def test_the_erasure_page_counts_and_asks_the_request(app, client, make_household, book, staff, login_as) -> None:
    home = make_household(last_name="Effacable")
    upload_for(home)
    book(home, session="later")
    preview = erasure_preview(home.id)
    assert (preview.registrations, preview.to_cancel, preview.uploads, preview.accounts) == (1, 1, 1, 1)
    login_as(staff("manager", "atelier"))
    assert client.get(f"/dpo/effacement-foyer?household={home.id}").status_code == 403
    login_as(staff("dpo"))
    assert client.get("/dpo/effacement-foyer").status_code == 200
    assert client.get("/dpo/effacement-foyer?household=999999").status_code == 404
    shown = client.get(f"/dpo/effacement-foyer?household={home.id}").get_data(as_text=True)
    assert "Effacable" in shown and 'data-count="to_cancel"' in shown
    # No request, or no confirmation: nothing is erased.
    for data in ({"reason": "Demande écrite de la famille"}, {"confirm": "y", "reason": "court"}):
        response = client.post("/dpo/effacement-foyer", data={"household": home.id, **data})
        assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Household, home.id) is not None
    response = client.post("/dpo/effacement-foyer", data={"household": home.id, "confirm": "y",
                                                          "reason": "Demande écrite de la famille du 3 mars"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Household, home.id) is None
    # Its registration was cancelled first (the place freed), then anonymised.
    reg = db.session.scalar(select(Registration))
    assert reg.status == "cancelled" and reg.household_id is None and reg.answers == {}


def test_the_migration_records_the_files_rows_already_name(app, make_household, book) -> None:
    home = make_household()
    token = upload_for(home)
    home_id = home.id
    db.session.remove()
    downgrade(directory=MIGRATIONS, revision="e6c3a9d1f5b7")
    digest, stack = "a" * 64, "b" * 64
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO print_tokens (token, form_version_id, household_id, pages, created_at)"
                          " SELECT 'TOKEN00001', id, :home, 2, '2026-09-15' FROM form_versions LIMIT 1"),
                     {"home": home_id})
        conn.execute(text("INSERT INTO scan_batches (uploaded_at, filename, sha256, size, page_count, status,"
                          " reading_status, pages_read, files) VALUES ('2026-09-15', 'x.png', :stack, 1, 1,"
                          " 'open', 'read', 1, :files)"),
                     {"stack": stack, "files": f'[{{"name": "x.png", "sha256": "{stack}", "size": 1, "pages": 1}}]'})
        conn.execute(text('INSERT INTO scan_pages (batch_id, "index", image_sha256, reading, status,'
                          " reason, message, token, document_key) SELECT id, 0, :digest, :reading, 'ok', '', '',"
                          " 'TOKEN00001', 'TOKEN00001' FROM scan_batches"),
                     {"digest": digest, "reading": f'{{"crop_files": {{"days": "{"c" * 64}"}}}}'})
        conn.execute(text("INSERT INTO print_jobs (kind, service_code, params, requested_at, finished_at, status,"
                          " done, documents, pages, file_name, error) VALUES ('forms', 'atelier', :params,"
                          " '2026-09-15', '2026-09-15', 'done', 1, 1, 2, '1-abc.pdf', '')"),
                     {"params": f'{{"printed_households": [{home_id}, 999999]}}'})
    upgrade(directory=MIGRATIONS, revision=REVISION)
    db.session.remove()
    rows = {f.path: f for f in db.session.scalars(select(StoredFile))}
    owners = {}
    for link in db.session.scalars(select(StoredFileHousehold)):
        owners.setdefault(link.file_id, set()).add(link.household_id)
    expected = {f"{home_id}/{token}": "upload", f"scans/{digest}.png": "scan_image",
                f"scans/{'c' * 64}.png": "scan_image", f"scans/uploads/{stack}": "scan_upload",
                "print/1-abc.pdf": "print"}
    assert {path: row.kind for path, row in rows.items()} == expected
    # Each linked to the household its rows name (an id no longer there is left out).
    assert all(owners.get(row.id) == {home_id} for row in rows.values())
    assert rows["print/1-abc.pdf"].delete_after == dt.datetime(2026, 10, 15)
    assert rows[f"scans/uploads/{stack}"].delete_after == dt.datetime(2026, 12, 14)
    upgrade(directory=MIGRATIONS)
