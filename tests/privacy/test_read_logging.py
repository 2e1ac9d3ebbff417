"""Each audit event says under which role and through which channel the access was made, and an
access to several households is found in each household's history (issue 17, point 1).

The walk over every route and command is tests/security/test_reads_logged.py; here, the pieces:
the role and channel written by ``log_access``, the households of an event about several, the
DPO's journal (filter, page, CSV) and the family's history, and the link rows' protection.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from html import unescape

import click
import pytest
from flask import Flask, g
from sqlalchemy import delete, select, text, update

from inscriptions.audit import Action, Channel, channel_scope, events_of_household, log_access
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent, AuditEventHousehold
from inscriptions.models.audit import AppendOnlyError
from inscriptions.permissions import access_roles

PG = bool(os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"))
UTC = dt.UTC


def _links(event: AuditEvent) -> list[int]:
    return list(db.session.scalars(select(AuditEventHousehold.household_id)
                                   .filter_by(event_id=event.id).order_by(AuditEventHousehold.household_id)))


# -- role ---------------------------------------------------------------------------------------------

def test_the_role_is_the_grant_that_gives_the_access(app: Flask, staff, make_household) -> None:
    from inscriptions.models import StaffRole

    agent = staff("agent", "atelier")
    both = staff("manager", "atelier", email="both@mairie.test")
    # A grant for a second service (this test's town has only one: written directly).
    db.session.add(StaffRole(account_id=both.id, role="agent", service_code="cantine"))
    db.session.commit()
    admin = staff("admin")
    home = make_household()
    parent = db.session.scalar(select(Account).filter_by(guardian_id=home.guardians[0].id))
    assert access_roles(agent, "atelier") == "agent:atelier"
    # For one service: that service's grant only; town-wide (a search): every grant.
    assert access_roles(both, "atelier") == "manager:atelier"
    assert access_roles(both, "cantine") == "agent:cantine"
    assert access_roles(both) == "agent:cantine,manager:atelier"
    assert access_roles(admin, "atelier") == "admin"
    assert access_roles(parent, "atelier") == "parent"
    assert access_roles(None) == ""


def test_log_access_fills_role_and_channel(app: Flask, staff, make_household) -> None:
    home = make_household()
    parent = db.session.scalar(select(Account).filter_by(guardian_id=home.guardians[0].id))
    agent = staff("agent", "atelier")
    read = log_access(agent.id, Action.READ_HOUSEHOLD, home.id, {"service": "atelier"})
    own = log_access(parent, Action.DOWNLOAD_OWN_DATA, home.id)
    automatic = log_access(None, Action.PURGE, None)
    with app.test_request_context("/api/v1/households/1"):
        api = log_access(agent, Action.READ_HOUSEHOLD, home.id)
    with app.test_request_context("/guichet/"):
        web = log_access(agent, Action.SEARCH, None)
        # A job run inline inside a request is still the job's access.
        with channel_scope(Channel.JOB):
            job = log_access(agent, Action.EXPORT, None, {"service": "atelier"})
    db.session.commit()
    assert (read.role, own.role, automatic.role) == ("agent:atelier", "parent", "system")
    assert (api.channel, web.channel, job.channel, job.role) == ("api", "web", "job", "agent:atelier")


def test_a_command_logs_the_operator_and_the_system_user(app: Flask, make_household) -> None:
    home = make_household()

    @click.command("h4-read")
    def read_command() -> None:
        log_access(None, Action.EXPORT, home.id, {"kind": "csv"})
        db.session.commit()

    result = app.test_cli_runner().invoke(read_command)
    assert result.exit_code == 0, result.output
    [event] = events_of_household(home.id)
    assert (event.channel, event.role, event.actor_account_id) == ("cli", "operator", None)
    assert event.detail["kind"] == "csv" and event.detail["os_user"]


# -- several households ----------------------------------------------------------------------------------

def test_an_event_about_several_households_is_in_each_ones_history(app: Flask, staff, make_household) -> None:
    homes = [make_household(last_name=f"Foyer{i}") for i in range(3)]
    agent = staff("agent", "atelier")
    ids = [h.id for h in homes]
    queue = log_access(agent, Action.READ_QUEUE, None, {"service": "atelier"}, households=[ids[2], ids[0], ids[2]])
    one = log_access(agent, Action.SEARCH, None, {"query": "x"}, households=[ids[1]])
    nobody = log_access(agent, Action.SEARCH, None, {"query": "y"}, households=[])
    db.session.commit()
    # Several: none in household_id, each in the detail (covered by the hash chain) and linked.
    assert queue.household_id is None and queue.detail["households"] == sorted([ids[0], ids[2]])
    assert _links(queue) == sorted([ids[0], ids[2]])
    # One: the event's own household, nothing linked; none: neither.
    assert (one.household_id, "households" in one.detail, _links(one)) == (ids[1], False, [])
    assert (nobody.household_id, _links(nobody)) == (None, [])
    assert events_of_household(ids[0]) == [queue]
    assert events_of_household(ids[1]) == [one]
    assert events_of_household(ids[2]) == [queue]


def test_a_queue_page_of_200_households_is_one_event(app: Flask, staff) -> None:
    agent = staff("agent", "atelier")
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many):  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    from sqlalchemy import event as sa_event

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        log_access(agent, Action.READ_QUEUE, None, {"service": "atelier"}, households=range(1, 201))
        db.session.commit()
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert db.session.scalar(select(db.func.count(AuditEvent.id))) == 1
    assert db.session.scalar(select(db.func.count()).select_from(AuditEventHousehold)) == 200
    # One statement for the event, one (executemany) for the 200 links.
    assert statements.count("INSERT") <= 3


def test_the_dpo_finds_an_event_about_several_households_by_each(client, staff, login_as, make_household) -> None:
    first, second, other = make_household(last_name="Un"), make_household(last_name="Deux"), make_household()
    agent = staff("agent", "atelier")
    search = log_access(agent, Action.SEARCH, None, {"query": "Un"}, households=[first.id, second.id])
    log_access(agent, Action.READ_HOUSEHOLD, other.id, {"service": "atelier"})
    db.session.commit()
    login_as(staff("dpo"))
    for home in (first, second):
        page = unescape(client.get(f"/dpo/journal?household={home.id}&action=search").get_data(as_text=True))
        assert re.findall(r'data-event="(\d+)"', page) == [str(search.id)]
        row = re.search(rf'<tr data-event="{search.id}".*?</tr>', page, re.S).group(0)
        assert "2 foyers" in row  # the household column
    assert not re.findall(r'data-event="(\d+)"',
                          client.get(f"/dpo/journal?household={other.id}&action=search").get_data(as_text=True))


def test_the_journal_shows_role_and_channel_in_words(client, staff, login_as, make_household) -> None:
    home = make_household()
    agent = staff("agent", "atelier")
    login_as(agent)
    client.get("/guichet/", query_string={"q": home.guardians[0].last_name})
    login_as(staff("dpo"))
    [search] = db.session.scalars(select(AuditEvent).filter_by(action=Action.SEARCH))
    assert (search.role, search.channel, search.household_id) == ("agent:atelier", "web", home.id)
    page = unescape(client.get("/dpo/journal?action=search").get_data(as_text=True))
    row = re.search(rf'<tr data-event="{search.id}".*?</tr>', page, re.S).group(0)
    assert "Agent (Atelier test) · Site web" in row
    g.pop("_login_user", None)
    export = client.get("/dpo/journal.csv?action=search").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(export), delimiter=";"))
    [line] = [r for r in rows if r["id"] == str(search.id)]
    assert (line["role"], line["channel"], line["role_label"], line["channel_label"]) == (
        "agent:atelier", "web", "Agent (Atelier test)", "Site web")


def _events_in(data: object) -> list[dict]:
    """Every audit event (a mapping with an ``action`` and an ``id``) anywhere in an export."""
    if isinstance(data, dict):
        found = [data] if {"action", "id"} <= set(data) else []
        return found + [e for value in data.values() for e in _events_in(value)]
    if isinstance(data, list):
        return [e for value in data for e in _events_in(value)]
    return []


def test_the_familys_history_holds_the_searches_that_found_it(client, staff, login_as, make_household) -> None:
    home, other = make_household(last_name="Trouvé"), make_household(last_name="Autre")
    login_as(staff("agent", "atelier"))
    client.get("/guichet/", query_string={"q": "Trouvé"})
    [search] = db.session.scalars(select(AuditEvent).filter_by(action=Action.SEARCH))
    for household, found in ((home, True), (other, False)):
        login_as(db.session.scalar(select(Account).filter_by(guardian_id=household.guardians[0].id)))
        download = client.get("/mon-foyer/donnees/export.json")
        assert download.status_code == 200
        events = _events_in(download.get_json())
        assert any(e["id"] == search.id and e["action"] == "search" for e in events) is found


# -- the links are append-only ----------------------------------------------------------------------

def test_links_cannot_be_changed_or_deleted_through_the_application(app: Flask, make_household) -> None:
    homes = [make_household(), make_household()]
    event = log_access(None, Action.EXPORT, None, households=[h.id for h in homes])
    db.session.commit()
    link = db.session.scalar(select(AuditEventHousehold).filter_by(event_id=event.id))
    link.household_id = 999
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.scalar(select(AuditEventHousehold).filter_by(event_id=event.id)))
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    for statement in (delete(AuditEventHousehold), update(AuditEventHousehold).values(household_id=1)):
        with pytest.raises(AppendOnlyError):
            db.session.execute(statement)
        db.session.rollback()
    assert _links(event) == sorted(h.id for h in homes)


@pytest.mark.skipif(not PG, reason="the database trigger exists on PostgreSQL only")
def test_postgres_refuses_raw_changes_of_the_links(app: Flask, make_household) -> None:
    from sqlalchemy.exc import DBAPIError

    homes = [make_household(), make_household()]
    event = log_access(None, Action.EXPORT, None, households=[h.id for h in homes])
    db.session.commit()
    for statement in ("UPDATE audit_event_households SET household_id = 1",
                      "DELETE FROM audit_event_households"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert _links(event) == sorted(h.id for h in homes)


def test_the_retention_purge_takes_the_links_with_their_events(app: Flask, make_household, frozen_clock) -> None:
    from inscriptions.privacy.purge import purge

    homes = [make_household(), make_household()]
    old = log_access(None, Action.EXPORT, None, households=[h.id for h in homes])
    db.session.commit()
    frozen_clock(dt.datetime(2027, 9, 1, 8, 0, tzinfo=UTC))
    recent = log_access(None, Action.EXPORT, None, households=[h.id for h in homes])
    db.session.commit()
    old_id, recent_id = old.id, recent.id
    frozen_clock(dt.datetime(2027, 9, 16, 8, 0, tzinfo=UTC))
    assert purge().audit_events_deleted >= 1
    db.session.expire_all()
    assert db.session.get(AuditEvent, old_id) is None
    remaining = set(db.session.scalars(select(AuditEventHousehold.event_id)))
    assert old_id not in remaining and recent_id in remaining


# -- the migration ------------------------------------------------------------------------------------

def test_the_migration_links_older_letters_events_to_their_households(app: Flask) -> None:
    from flask_migrate import downgrade, upgrade

    from inscriptions.settings import PROJECT_ROOT

    migrations = str(PROJECT_ROOT / "migrations")
    db.session.remove()
    downgrade(directory=migrations, revision="b9e4c6a8d0f2")
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO audit_events (id, at, actor_account_id, action, household_id, registration_id, detail,"
            " reason) VALUES (1, '2026-09-01', 3, 'read_queue', NULL, NULL,"
            " '{\"service\": \"cantine\", \"households\": [4, 9, 4]}', ''),"
            " (2, '2026-09-01', 3, 'read_household', 5, NULL, '{}', '')"))
    upgrade(directory=migrations)
    with db.engine.connect() as conn:
        links = conn.execute(text("SELECT event_id, household_id FROM audit_event_households"
                                  " ORDER BY event_id, household_id")).all()
        roles = conn.execute(text("SELECT role, channel FROM audit_events ORDER BY id")).all()
    assert [tuple(r) for r in links] == [(1, 4), (1, 9)]
    assert [tuple(r) for r in roles] == [("", ""), ("", "")]  # not known for older events
