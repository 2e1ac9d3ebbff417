"""Every staff page still works once the purge has gone through a town's history (issue 17, point 7).

A year and more of the demo town is built through the engine's own paths (the demo's families,
draws and allocation log, web, counter and paper registrations in every state, a file sent with a
form, a draft, printed forms and letters, a scanned form confirmed into a registration and pages
left unconfirmed), the clock moves past every retention period while the purge runs (a family and
a stack of scanned pages arrive after it), and then every GET rule of the staff side of the URL
map (back office, counter, scan intake, reports, printing, the DPO's pages, the API) is requested
by each staff role, its URL parameters filled from what is left in the database. No page may
answer 5xx. The rules come from ``app.url_map``: a new staff page is walked without anyone adding
it here (a new *parameter name* must be taught to :func:`_facts`).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import secrets
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from privacy_helpers import PNG
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.routing import Rule

from inscriptions import demo
from inscriptions.api.tokens import issue_token
from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import (
    Account,
    AllocationRun,
    Application,
    Child,
    Draft,
    Guardian,
    Household,
    PrintJob,
    PrintToken,
    Registration,
    ScanBatch,
    ScanPage,
    ServiceSession,
    Status,
    Upload,
)
from inscriptions.paper import batch as print_batch
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import simulate as sim
from inscriptions.permissions import grant_role
from inscriptions.portal.wizard import new_state
from inscriptions.privacy.purge import purge
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations
from inscriptions.registrations.status import transition
from inscriptions.uploads import store_upload

UTC = dt.UTC
# The staff side of the URL map: the pages only staff (and the API's staff tokens) are meant for.
STAFF_PREFIXES = ("/gestion", "/guichet", "/dpo", "/api/")
# List pages are also asked for the whole history (date filters widened, cancelled rows shown), so
# that they list the anonymised rows too, and searched for a family still there.
WHOLE_HISTORY = {"since": "2026-01-01", "from": "2026-01-01", "to": "2030-12-31", "show_cancelled": "1"}
# Retention: the leisure centre and the cinema keep 12 months, the canteen and the pool 24, after
# the session or the service's period; family accounts go 730 days after their last log-in, with a
# warning 30 days before; the journal keeps 12 months.
ACCOUNTS_WARNED = dt.datetime(2028, 9, 1, 8, 0, tzinfo=UTC)
ACCOUNTS_DELETED = dt.datetime(2028, 10, 5, 8, 0, tzinfo=UTC)
# A late decision on a paper family's registration, a few days before the last purge: its letter
# is still owed (the letters page lists the last 30 days) when the purge anonymises it.
LATE_DECISION = dt.datetime(2029, 7, 25, 8, 0, tzinfo=UTC)
EVERYTHING_EXPIRED = dt.datetime(2029, 8, 1, 8, 0, tzinfo=UTC)
CANTEEN_SCAN = {"days": ["mon", "thu"], "diet": "standard", "allergy": False, "rules": True}
POOL = {"level": "debutant", "specific_care": False, "rules": True}
CANTEEN = dict(demo.CANTEEN_ANSWERS)
MISSING_ID = 999_999
INTEGER_PARAMETERS = {"household_id", "batch_id", "page_id", "job_id", "run_id", "application_id", "child_id"}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The demo services (the privacy folder's own app has a single test service)."""
    application = make_app(WTF_CSRF_ENABLED=False, RATE_LIMITS_ENABLED=False)
    with application.app_context():
        yield application


def _client(app: Flask, account_id_for_login: str | None) -> FlaskClient:
    client = app.test_client()
    if account_id_for_login is not None:
        with client.session_transaction() as session:
            session["_user_id"] = account_id_for_login
            session["_fresh"] = True
    return client


def _book(household: Household, service: str, answers: dict[str, Any], *, children: list[str] | None = None,
          channel: str = "web", session: str | None = None, by: int | None = None, **extra: Any) -> list[int]:
    participants = [ParticipantInput(child_id=c.id, answers=dict(answers)) for c in household.children
                    if children is None or c.first_name in children]
    outcome = create_registrations(RegistrationInput(
        service_code=service, household_id=household.id, participants=participants, channel=channel,
        session_code=session, keyed_by_id=by, **extra))
    return list(outcome.registration_ids)


def _unidentified_pages(rng: np.random.Generator) -> list[tuple[io.BytesIO, str]]:
    """A blank page and a noise page: no code to read, they wait in the manual queue."""
    from PIL import Image

    files = []
    for n, pixels in enumerate((sim.blank_page(rng), sim.noise_page(rng))):
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="PNG")
        files.append((io.BytesIO(out.getvalue()), f"page{n}.png"))
    return files


