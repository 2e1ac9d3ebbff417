"""Every read of a family's data is in the audit log, with the household, the role and the channel.

The walk calls every rule of the URL map (GET, and POST: a search or a form shown again shows data
too) and every command of the Flask CLI, against a world where two families can be told apart from
everything else: household B (a family with an account, registered online) and household C (a
paper-only family: no e-mail, no account, registered at the counter, with a scanned form, a
pool place, a letter owed and a print job). Each family has names found nowhere else.

URL parameters are filled from the database rows of each family (its registrations, applications,
drafts, files, print tokens, scanned pages, print jobs, allocation runs), every role of
``test_authorisation.py`` calls every URL, and the response is read: HTML, JSON, CSV, the text of
a PDF, the cells of a spreadsheet. A response that shows a family's names or e-mail, or a file the
walk cannot read as text (a page image, a cut-out, a sent file) fetched with that family's ids,
shows that family's data. Then an audit event written by that request must name the household,
the account that asked, a role and the channel (``api`` for the API, ``web`` otherwise; ``cli``
for a command). There is no list of exceptions: a route that shows no family data has nothing to
log, and the family reading its own data (its own parents' accounts) is not an access to log.

:data:`MUST_SHOW_DATA` lists the routes the audit of issue 17 found unlogged: the walk must
actually reach family data there, so that a world that stops reaching them fails here instead of
passing quietly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import itertools
import json
import os
import shutil
import signal
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select, text
from test_authorisation import ACCESS, ROLES, World, build_world
from werkzeug.test import TestResponse

from inscriptions import clock
from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import (
    Account,
    AllocationDecision,
    Application,
    AuditEvent,
    AuditEventHousehold,
    Child,
    Draft,
    Guardian,
    Household,
    PrintJob,
    PrintToken,
    Registration,
    ScanPage,
    Upload,
)

PG_URL = os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL")
NOW = dt.datetime(2026, 9, 15, 8, 0, tzinfo=dt.UTC)
CANTEEN = {"days": ["mon", "tue"], "diet": "standard", "allergy": False, "rules": True}
POOL = {"level": "debutant", "specific_care": False, "rules": True}
# A command still running after this is a worker waiting for work: it is stopped, and what it
# printed or wrote until then is read like any other command's output.
COMMAND_SECONDS = 20

# Routes the audit of issue 17 found showing family data without logging it (or without the
# household): in this world they must show a family's data, so that their check is real.
MUST_SHOW_DATA = {
    "counter.home", "counter.entry", "counter.confirmation", "intake.document", "intake.page_image",
    "intake.crop", "intake.evidence", "api.search_households", "api.list_registrations",
    "api.get_registration", "backoffice.queue", "backoffice.letters", "reports.export_csv",
    "reports.export_xlsx", "reports.attendance_pdf", "paper.print_download", "privacy.staff_photo_consents",
}
MUST_SHOW_DATA_CLI = {("paper", "print")}


@dataclass
class Family:
    """One family of the world: its household, the strings only its data contains, its accounts."""

    key: str
    household_id: int
    last_name: str
    markers: tuple[str, ...]
    own_accounts: set[int] = field(default_factory=set)


@dataclass
class ReadWorld:
    base: World
    families: dict[str, Family]


# -- the world --------------------------------------------------------------------------------------

def _rename_b(world: World) -> None:
    guardian = db.session.get(Guardian, world.guardian_b)
    guardian.first_name, guardian.last_name = "Philibertine", "Zanzibaro"
    child = db.session.get(Child, world.child_b)
    child.first_name, child.last_name = "Ysoline", "Zanzibaro"
    db.session.commit()


def _paper_family() -> Household:
    home = Household(address_line1="4 impasse des Tilleuls", postcode="99990", city="Villebelle",
                     quotient_familial=450)
    home.guardians.append(Guardian(first_name="Eudoxie", last_name="Krzyzanowska", phone="01 02 03 04 05"))
    home.children.append(Child(first_name="Anatole", last_name="Krzyzanowska", birth_date=dt.date(2018, 3, 1),
                               school="École Jules-Ferry", class_name="CE1"))
    db.session.add(home)
    db.session.commit()
    return home


def _book(service: str, home: Household, answers: dict[str, Any], by: int, session: str | None = None) -> str:
    from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

    outcome = create_registrations(RegistrationInput(
        service_code=service, household_id=home.id, channel="paper", keyed_by_id=by, session_code=session,
        participants=[ParticipantInput(child_id=home.children[0].id, answers=dict(answers))],
        received_on=dt.date(2026, 9, 14), mediation_reason="Formulaire reçu par courrier",
    ))
    return outcome.batch


def _scan(world: World, c_home: Household, c_batch: str) -> None:
    """Two canteen forms printed, filled and scanned: B's waits to be checked, C's is registered."""
    from inscriptions.intake.store import UploadedFile, ingest
    from inscriptions.paper.layout import layout_for
    from inscriptions.paper.reader import simulate as sim

    version = current_version(registry().get("cantine"))
    layout_for(version)
    db.session.commit()
    ticked = {"days": ["mon", "thu"], "diet": "standard", "allergy": False, "rules": True}
    pages, _answers = sim.filled_documents(version, 2, np.random.default_rng(17), answers=[ticked, ticked],
                                           settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                           styles={"cross": 1.0}, smudges=0.0)
    owners = {pages[0].token: (world.household_b, world.child_b), pages[-1].token: (c_home.id, c_home.children[0].id)}
    for token, (household_id, child_id) in owners.items():
        row = db.session.scalar(select(PrintToken).filter_by(token=token))
        row.household_id, row.child_id = household_id, child_id
    db.session.commit()
    ingest([UploadedFile(p.data, p.filename) for p in pages], world.accounts["agent_x"])
    for page in db.session.scalars(select(ScanPage).filter_by(token=pages[-1].token)):
        page.status, page.registration_batch = "registered", c_batch
        page.confirmed_by_id, page.confirmed_at = world.accounts["agent_x"], clock.utcnow_naive()
        page.confirmed_values = {"participants": [ticked], "wishes": []}
    db.session.commit()


def build_read_world(app: Flask) -> ReadWorld:
    """The authorisation test's world, B renamed to names found nowhere else, and family C."""
    from inscriptions.backoffice import workflow
    from inscriptions.paper import batch

    base = build_world(app)
    with app.app_context():
        _rename_b(base)
        c_home = _paper_family()
        c_canteen = _book("cantine", c_home, CANTEEN, base.accounts["agent_x"])
        pool_batch = _book("piscine", c_home, POOL, base.accounts["agent_y"], session="mer-14h")
        admin = db.session.get(Account, base.accounts["admin"])
        for reg in db.session.scalars(select(Registration).filter_by(batch=pool_batch)):
            if reg.status != "accepted":
                workflow.move(reg.id, "accepted", actor=admin, roles=workflow.staff_roles(admin, "piscine"),
                              reason="", automatic=True)
        db.session.commit()
        _scan(base, c_home, c_canteen)
        manager = base.accounts["manager_x"]
        batch.request_print(batch.FORMS, "cantine", {"selection": batch.IDS, "blank": 0, "with_answers": False,
                                                      "household_ids": [base.household_b, c_home.id]}, manager)
        batch.request_print(batch.LETTERS, "piscine", {"since": "2026-09-01"}, base.accounts["admin"])
        families = {
            "B": Family("B", base.household_b, "Zanzibaro", ("Zanzibaro", "Philibertine", "Ysoline",
                                                              "parent.b@example.fr"), {base.accounts["parent_b"]}),
            "C": Family("C", c_home.id, "Krzyzanowska", ("Krzyzanowska", "Eudoxie", "Anatole")),
        }
        db.session.commit()
    return ReadWorld(base, families)


