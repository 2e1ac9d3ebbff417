"""Mass printing from the back office: job rows, progress, the stored PDF, who may download it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from paper_helpers import born, page_count, page_texts
from sqlalchemy import select

from inscriptions.audit import events_of_household
from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent, Household, PrintJob, PrintToken, Registration
from inscriptions.paper import batch
from inscriptions.paper.layout import layout_for
from inscriptions.permissions import grant_role
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations
from inscriptions.registrations.status import change_status

URL = "/gestion/cantine/impression"
CANTEEN = {"days": ["mon", "tue"], "diet": "standard", "allergy": "non", "rules": "on"}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app(WTF_CSRF_ENABLED=False)
    with application.app_context():
        yield application


@pytest.fixture
def as_staff(client: FlaskClient) -> Callable[..., Account]:
    """``as_staff("manager", "cantine")``: log the client in as an account holding that grant."""

    def do(role: str, service: str | None = None) -> Account:
        account, _c, _g = grant_role(f"{role}-{service or 'all'}@mairie.test", role, service)
        db.session.commit()
        g.pop("_login_user", None)
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
            session["_fresh"] = True
        return account

    return do


def book(household: Household, registered_at: dt.datetime | None = None) -> list[Registration]:
    outcome = create_registrations(RegistrationInput(
        service_code="cantine", household_id=household.id, channel="paper",
        participants=[ParticipantInput(child_id=child.id, answers=CANTEEN) for child in household.children],
    ))
    regs = [db.session.get(Registration, rid) for rid in outcome.registration_ids]
    if registered_at is not None:
        for reg in regs:
            reg.created_at = registered_at
    db.session.commit()
    return regs


def canteen_pages() -> int:
    return layout_for(current_version(registry().get("cantine"))).page_count


def job_of(response: Any) -> PrintJob:
    match = re.search(r"/impression/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    db.session.expire_all()
    return db.session.get(PrintJob, int(match.group(1)))


def test_forms_for_last_years_households_are_printed_by_a_job(
    client: FlaskClient, as_staff: Callable[..., Account], make_household: Callable[..., Household],
    app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    last_year = make_household(last_name="Ancien", children=[("Léo", born(6)), ("Inès", born(9))])
    this_year = make_household(last_name="Nouveau", children=[("Zoé", born(7))])
    make_household(last_name="Jamais", children=[("Paul", born(7))])
    book(last_year, dt.datetime(2026, 3, 2, 9, 0))  # school year 2025-2026
    book(this_year)  # 2026-09-15: the current school year
    assert batch.households_registered_last_year("cantine") == [last_year.id]

    # Progress is written as the job draws (every document here).
    monkeypatch.setattr(batch, "PROGRESS_EVERY", 0.0)
    seen: list[tuple[int, int]] = []
    original = batch._Progress.__call__

    def spy(self: Any, done: int, total: int) -> None:
        original(self, done, total)
        row = db.session.get(PrintJob, self.job.id)
        seen.append((row.done, row.total))

    monkeypatch.setattr(batch._Progress, "__call__", spy)
    manager = as_staff("manager", "cantine")
    assert client.get(URL).status_code == 200
    response = client.post(URL, data={"kind": "forms", "forms-selection": "previous_year", "forms-blank": "1",
                                      "forms-with_answers": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]
    job = job_of(response)
    assert (job.kind, job.service_code, job.status, job.requested_by_id) == ("forms", "cantine", "done", manager.id)
    # Asked: last year's households; printed (kept for the audit log of the download): that one.
    assert job.params == {"selection": "previous_year", "household_ids": [], "blank": 1, "with_answers": True,
                          "printed_households": [last_year.id]}
    # The job read the household's data for the manager: logged as the job, naming the household.
    [printed] = [e for e in events_of_household(last_year.id) if e.action == "export"]
    assert (printed.actor_account_id, printed.role, printed.channel) == (manager.id, "manager:cantine", "job")
    assert printed.detail["print_job"] == job.id
    assert job.started_at and job.finished_at and job.error == ""
    assert (job.documents, job.done, job.total) == (3, 3, 3)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert job.pages == 3 * canteen_pages()

    # The PDF lives outside static, under UPLOAD_DIR/print, named by the row.
    path = Path(app.config["UPLOAD_DIR"]) / "print" / job.file_name
    assert path.is_file() and "static" not in path.parts
    page = client.get(f"{URL}/{job.id}")
    assert page.status_code == 200 and page.mimetype == "text/html" and "Refresh" not in page.headers
    assert f'href="{URL}/{job.id}/document.pdf"' in page.get_data(as_text=True)
    pdf = client.get(f"{URL}/{job.id}/document.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"] and "no-store" in pdf.headers["Cache-Control"]
    downloaded = Path(app.config["UPLOAD_DIR"]) / "downloaded.pdf"
    downloaded.write_bytes(pdf.data)
    assert page_count(downloaded) == 3 * canteen_pages()
    texts = page_texts(downloaded)
    # One document per eligible child of last year's household, then the blank form.
    firsts = [texts[i * canteen_pages()] for i in range(3)]
    assert {"Léo" in firsts[0], "Léo" in firsts[1]} == {True, False}
    assert "Inès" in firsts[0] + firsts[1] and "Ancien" in firsts[0] and "Ancien" not in firsts[2]
    assert "Zoé" not in "\n".join(texts) and "Jamais" not in "\n".join(texts)
    tokens = list(db.session.scalars(select(PrintToken).order_by(PrintToken.id)))
    expected = [(last_year.id, manager.id)] * 2 + [(None, manager.id)]
    assert [(t.household_id, t.printed_by_id) for t in tokens] == expected
    # The job's reading (inline: it ran inside the asking request), asking and downloading are in
    # the audit log; the job's and the download's name the household printed.
    events = db.session.scalars(select(AuditEvent).filter_by(action="export")).all()
    assert [e.detail.get("print_job") for e in events] == [job.id, job.id, job.id]
    assert [e.channel for e in events] == ["job", "web", "web"]
    assert [e.household_id for e in events] == [last_year.id, None, last_year.id]
    assert events[2].detail.get("download") is True


def test_chosen_households_and_the_recent_jobs_list(
    client: FlaskClient, as_staff: Callable[..., Account], make_household: Callable[..., Household],
) -> None:
    first = make_household(last_name="Durand", children=[("Léa", born(7))])
    second = make_household(last_name="Moreau", children=[("Jules", born(8))])
    make_household(last_name="Autre", children=[("Nina", born(8))])
    as_staff("admin")
    response = client.post(URL, data={"kind": "forms", "forms-selection": "ids",
                                      "forms-household_ids": f"{second.id}, {first.id}"})
    job = job_of(response)
    assert job.status == "done" and job.documents == 2
    assert job.params["household_ids"] == sorted([first.id, second.id])
    listing = client.get(URL).get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in listing and 'data-status="done"' in listing
    # Every household.
    job = job_of(client.post(URL, data={"kind": "forms", "forms-selection": "all"}))
    assert job.documents == 3


def test_form_errors_keep_nothing(client: FlaskClient, as_staff: Callable[..., Account]) -> None:
    as_staff("manager", "cantine")
    for data in ({"kind": "forms", "forms-selection": "ids", "forms-household_ids": ""},
                 {"kind": "forms", "forms-selection": "ids", "forms-household_ids": "a, b"},
                 {"kind": "forms", "forms-selection": "none", "forms-blank": "0"},
                 {"kind": "forms", "forms-selection": "all", "forms-blank": "999999"},
                 {"kind": "letters", "letters-since": "31/02/2026"},
                 {"kind": "letters", "letters-since": "01/01/2030"}):
        response = client.post(URL, data=data)
        assert response.status_code == 422, data
        assert 'class="error-summary"' in response.get_data(as_text=True)
    assert client.post(URL, data={"kind": "nope"}).status_code == 400
    assert db.session.scalar(select(db.func.count(PrintJob.id))) == 0


def test_failures_are_recorded_and_nothing_is_offered(
    client: FlaskClient, as_staff: Callable[..., Account], make_household: Callable[..., Household],
    monkeypatch: pytest.MonkeyPatch, app: Flask,
) -> None:
    as_staff("manager", "cantine")
    # Nothing matches: no household registered last year.
    job = job_of(client.post(URL, data={"kind": "forms", "forms-selection": "previous_year"}))
    assert (job.status, job.error, job.file_name) == ("failed", batch.EMPTY, None)
    make_household(last_name="Durand", children=[("Léa", born(7))])

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr("inscriptions.paper.render.render_batch", broken)
    job = job_of(client.post(URL, data={"kind": "forms", "forms-selection": "all"}))
    assert job.status == "failed" and job.error == "RuntimeError: disk full" and job.finished_at
    assert job.file_name is None
    assert not list((Path(app.config["UPLOAD_DIR"]) / "print").iterdir())  # no half-written file left
    page = client.get(f"{URL}/{job.id}")
    assert page.status_code == 200 and 'role="alert"' in page.get_data(as_text=True)
    assert "document.pdf" not in page.get_data(as_text=True)
    assert client.get(f"{URL}/{job.id}/document.pdf").status_code == 404


def test_a_running_job_page_refreshes_itself(client: FlaskClient, as_staff: Callable[..., Account]) -> None:
    manager = as_staff("manager", "cantine")
    job = PrintJob(kind="forms", service_code="cantine", params={"selection": "all"}, requested_by_id=manager.id,
                   status="running", done=40, total=100, documents=0, pages=0, error="")
    db.session.add(job)
    db.session.commit()
    page = client.get(f"{URL}/{job.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Refresh"] == "3" and page.mimetype == "text/html"
    assert 'id="print-refresh"' in html and 'data-done="40"' in html and 'data-total="100"' in html
    assert '<meta http-equiv' not in html and "document.pdf" not in html
    assert client.get(f"{URL}/{job.id}/document.pdf").status_code == 404
    # A job already running (another worker) is left alone; a queued one is run by the worker.
    db.session.get(PrintJob, job.id).started_at = dt.datetime(2026, 9, 15, 7, 59)
    db.session.commit()
    batch.run_print_job(job.id)
    db.session.expire_all()
    assert db.session.get(PrintJob, job.id).status == "running"
    # Its worker died long ago (older than the job time-out): delivered again, it runs.
    db.session.get(PrintJob, job.id).started_at = dt.datetime(2026, 9, 15, 6, 0)
    db.session.commit()
    batch.run_print_job(job.id)
    db.session.expire_all()
    assert db.session.get(PrintJob, job.id).status == "failed"  # nothing to print, recorded
    db.session.get(PrintJob, job.id).status = "queued"
    db.session.commit()
    batch.run_print_job(job.id)  # no household at all: recorded, never raised
    db.session.expire_all()
    assert (db.session.get(PrintJob, job.id).status, db.session.get(PrintJob, job.id).error) == ("failed", batch.EMPTY)


def test_letters_job(
    client: FlaskClient, as_staff: Callable[..., Account], make_household: Callable[..., Household],
) -> None:
    paper = make_household(last_name="Leroux", email=None, with_account=False, children=[("Jade", born(7))])
    online = make_household(last_name="Connecté", children=[("Noé", born(7))])
    (reg,) = book(paper)
    book(online)
    change_status(reg, "accepted", by=None, reason="") if reg.status != "accepted" else None
    db.session.commit()
    as_staff("manager", "cantine")
    job = job_of(client.post(URL, data={"kind": "letters", "letters-since": "14/09/2026"}))
    assert (job.kind, job.status, job.documents, job.params) == (
        "letters", "done", 1, {"since": "2026-09-14", "printed_households": [paper.id]})
    pdf = client.get(f"{URL}/{job.id}/document.pdf")
    assert pdf.status_code == 200
    # The job's reading and the download are both in the paper family's history (not the other's).
    assert [(e.channel, e.detail.get("download", False)) for e in events_of_household(paper.id)
            if e.action == "export"] == [("job", False), ("web", True)]
    assert not [e for e in events_of_household(online.id) if e.action == "export"]
    assert b"%PDF" in pdf.data[:10]
    # The piscine has no letter owed: nothing to print.
    as_staff("admin")
    other = job_of(client.post("/gestion/piscine/impression",
                               data={"kind": "letters", "letters-since": "14/09/2026"}))
    assert (other.status, other.error) == ("failed", batch.EMPTY)


def test_only_managers_of_the_service_and_admins(
    client: FlaskClient, as_staff: Callable[..., Account], make_household: Callable[..., Household],
    login: Callable[[Household], Account],
) -> None:
    make_household(last_name="Durand", children=[("Léa", born(7))])
    as_staff("manager", "cantine")
    job = job_of(client.post(URL, data={"kind": "forms", "forms-selection": "all"}))
    urls = [URL, f"{URL}/{job.id}", f"{URL}/{job.id}/document.pdf"]

    def codes() -> list[int]:
        return [client.get(url).status_code for url in urls]

    assert codes() == [200, 200, 200]
    as_staff("admin")
    assert codes() == [200, 200, 200]
    for role, service in (("agent", "cantine"), ("manager", "piscine"), ("agent", "piscine"), ("dpo", None)):
        as_staff(role, service)
        assert codes() == [403, 403, 403], (role, service)
        assert client.post(URL, data={"kind": "forms", "forms-selection": "all"}).status_code == 403
    # The job belongs to the canteen: not reachable through another service's URL.
    as_staff("manager", "piscine")
    assert client.get(f"/gestion/piscine/impression/{job.id}/document.pdf").status_code == 404
    assert client.get("/gestion/nope/impression").status_code == 404
    login(make_household(last_name="Parent"))
    assert codes() == [403, 403, 403]
    with client.session_transaction() as session:
        session.clear()
    g.pop("_login_user", None)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/gestion/" not in response.headers["Location"].split("?")[0], url


def test_mass_printing_entry_point(client: FlaskClient, as_staff: Callable[..., Account]) -> None:
    as_staff("manager", "cantine")
    response = client.get("/gestion/impression")
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    as_staff("admin")
    listing = client.get("/gestion/impression").get_data(as_text=True)
    assert f'href="{URL}"' in listing and 'href="/gestion/piscine/impression"' in listing
    # The back office's navigation links to it for those who may print.
    assert 'href="/gestion/impression"' in client.get(URL).get_data(as_text=True)
    as_staff("agent", "cantine")
    assert client.get("/gestion/impression").status_code == 403


def test_with_rq_the_request_only_queues_and_a_worker_prints(
    rq_app: Flask, client: FlaskClient, as_staff: Callable[..., Account], make_household: Callable[..., Household],
) -> None:
    from inscriptions.jobs import job_queue, make_worker

    make_household(last_name="Durand", children=[("Léa", born(7))])
    as_staff("manager", "cantine")
    job = job_of(client.post(URL, data={"kind": "forms", "forms-selection": "all"}))
    assert (job.status, job.done, job.total) == ("queued", 0, None)
    [queued] = job_queue(rq_app).get_jobs()
    assert queued.args == [batch.JOB_PATH, [job.id]]  # only the id goes to Redis
    page = client.get(f"{URL}/{job.id}")
    assert page.headers["Refresh"] == "3" and "document.pdf" not in page.get_data(as_text=True)
    assert make_worker(rq_app).work(burst=True, logging_level="WARNING") is True
    db.session.rollback()  # end the test's read transaction: see the worker's commits
    job = db.session.get(PrintJob, job.id)
    assert (job.status, job.documents, job.done, job.total) == ("done", 1, 1, 1)
    page = client.get(f"{URL}/{job.id}")
    assert "Refresh" not in page.headers and "document.pdf" in page.get_data(as_text=True)
    assert client.get(f"{URL}/{job.id}/document.pdf").status_code == 200