def _upload_scans(app: Flask, agent_login: str, files: list[tuple[io.BytesIO, str]]) -> None:
    agent = _client(app, agent_login)
    g.pop("_login_user", None)
    sent = agent.post("/guichet/numerisation/", data={"scans": files}, content_type="multipart/form-data")
    assert sent.status_code == 302 and "/lots/" in sent.headers["Location"], sent.headers.get("Location")


def _scan(app: Flask, agent_login: str, household: Household) -> None:
    """A canteen form printed for ``household``'s child, filled, scanned, confirmed by an agent;
    and a blank page and a noise page left in the manual queue."""
    version = current_version(registry().get("cantine"))
    layout_for(version)
    db.session.commit()
    rng = np.random.default_rng(3)
    pages, _answers = sim.filled_documents(version, 1, rng, answers=[dict(CANTEEN_SCAN)],
                                           settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                           styles={"cross": 1.0}, smudges=0.0)
    token = db.session.scalar(select(PrintToken).filter_by(token=pages[0].token))
    child = household.children[0]
    token.household_id, token.child_id = household.id, child.id
    db.session.commit()
    _upload_scans(app, agent_login, [(io.BytesIO(p.data), p.filename) for p in pages] + _unidentified_pages(rng))
    agent = _client(app, agent_login)
    g.pop("_login_user", None)
    confirmed = agent.post(f"/guichet/numerisation/documents/{pages[0].token}", data={
        f"c{child.id}-days": CANTEEN_SCAN["days"], f"c{child.id}-diet": "standard", f"c{child.id}-allergy": "no",
        "pickup-0-name": "Jeanne Papier", "pickup-0-phone": "06 12 34 56 78", "rules": "y"})
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)[:1000]
    assert db.session.scalar(select(Registration).filter_by(household_id=household.id, channel="paper",
                                                            service_code="cantine")) is not None


def _build_history(app: Flask, frozen_clock: Callable[[dt.datetime], None]) -> dict[str, Any]:
    """The demo town, then every kind of data staff pages show; returns the staff accounts."""
    demo.load_demo()
    services = [s.code for s in registry().all()]
    staff: dict[str, Any] = {}
    for service in services:
        staff["agent"], _c, _g = grant_role("agent.all@mairie.test", "agent", service)
        staff["manager"], _c, _g = grant_role("manager.all@mairie.test", "manager", service)
    staff["admin"], _c, _g = grant_role("admin@mairie.test", "admin", None)
    staff["dpo"], _c, _g = grant_role("dpo@mairie.test", "dpo", None)
    db.session.commit()
    staff_ids = {role: account.id for role, account in staff.items()}
    agent_id = staff_ids["agent"]
    agent_login = staff["agent"].get_id()

    homes = {h.guardians[0].last_name: h for h in db.session.scalars(select(Household))}
    martin, durand = homes["Martin"], homes["Durand"]
    # A paper family whose forms are printed, scanned and keyed: it has no e-mail, so letters.
    paper = Household(address_line1="5 rue du Four", postcode="99990", city="Villebelle", quotient_familial=450)
    paper.guardians.append(Guardian(first_name="Jeanne", last_name="Papier", phone="01 23 45 67 89"))
    paper.children.append(Child(first_name="Jade", last_name="Papier", birth_date=dt.date(2018, 4, 2),
                                school="École du Centre", class_name="CE1"))
    db.session.add(paper)
    db.session.commit()

    # Registrations in every state: accepted and cancelled (canteen), submitted, waiting list and
    # rejected (the pool decides by hand), keyed at the counter with a mediation reason.
    _lea_canteen, hugo_canteen = _book(martin, "cantine", CANTEEN)
    transition(hugo_canteen, Status.CANCELLED, by_id=agent_id, reason="Déménagement")
    certificate = store_upload(martin.id, FileStorage(io.BytesIO(PNG), filename="certificat.png"))
    db.session.commit()
    pool = _book(martin, "piscine", {**POOL, "medical_certificate": certificate.token}, session="mer-14h")
    pool += _book(homes["Petit"], "piscine", POOL, session="mer-15h", channel="counter", by=agent_id,
                  mediation_reason="Famille reçue au guichet", received_on=dt.date(2026, 9, 15))
    states = iter((Status.WAITLISTED, Status.REJECTED, Status.ACCEPTED))
    for reg_id in pool:
        reg = db.session.get(Registration, reg_id)
        if reg.status == Status.SUBMITTED:
            transition(reg_id, next(states), by_id=agent_id, reason="Décision de la commission")
    paper_pool = _book(paper, "piscine", POOL, session="sam-11h", channel="paper", by=agent_id,
                       received_on=dt.date(2026, 9, 15))
    # A form started on the web and never sent.
    version = current_version(registry().get("cinema"))
    account = db.session.scalar(select(Account).filter_by(email="famille.durand@example.fr"))
    db.session.add(Draft(token=secrets.token_hex(16), account_id=account.id, service_code="cinema",
                         form_version_id=version.id, state=new_state([f"child:{durand.children[0].id}"], None)))
    db.session.commit()

    # Printing: the paper families' forms, and the letters owed since the day before.
    manager_id = staff_ids["manager"]
    print_batch.request_print(print_batch.FORMS, "cantine", {"selection": "ids", "household_ids": [paper.id],
                                                              "blank": 1, "with_answers": True}, manager_id)
    print_batch.request_print(print_batch.LETTERS, "piscine", {"since": "2026-09-14"}, manager_id)
    _scan(app, agent_login, paper)

    # Time travel: the 12-month services expire and family accounts are warned, then deleted.
    frozen_clock(ACCOUNTS_WARNED)
    assert purge().accounts_warned >= 2
    frozen_clock(ACCOUNTS_DELETED)
    assert purge().accounts_deleted >= 2
    # A late decision on the paper family's pool registration, then everything is past retention.
    frozen_clock(LATE_DECISION)
    late = db.session.get(Registration, paper_pool[0])
    if late.status == Status.SUBMITTED:
        transition(late.id, Status.ACCEPTED, by_id=agent_id, reason="Place libérée")
    frozen_clock(EVERYTHING_EXPIRED)
    report = purge()
    assert report.registrations_anonymised >= 1
    db.session.expire_all()
    left = db.session.scalars(select(Registration).where(Registration.anonymised_at.is_(None))).all()
    assert left == [], [r.reference for r in left]
    # Life goes on after the purge: a family keyed in at the counter, a stack of pages scanned.
    newcomer = Household(address_line1="9 rue Neuve", postcode="99990", city="Villebelle", quotient_familial=700)
    newcomer.guardians.append(Guardian(first_name="Paul", last_name="Nouveau", phone="01 98 76 54 00"))
    newcomer.children.append(Child(first_name="Lou", last_name="Nouveau", birth_date=dt.date(2021, 6, 1),
                                   school="École du Centre", class_name="CP"))
    db.session.add(newcomer)
    db.session.commit()
    _upload_scans(app, agent_login, _unidentified_pages(np.random.default_rng(4)))

    # Logged in now: a session issued back in 2026 has long expired.
    db.session.expunge_all()
    accounts = {role: db.session.get(Account, account_id) for role, account_id in staff_ids.items()}
    return {"logins": {role: account.get_id() for role, account in accounts.items()},
            "api_tokens": {role: issue_token(account, "walk") for role, account in accounts.items()}}