CONFIG = {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATE_LIMITS_ENABLED": False, "MAIL_BACKEND": "locmem",
          "JOBS_EAGER_RAISE": True, "SERVER_NAME": "localhost"}


@pytest.fixture(scope="module")
def read_world(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, ReadWorld]]:
    """One world for the whole walk (built once: printing and scanning take a few seconds)."""
    from inscriptions import create_app
    from inscriptions.settings import PROJECT_ROOT

    tmp = tmp_path_factory.mktemp("reads")
    if PG_URL:
        url = PG_URL
    else:
        shutil.copy(migrated_db, tmp / "world.sqlite3")
        url = f"sqlite:///{tmp / 'world.sqlite3'}"
    os.environ.pop("FLASK_RUN_FROM_CLI", None)
    app = create_app({**CONFIG, "SQLALCHEMY_DATABASE_URI": url, "PLUGINS_DIR": PROJECT_ROOT / "plugins",
                      "UPLOAD_DIR": tmp / "uploads"})
    clock.freeze(NOW)
    try:
        world = build_read_world(app)
        folder = Path(app.config["UPLOAD_DIR"]) / str(world.base.household_b)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / world.base.upload_b).write_bytes(b"%PDF-1.4\n")
    finally:
        clock.freeze(None)
    yield app, world
    with app.app_context():
        db.session.remove()
        if PG_URL:
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


