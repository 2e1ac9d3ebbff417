"""Scan stacks read by a background job: progress, failures, resuming; blank forms of unknown families."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_intake_flow import batch_of, upload

from inscriptions.extensions import db
from inscriptions.intake import store
from inscriptions.models import Account, AuditEvent, FormVersion, Household, Registration, ScanBatch, ScanPage
from inscriptions.paper.reader import UploadError
from inscriptions.paper.reader import simulate as sim
from inscriptions.privacy.sealing import FILE_MAGIC, unseal_bytes


def test_upload_is_stored_then_read_page_by_page_by_the_job(
    client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]], app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages = scanned_form()
    progress: list[int] = []
    original = store._store_page

    def spy(batch_id: int, image: Any, lookup: Any) -> None:
        original(batch_id, image, lookup)
        progress.append(db.session.get(ScanBatch, batch_id).pages_read)

    monkeypatch.setattr(store, "_store_page", spy)
    response = upload(client, pages)
    assert response.status_code == 302
    scan_batch = batch_of(response)
    db.session.refresh(scan_batch)
    assert (scan_batch.reading_status, scan_batch.pages_read, scan_batch.page_count) == ("read", 2, 2)
    assert progress == [1, 2]  # committed after each page
    # The uploaded files are kept as received (evidence, and for resuming a failed reading),
    # encrypted: a scanned form may hold a health answer (inscriptions.privacy.sealing).
    assert [f["pages"] for f in scan_batch.files] == [1, 1]
    for info, page in zip(scan_batch.files, pages, strict=True):
        stored = (store.upload_dir() / info["sha256"]).read_bytes()
        assert stored.startswith(FILE_MAGIC) and page.data not in stored
        assert unseal_bytes(stored) == page.data
        assert "static" not in (store.upload_dir() / info["sha256"]).parts
    assert [p.index for p in scan_batch.pages] == [0, 1]
    assert {p.status for p in scan_batch.pages} <= {"ok", "review"}
    listing = client.get(f"/guichet/numerisation/lots/{scan_batch.id}")
    html = listing.get_data(as_text=True)
    assert "Refresh" not in listing.headers and listing.mimetype == "text/html"
    assert 'data-status="read"' in html and 'data-read="2"' in html
    assert f"/guichet/numerisation/documents/{pages[0].token}" in html
    assert client.get(f"/guichet/numerisation/documents/{pages[0].token}").status_code == 200


def test_a_queued_batch_page_refreshes_until_the_worker_has_read_it(
    client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(store, "enqueue", lambda path, *args: queued.append((path, args)))
    scan_batch = batch_of(upload(client, scanned_form()))
    assert queued == [(store.READ_JOB, (scan_batch.id,))]
    assert (scan_batch.reading_status, scan_batch.pages_read, len(scan_batch.pages)) == ("queued", 0, 0)
    page = client.get(f"/guichet/numerisation/lots/{scan_batch.id}")
    assert page.headers["Refresh"] == "3" and page.mimetype == "text/html"
    assert 'id="batch-refresh"' in page.get_data(as_text=True)
    store.read_batch_job(scan_batch.id)  # what the worker runs
    db.session.expire_all()
    scan_batch = db.session.get(ScanBatch, scan_batch.id)
    assert (scan_batch.reading_status, scan_batch.pages_read) == ("read", 2)
    store.read_batch_job(scan_batch.id)  # delivered twice: nothing read twice
    assert db.session.scalar(select(db.func.count(ScanPage.id))) == 2


def test_a_page_the_reader_fails_on_goes_to_the_manual_queue(
    client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = store.read_page

    def flaky(image: Any, **kwargs: Any) -> Any:
        if image.index == 1:
            raise RuntimeError("reader crashed")
        return real(image, **kwargs)

    monkeypatch.setattr(store, "read_page", flaky)
    scan_batch = batch_of(upload(client, scanned_form()))
    db.session.refresh(scan_batch)
    assert scan_batch.reading_status == "read"
    first, second = scan_batch.pages
    assert first.status in ("ok", "review")
    assert (second.status, second.reason) == ("manual", "read_error") and second.message
    assert client.get(f"/guichet/numerisation/pages/{second.id}/image").data.startswith(b"\x89PNG")
    assert f"/pages/{second.id}/image" in client.get("/guichet/numerisation/manuel").get_data(as_text=True)


def test_a_file_breaking_half_way_keeps_everything_and_the_reading_resumes(
    client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import Image

    pages = scanned_form()
    # One TIFF file holding both pages: the decoder breaks after the first.
    frames = [Image.open(io.BytesIO(p.data)).convert("L") for p in pages]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    real = store.iter_upload

    def breaking(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for image in real(*args, **kwargs):
            if image.index == 1:
                raise UploadError("corrupt", "damaged")
            yield image

    monkeypatch.setattr(store, "iter_upload", breaking)
    scan_batch = batch_of(upload(client, [(out.getvalue(), "stack.tif")]))
    db.session.refresh(scan_batch)
    assert (scan_batch.reading_status, scan_batch.pages_read, scan_batch.page_count) == ("failed", 1, 2)
    assert scan_batch.error and len(scan_batch.pages) == 1
    assert (store.upload_dir() / scan_batch.files[0]["sha256"]).exists()
    html = client.get(f"/guichet/numerisation/lots/{scan_batch.id}").get_data(as_text=True)
    assert 'id="batch-failed"' in html and f"/lots/{scan_batch.id}/relire" in html
    # The decoder is fixed (or the failure was transient): the agent resumes; page 0 is not read twice.
    monkeypatch.setattr(store, "iter_upload", real)
    assert client.post(f"/guichet/numerisation/lots/{scan_batch.id}/relire").status_code == 302
    db.session.expire_all()
    scan_batch = db.session.get(ScanBatch, scan_batch.id)
    assert (scan_batch.reading_status, scan_batch.pages_read) == ("read", 2)
    assert [p.index for p in scan_batch.pages] == [0, 1]
    assert {p.status for p in scan_batch.pages} <= {"ok", "review"}
    assert client.post(f"/guichet/numerisation/lots/{scan_batch.id}/relire").status_code == 409


def test_page_cap_and_unreadable_files_are_refused_in_the_request(
    client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert store.MAX_PAGES == 500
    monkeypatch.setattr(store, "MAX_PAGES", 1)
    assert upload(client, scanned_form()).status_code == 422
    assert upload(client, [(b"%PDF-1.4 broken", "x.pdf")]).status_code == 422
    assert db.session.scalar(select(db.func.count(ScanBatch.id))) == 0
    assert not list(store.upload_dir().iterdir())


def test_upload_limit_is_the_scan_limit_not_the_app_limit(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, MAX_CONTENT_LENGTH=1000, SCAN_UPLOAD_MB=1)
    with app.app_context():
        from inscriptions.permissions import grant_role

        account, _c, _g = grant_role("agent-size@mairie.test", "agent", "cantine")
        db.session.commit()
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
            session["_fresh"] = True
        # 5 KB: over the app's limit, under the scan upload's: refused as a bad scan (422), not 413.
        assert upload(client, [(b"x" * 5000, "x.png")]).status_code == 422
        assert upload(client, [(b"x" * 2_000_000, "x.png")]).status_code == 413


def test_blank_form_of_an_unknown_family_creates_the_household_then_the_registration(
    client: FlaskClient, agent: Account, canteen_version: FormVersion, app: Flask,
) -> None:
    rng = np.random.default_rng(11)
    marked = {"days": ["tue", "fri"], "diet": "standard", "allergy": False, "rules": True}
    pages, _answers = sim.filled_documents(canteen_version, 1, rng, answers=[marked],
                                           settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                           styles={"cross": 1.0}, smudges=0.0)
    token = pages[0].token
    scan_batch = batch_of(upload(client, pages))
    url = f"/guichet/numerisation/documents/{token}"
    pick = client.get(url, query_string={"q": "Inconnu"}).get_data(as_text=True)
    assert f"{url}/foyer" in pick
    form = client.get(f"{url}/foyer")
    assert form.status_code == 200 and 'id="scan-household"' in form.get_data(as_text=True)
    # Errors keep what was typed and create nothing.
    bad = client.post(f"{url}/foyer", data={"g1-last_name": "Nouvel", "c0-first_name": "Lina"})
    assert bad.status_code == 422 and 'value="Nouvel"' in bad.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(Household.id))) == 0

    created = client.post(f"{url}/foyer", data={
        "g1-last_name": "Nouvel", "g1-first_name": "Sarah", "g1-phone": "06 11 22 33 44",
        "address_line1": "4 rue des Lilas", "postcode": "99990", "city": "Villebelle",
        "c0-first_name": "Lina", "c0-birth_date": "02052018", "c0-school": "École Jules-Ferry",
        "c0-class_name": "CE1",
    })
    assert created.status_code == 302, re.findall(r'field-error"[^>]*>\s*<span[^>]*>[^<]*</span>([^<]*)',
                                                  created.get_data(as_text=True))
    home = db.session.scalar(select(Household))
    assert home is not None and home.guardians[0].last_name == "Nouvel" and home.guardians[0].email is None
    child = home.children[0]
    assert (child.first_name, child.last_name, str(child.birth_date)) == ("Lina", "Nouvel", "2018-05-02")
    assert created.headers["Location"].endswith(f"{url}?household={home.id}&child={child.id}")
    event = db.session.scalar(select(AuditEvent).filter_by(action="create_household", household_id=home.id))
    assert event is not None and event.detail["token"] == token and event.actor_account_id == agent.id
    # The household is known now: its form opens prefilled with the ticked boxes, then is confirmed.
    entry = client.get(created.headers["Location"])
    assert entry.status_code == 200
    html = entry.get_data(as_text=True)
    tag = re.search(rf'<input[^>]*name="c{child.id}-days"[^>]*value="fri"[^>]*>', html)
    assert tag and "checked" in tag.group(0)
    done = client.post(f"{url}?household={home.id}&child={child.id}", data={
        f"c{child.id}-days": ["tue", "fri"], f"c{child.id}-diet": "standard", f"c{child.id}-allergy": "no",
        "pickup-0-name": "Sarah Nouvel", "pickup-0-phone": "06 11 22 33 44", "rules": "y",
    })
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    reg = db.session.scalar(select(Registration).filter_by(household_id=home.id))
    assert reg is not None and reg.channel == "paper" and reg.child_id == child.id and reg.keyed_by_id == agent.id
    db.session.expire_all()
    stored = db.session.scalars(select(ScanPage).filter_by(token=token)).all()
    assert {p.status for p in stored} == {"registered"} and all(p.registration_batch == reg.batch for p in stored)
    evidence = client.get(f"/guichet/numerisation/registrations/{reg.reference}", follow_redirects=True)
    assert evidence.status_code == 200 and stored[0].image_sha256 in evidence.get_data(as_text=True)
    # A prefilled form never offers it; another service's agent may not use it.
    assert scan_batch.id


def test_only_agents_of_the_forms_service_create_households_from_it(
    client: FlaskClient, staff: Callable[..., Account], login_as: Callable[[Account], Account],
    canteen_version: FormVersion, scanned_form: Callable[..., list[sim.SimPage]], family: Household,
) -> None:
    login_as(staff("agent", "cantine"))
    rng = np.random.default_rng(12)
    blank, _a = sim.filled_documents(canteen_version, 1, rng, answers=[{"days": ["mon"]}],
                                     settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                     styles={"cross": 1.0}, smudges=0.0)
    batch_of(upload(client, blank))
    prefilled = scanned_form(seed=4)
    batch_of(upload(client, prefilled))
    assert client.get(f"/guichet/numerisation/documents/{blank[0].token}/foyer").status_code == 200
    # A form printed for a known family goes straight to its check.
    response = client.get(f"/guichet/numerisation/documents/{prefilled[0].token}/foyer")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/documents/{prefilled[0].token}")
    assert client.get("/guichet/numerisation/documents/ZZZZZZZZZZ/foyer").status_code == 404
    login_as(staff("agent", "piscine"))
    assert client.get(f"/guichet/numerisation/documents/{blank[0].token}/foyer").status_code == 403
    assert client.post(f"/guichet/numerisation/documents/{blank[0].token}/foyer", data={}).status_code == 403
    login_as(staff("dpo"))
    assert client.get(f"/guichet/numerisation/documents/{blank[0].token}/foyer").status_code == 403
    assert Path(store.upload_dir()).is_dir()


def test_with_rq_the_upload_returns_at_once_and_a_worker_reads(
    rq_app: Flask, client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]],
) -> None:
    from inscriptions.jobs import job_queue, make_worker

    pages = scanned_form()
    scan_batch = batch_of(upload(client, pages))
    assert (scan_batch.reading_status, scan_batch.pages_read, scan_batch.page_count) == ("queued", 0, 2)
    [queued] = job_queue(rq_app).get_jobs()
    assert queued.args == [store.READ_JOB, [scan_batch.id]]
    assert client.get(f"/guichet/numerisation/lots/{scan_batch.id}").headers["Refresh"] == "3"
    assert make_worker(rq_app).work(burst=True, logging_level="WARNING") is True
    db.session.rollback()  # end the test's read transaction: see the worker's commits
    scan_batch = db.session.get(ScanBatch, scan_batch.id)
    assert (scan_batch.reading_status, scan_batch.pages_read) == ("read", 2)
    assert {p.token for p in scan_batch.pages} == {pages[0].token}
    assert "Refresh" not in client.get(f"/guichet/numerisation/lots/{scan_batch.id}").headers