def _facts() -> list[dict[str, Any]]:
    """What the database still holds, as URL parameter values that belong together."""
    services = [s.code for s in registry().all()]
    facts: list[dict[str, Any]] = [{"service_code": s, "service": s, "code": s} for s in services]
    for row in db.session.scalars(select(ServiceSession)):
        facts.append({"service_code": row.service_code, "service": row.service_code, "session_code": row.code})
    uploads: dict[int, list[str]] = {}
    for upload in db.session.scalars(select(Upload)):
        uploads.setdefault(upload.household_id, []).append(upload.token)
    for reg in db.session.scalars(select(Registration)):
        base = {"service_code": reg.service_code, "service": reg.service_code, "code": reg.service_code,
                "reference": reg.reference, "batch": reg.batch}
        if reg.household_id is not None:
            base["household_id"] = reg.household_id
        if reg.application_id is not None:
            base["application_id"] = reg.application_id
        facts.append(base)
        facts += [{**base, "token": token} for token in uploads.get(reg.household_id or 0, [])]
        # A file named in its answers (gone with the purge: the page must say so, not fail).
        facts += [{**base, "token": value} for value in (reg.answers or {}).values()
                  if isinstance(value, str) and len(value) == 32]
    for household_id in db.session.scalars(select(Household.id)):
        facts += [{"household_id": household_id, "code": s} for s in services]
    for application in db.session.scalars(select(Application)):
        facts.append({"application_id": application.id, "service_code": application.service_code,
                      "batch": application.batch})
    for token in db.session.scalars(select(PrintToken)):
        facts.append({"token": token.token, **({"household_id": token.household_id} if token.household_id else {})})
    for scan_batch in db.session.scalars(select(ScanBatch)):
        facts.append({"batch_id": scan_batch.id})
    for page in db.session.scalars(select(ScanPage)):
        facts.append({"page_id": page.id, "batch_id": page.batch_id})
        if page.registration_batch:
            facts.append({"batch": page.registration_batch})
    for job in db.session.scalars(select(PrintJob)):
        facts.append({"service": job.service_code, "service_code": job.service_code, "job_id": job.id})
    for run in db.session.scalars(select(AllocationRun)):
        facts.append({"service_code": run.service_code, "service": run.service_code, "run_id": run.id})
    return facts