# -- URL parameters from the families' rows ---------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """Values of URL parameters read from one row of a family's data, and query arguments to send."""

    values: dict[str, Any]
    query: dict[str, str] = field(default_factory=dict)


def family_rows(family: Family, world: World) -> list[Row]:
    """Every parameter a URL may take, from the rows that belong to ``family``."""
    from inscriptions.intake.views import page_households
    from inscriptions.paper.batch import printed_households
    from inscriptions.privacy.consent import consent_services

    h = family.household_id
    home = db.session.get(Household, h)
    rows = [Row({"household_id": h})]
    rows += [Row({"guardian_id": x.id}) for x in home.guardians]
    consent = [s.code for s in consent_services()]
    for child in home.children:
        rows.append(Row({"child_id": child.id}))
        rows += [Row({"child_id": child.id, "service_code": code}) for code in consent]
    regs = list(db.session.scalars(select(Registration).filter_by(household_id=h).order_by(Registration.id)))
    uploads = list(db.session.scalars(select(Upload).filter_by(household_id=h)))
    for reg in regs:
        svc = reg.service_code
        service = {"service_code": svc, "service": svc, "code": svc}
        rows.append(Row({**service, "reference": reg.reference, "batch": reg.batch, "household_id": h}))
        if reg.session is not None:
            rows.append(Row({**service, "session_code": reg.session.code}))
        rows += [Row({**service, "reference": reg.reference, "token": u.token}) for u in uploads]
    for app_row in db.session.scalars(select(Application).filter_by(household_id=h)):
        rows.append(Row({"application_id": app_row.id, "batch": app_row.batch, "household_id": h,
                         "service_code": app_row.service_code, "code": app_row.service_code}))
        runs = db.session.scalars(select(Application.run_id).where(Application.id == app_row.id,
                                                                   Application.run_id.is_not(None)))
        run_ids = set(runs) | set(db.session.scalars(
            select(AllocationDecision.run_id).where(AllocationDecision.application_id == app_row.id)))
        rows += [Row({"run_id": run, "service_code": app_row.service_code}) for run in run_ids if run]
    accounts = family.own_accounts
    if accounts:
        for draft in db.session.scalars(select(Draft).where(Draft.account_id.in_(accounts))):
            rows.append(Row({"token": draft.token, "number": 1}))
    rows += [Row({"token": u.token}) for u in uploads]
    tokens = list(db.session.scalars(select(PrintToken.token).filter_by(household_id=h)))
    rows += [Row({"token": t}) for t in tokens]
    for page in db.session.scalars(select(ScanPage).order_by(ScanPage.id)):
        if h in page_households([page]):
            crops = sorted((page.reading or {}).get("crop_files") or {})
            rows.append(Row({"page_id": page.id, "batch_id": page.batch_id},
                            {"path": crops[0]} if crops else {}))
    for job in db.session.scalars(select(PrintJob).order_by(PrintJob.id)):
        if h in printed_households(job):
            rows.append(Row({"job_id": job.id, "service": job.service_code}))
    if family.key == "B":
        rows.append(Row({"token": world.reset_token_b}))
    rows.append(Row({"filename": "css/site.css"}))
    return rows


def url_values(arguments: set[str], rows: list[Row], limit: int = 40) -> list[Row]:
    """The parameter sets to try for a rule taking ``arguments``: those of every row that gives them
    all; failing that, combinations of the values the rows give (at most ``limit``)."""
    found: list[Row] = []
    for row in rows:
        if arguments <= set(row.values):
            chosen = Row({k: row.values[k] for k in arguments}, row.query)
            if chosen not in found:
                found.append(chosen)
    if found or not arguments:
        return found or [Row({})]
    options = {name: list(dict.fromkeys(r.values[name] for r in rows if name in r.values)) for name in arguments}
    if not all(options.values()):
        return []
    names = sorted(options)
    return [Row(dict(zip(names, combo, strict=True)))
            for combo in itertools.islice(itertools.product(*(options[n] for n in names)), limit)]


# -- reading a response -----------------------------------------------------------------------------

def pdf_text(body: bytes) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(body)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def readable_text(body: bytes, mimetype: str) -> str | None:
    """The text a person reads in a response, or None for a file the walk cannot read (an image...)."""
    if body.startswith(b"%PDF"):
        try:
            return pdf_text(body)
        except Exception:  # a file that is not a real PDF (a family's upload): not readable
            return None
    if body.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                return "\n".join(html.unescape(archive.read(n).decode("utf-8", "replace"))
                                 for n in archive.namelist())
        except zipfile.BadZipFile:
            return None
    textual = mimetype.startswith("text/") or mimetype.endswith(("json", "javascript", "xml"))
    if not textual and body:
        return None
    decoded = body.decode("utf-8", "replace")
    if mimetype.endswith("json"):
        with contextlib.suppress(ValueError):
            decoded = json.dumps(json.loads(decoded), ensure_ascii=False)
    return html.unescape(decoded)


def families_shown(content: str | None, built_from: set[str], families: dict[str, Family],
                   sent: str = "") -> set[str]:
    """The families whose data ``content`` shows: by their strings (not those the request sent
    itself: a search box shows the name typed), or, for a file that cannot be read as text, the
    families whose rows the URL was built from."""
    if content is None:
        return set(built_from)
    lowered, sent = content.casefold(), sent.casefold()
    return {key for key, fam in families.items()
            if any(m.casefold() in lowered and m.casefold() not in sent for m in fam.markers)}


# -- the audit log ----------------------------------------------------------------------------------

def last_event_id() -> int:
    return int(db.session.scalar(select(db.func.max(AuditEvent.id))) or 0)


def events_after(event_id: int) -> list[tuple[AuditEvent, set[int]]]:
    db.session.expire_all()
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id)))
    found = []
    for event in events:
        households = set(db.session.scalars(
            select(AuditEventHousehold.household_id).filter_by(event_id=event.id)))
        if event.household_id is not None:
            households.add(event.household_id)
        found.append((event, households))
    return found


def missing_entry(family: Family, events: list[tuple[AuditEvent, set[int]]], actor: int | None,
                  channel: str) -> str | None:
    """Why no event of ``events`` logs this read of ``family`` (None: one does)."""
    naming = [e for e, households in events if family.household_id in households]
    if not naming:
        return "no audit event names the household"
    if not any(e.actor_account_id == actor for e in naming):
        return f"no event by account {actor} (found {[e.actor_account_id for e in naming]})"
    good = [e for e in naming if e.actor_account_id == actor and e.role and e.channel == channel]
    if not good:
        return f"role or channel missing: {[(e.action, e.role, e.channel) for e in naming]} (channel {channel})"
    return None