def _staff_rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules()
            if "GET" in (rule.methods or set()) and rule.rule.startswith(STAFF_PREFIXES)]


def _urls(app: Flask, rule: Rule, facts: list[dict[str, Any]], wide: dict[str, str]) -> list[str]:
    """The URLs of ``rule`` for every set of parameter values the database gives (plus, for list
    pages, the whole history); a parameter no row gives gets a value that matches nothing."""
    args = sorted(rule.arguments)
    combos = {tuple(f[a] for a in args) for f in facts if all(a in f for a in args)}
    if not combos:
        known = {a: sorted({f[a] for f in facts if a in f}, key=str) for a in args}
        unknown = [a for a in args if not any(a in f for f in facts) and a not in INTEGER_PARAMETERS | {"token"}]
        assert not unknown, f"{rule.rule}: teach _facts() where to find {unknown}"
        pools = [known[a] or [MISSING_ID if a in INTEGER_PARAMETERS else "inconnu"] for a in args]
        combos = set(itertools.islice(itertools.product(*pools), 40))
    adapter = app.url_map.bind("localhost")
    urls = []
    for combo in sorted(combos, key=str):
        values = dict(zip(args, combo, strict=True))
        urls.append(adapter.build(rule.endpoint, values))
        if set(args) <= {"service_code", "service", "code"}:
            query = {k: v for k, v in wide.items() if k not in rule.arguments}
            urls.append(adapter.build(rule.endpoint, {**query, **values}))
    return urls


def test_every_staff_page_after_a_time_travelled_purge(app: Flask, frozen_clock) -> None:
    world = _build_history(app, frozen_clock)
    facts = _facts()
    rules = _staff_rules(app)
    assert {"backoffice.letters", "backoffice.queue", "counter.registration", "reports.allocation_run",
            "intake.batch", "privacy.audit_journal", "paper.print_job"} <= {r.endpoint for r in rules}
    problems: list[str] = []
    answered: dict[str, set[int]] = {}
    households = sorted({f["household_id"] for f in facts if "household_id" in f})
    wide = {**WHOLE_HISTORY, "q": "Nouveau",
            "code": next((f["token"] for f in facts if "token" in f and "reference" not in f), "")}
    for role, login in world["logins"].items():
        client = _client(app, login)
        # The counter asks why a household's file is opened before showing it: answered once.
        for household_id in households:
            g.pop("_login_user", None)
            client.post(f"/guichet/foyers/{household_id}/acces", data={"reason": "counter"}).close()
        headers = {"Authorization": f"Bearer {world['api_tokens'][role]}"}
        for rule in rules:
            for url in _urls(app, rule, facts, wide):
                # Test requests share the test's app context, where Flask-Login caches the user.
                g.pop("_login_user", None)
                try:
                    response = client.get(url, headers=headers if rule.rule.startswith("/api/") else {})
                except Exception:  # every failure is listed, not only the first
                    problems.append(f"{role} GET {url}: {traceback.format_exc().splitlines()[-1]}")
                    db.session.rollback()
                    continue
                response.get_data()  # a streamed body (CSV exports) runs only when read
                response.close()
                answered.setdefault(rule.endpoint, set()).add(response.status_code)
                if response.status_code >= 500:
                    problems.append(f"{role} GET {url}: {response.status_code}")
    assert not problems, f"{len(problems)} staff page(s) failed after the purge:\n" + "\n".join(problems[:60])
    # The walk reached the pages with the data in them, not only refusals.
    shown = sorted(e for e, codes in answered.items() if 200 in codes)
    for endpoint in ("backoffice.letters", "backoffice.queue", "backoffice.registration", "counter.household",
                     "reports.allocation_run", "reports.export_csv", "intake.batch", "intake.manual",
                     "privacy.audit_journal", "paper.print_job", "api.get_registration"):
        assert endpoint in shown, f"{endpoint} never answered 200: {sorted(answered.get(endpoint, []))}"

    # The pool's late decision was anonymised with its letter still owed: there is no one left to
    # write to, so no letter is listed nor printed (it was a 500).
    manager = _client(app, world["logins"]["manager"])
    g.pop("_login_user", None)
    page = manager.get("/gestion/piscine/courriers")
    assert page.status_code == 200 and 'id="no-letters"' in page.get_data(as_text=True)
    assert manager.get("/gestion/piscine/courriers.pdf").status_code == 404
    # Anonymised registrations stay in the queue for the statistics, without a family to name.
    g.pop("_login_user", None)
    queue = manager.get("/gestion/piscine/?show_cancelled=1").get_data(as_text=True)
    assert queue.count("Famille effacée") == len(db.session.scalars(
        select(Registration.id).where(Registration.service_code == "piscine")).all()) > 0