# -- the walk over the URL map -----------------------------------------------------------------------

def _client(app: Flask, world: World, role: str) -> FlaskClient:
    client = app.test_client()
    if role != "anonymous":
        # Read again: a log-out on an earlier route ended the account's sessions (a new generation).
        account = db.session.get(Account, world.accounts[role])
        db.session.refresh(account)
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
            session["_fresh"] = True
    return client


def _open_households(client: FlaskClient, families: dict[str, Family]) -> None:
    """Staff at the counter give their reason once per household and session (as an agent does
    before reading a file): the walk then reaches the pages behind that gate."""
    for family in families.values():
        g.pop("_login_user", None)
        client.post(f"/guichet/foyers/{family.household_id}/acces", data={"reason": "counter"},
                    follow_redirects=True)


def _call(client: FlaskClient, method: str, url: str, query: dict[str, str], endpoint: str, world: World,
          role: str) -> TestResponse:
    g.pop("_login_user", None)
    rule = ACCESS.get(endpoint)
    api = url.startswith("/api/")
    headers = {"Authorization": f"Bearer {world.api_tokens[role]}"} if api and role != "anonymous" else {}
    if method == "GET":
        return client.get(url, query_string=query, headers=headers)
    body = rule.data(world) if rule is not None and rule.data is not None else {}
    if api:
        return client.open(url, method=method, json=body, headers=headers)
    return client.open(url, method=method, data={**query, **body}, headers=headers)


def _endpoint_rules(app: Flask, endpoint: str) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
def test_every_read_of_family_data_is_logged(read_world: tuple[Flask, ReadWorld], endpoint: str) -> None:
    app, rw = read_world
    rules = _endpoint_rules(app, endpoint)
    if not rules:
        pytest.skip(f"{endpoint} is not registered (see test_authorisation.test_every_endpoint_is_in_the_table)")
    problems: list[str] = []
    shown_anywhere = False
    clock.freeze(NOW)
    with app.app_context():
        rows = {key: family_rows(fam, rw.base) for key, fam in rw.families.items()}
        clients = {role: _client(app, rw.base, role) for role in ROLES}
        for client in clients.values():
            _open_households(client, rw.families)
        for rule, (key, family) in itertools.product(rules, rw.families.items()):
            methods = sorted((rule.methods or set()) & {"GET", "POST"}, key=lambda m: m != "GET")
            for values in url_values(set(rule.arguments), rows[key]):
                url = app.url_map.bind("localhost").build(endpoint, values.values, force_external=False)
                query = {"q": family.last_name, **values.query}
                for role, method in itertools.product(ROLES, methods):
                    before = last_event_id()
                    response = _call(clients[role], method, url, query, endpoint, rw.base, role)
                    assert response.status_code < 500, f"{role} {method} {url}: {response.status_code}"
                    body = response.get_data()
                    # A redirect's body only repeats where it leads.
                    shown = set() if not body or 300 <= response.status_code < 400 else families_shown(
                        readable_text(body, response.mimetype), {key} if values.values else set(), rw.families,
                        sent=f"{url} {json.dumps(query, ensure_ascii=False)}")
                    actor = rw.base.accounts.get(role)
                    channel = "api" if url.startswith("/api/") else "web"
                    for fam in (rw.families[k] for k in sorted(shown)):
                        if actor in fam.own_accounts:
                            continue  # the family reading its own data
                        shown_anywhere = True
                        why = missing_entry(fam, events_after(before), actor, channel)
                        if why:
                            problems.append(f"{role} {method} {url}: shows family {fam.key}'s data, {why}")
    clock.freeze(None)
    assert not problems, f"{endpoint}:\n" + "\n".join(dict.fromkeys(problems))
    if endpoint in MUST_SHOW_DATA:
        assert shown_anywhere, f"{endpoint} showed no family data to staff: the walk does not reach it any more"


# -- the walk over the CLI ---------------------------------------------------------------------------

def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The application's own commands under ``group`` (those of Flask and its extensions, such as
    ``flask run`` or ``flask db upgrade``, read no family data through the application)."""
    paths = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        elif getattr(command.callback, "__module__", "").startswith("inscriptions."):
            paths.append((*prefix, name))
    return paths


def _registered_commands() -> list[tuple[str, ...]]:
    from inscriptions.cli import main

    return _command_paths(main)


def _command(app: Flask, path: tuple[str, ...]) -> click.Command:
    command: click.Command = app.cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def test_the_walk_knows_every_command_of_the_application(read_world: tuple[Flask, ReadWorld]) -> None:
    """The commands walked (those of ``inscriptions``) are the ones ``flask --app`` offers too."""
    app, _rw = read_world
    assert set(_command_paths(app.cli)) == set(_registered_commands())


class _Stop(BaseException):
    """Stops a command that waits for work (a worker): not an Exception, so no retry loop catches it."""


def _alarm(_signum: int, _frame: Any) -> None:
    raise _Stop


def _option_value(param: click.Parameter, family: Family, service: str, out: Path, world: World) -> str | None:
    """A value for a command's parameter, by its name (None: leave it to its default)."""
    name = (param.name or "").lower()
    if name in ("service", "service_code"):
        return service
    if "household" in name:
        return str(family.household_id)
    if name.startswith("out") or (isinstance(param.type, click.Path) and not param.type.exists
                                   and param.type.dir_okay is False):
        return str(out)
    if name == "since":
        return "2026-09-01"
    if name == "email":
        return "agent_x@mairie.test"
    if isinstance(param.type, click.Choice) and param.required:
        return str(param.type.choices[0])
    if not param.required:
        return None
    if name in ("reason", "name"):
        return "test des lectures journalisées"
    if isinstance(param.type, click.types.IntParamType | click.types.FloatParamType):
        return "1"
    return service


def _command_args(command: click.Command, family: Family, service: str, out: Path, world: World) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option) and (param.is_flag or param.count):
            continue
        value = _option_value(param, family, service, out, world)
        if value is None:
            continue
        args += [value] if isinstance(param, click.Argument) else [param.opts[0], value]
    return args


@pytest.mark.parametrize("path", _registered_commands(), ids=" ".join)
def test_every_command_that_shows_family_data_logs_it(read_world: tuple[Flask, ReadWorld], path: tuple[str, ...],
                                                       tmp_path: Path) -> None:
    app, rw = read_world
    command = _command(app, path)
    problems: list[str] = []
    shown_anywhere = False
    runner = app.test_cli_runner()
    clock.freeze(NOW)
    try:
        for key, family in rw.families.items():
            with app.app_context():
                services = sorted(set(db.session.scalars(select(Registration.service_code).distinct()
                                                         .filter_by(household_id=family.household_id))))
            for service in services:
                out = tmp_path / f"{key}-{service}.out"
                args = _command_args(command, family, service, out, rw.base)
                with app.app_context():
                    before = last_event_id()
                previous = signal.signal(signal.SIGALRM, _alarm)
                signal.alarm(COMMAND_SECONDS)
                try:
                    result = runner.invoke(command, args)
                    output = result.output
                except _Stop:
                    output = ""
                finally:
                    signal.alarm(0)
                    signal.signal(signal.SIGALRM, previous)
                content = output
                if out.exists():
                    content += "\n" + (readable_text(out.read_bytes(), "application/octet-stream") or "")
                    out.unlink()
                with app.app_context():
                    db.session.remove()
                    for fam in (rw.families[k] for k in sorted(families_shown(content, set(), rw.families))):
                        shown_anywhere = True
                        why = missing_entry(fam, events_after(before), None, "cli")
                        if why:
                            problems.append(f"{' '.join(path)} {' '.join(args)}: shows family {fam.key}'s data, {why}")
    finally:
        clock.freeze(None)
    assert not problems, "\n".join(problems)
    if path in MUST_SHOW_DATA_CLI:
        assert shown_anywhere, f"{' '.join(path)} printed no family data: the walk does not reach it any more"
