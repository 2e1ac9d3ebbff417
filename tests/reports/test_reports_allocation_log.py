"""The allocator's log: runs most recent first, one run's decisions in order with French outcomes
and reasons, no names, CSV exports (one run, a period) with the exports' conventions, each audited;
agents, managers of the service and admins only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from reports_helpers import POOL, read_csv
from sqlalchemy import select

from inscriptions.allocation import rules
from inscriptions.allocation.status import REASONS
from inscriptions.allocation.worker import drain
from inscriptions.extensions import db
from inscriptions.models import AllocationDecision, AllocationRun, Application, AuditEvent, ServiceSession
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

KID = dt.date(2018, 3, 1)


def _apply(household: Any, session: str) -> int:
    outcome = create_registrations(RegistrationInput(
        service_code="piscine", household_id=household.id, channel="web", session_code=session,
        participants=[ParticipantInput(child_id=c.id, answers=POOL) for c in household.children],
    ))
    assert outcome.application_id is not None
    return outcome.application_id


def _public_id(application_id: int) -> str:
    return db.session.get(Application, application_id).public_id("NAT")


@pytest.fixture
def log(app, make_household, bulk, frozen_clock) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Two runs of the pool's allocator: the first (worker mode, 15/09) decides three applications:
    two children waiting for the last place of Wednesday 14 h, one place on Saturday, the same child
    again (refused); the second (inline, 16/09) one more place on Saturday."""
    bulk("piscine", 7, lambda i: POOL, session="mer-14h")  # 7 of 8 places held before any application
    app.config["ALLOCATION"] = "worker"
    siblings = make_household(last_name="Lefebvre", children=[("Léa", KID), ("Hugo", KID)])
    single = make_household(last_name="Garnier", children=[("Zoé", KID)])
    ids = [_apply(siblings, "mer-14h"), _apply(single, "sam-10h"), _apply(single, "sam-10h")]
    assert drain("piscine") == 3
    app.config["ALLOCATION"] = "inline"
    frozen_clock(dt.datetime(2026, 9, 16, 9, 30, tzinfo=dt.UTC))
    late = make_household(last_name="Roux", children=[("Tom", KID)])
    ids.append(_apply(late, "sam-10h"))
    db.session.commit()
    runs = list(db.session.scalars(select(AllocationRun).where(AllocationRun.service_code == "piscine")
                                   .order_by(AllocationRun.id)))
    assert len(runs) == 2
    return {"runs": runs, "ids": ids}


def test_runs_most_recent_first_and_linked_from_the_reports(client, staff, login_as, log) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("agent", "piscine"))
    dashboard = client.get("/gestion/piscine/rapports").get_data(as_text=True)
    assert 'href="/gestion/piscine/rapports/attribution"' in dashboard
    home = client.get("/gestion/").get_data(as_text=True)
    assert 'data-link="allocation-log"' in home

    page = client.get("/gestion/piscine/rapports/attribution")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    first, second = log["runs"]
    assert html.index(f'data-run="{second.id}"') < html.index(f'data-run="{first.id}"')
    assert "Journal d&#39;attribution" in html or "Journal d'attribution" in html
    # The pool ranks by points (its applications here came after the ranking date: by arrival).
    assert "Points de priorité, puis tirage au sort" in html
    # First run: one place given, one waiting (two children, one decision), one refused.
    row = html[html.index(f'data-run="{first.id}"'):html.index("</tr>", html.index(f'data-run="{first.id}"'))]
    assert '<td class="num" data-outcome="accepted">1</td>' in row
    assert '<td class="num" data-outcome="waitlisted">1</td>' in row
    assert '<td class="num" data-outcome="refused">1</td>' in row
    # A period keeps only its runs.
    only_first = client.get("/gestion/piscine/rapports/attribution?from=15/09/2026&to=2026-09-15").get_data(
        as_text=True)
    assert f'data-run="{first.id}"' in only_first and f'data-run="{second.id}"' not in only_first
    wrong = client.get("/gestion/piscine/rapports/attribution?from=2026-09-16&to=2026-09-15").get_data(as_text=True)
    assert "La date de fin est avant la date de début." in wrong


def test_one_run_in_order_in_french_without_names(client, staff, login_as, log) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("manager", "piscine"))
    first = log["runs"][0]
    response = client.get(f"/gestion/piscine/rapports/attribution/{first.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    ids = log["ids"]
    positions = [html.index(_public_id(i)) for i in ids[:3]]
    assert positions == sorted(positions)
    assert 'data-position="1" data-outcome="waitlisted" data-reason="full"' in html
    assert 'data-position="2" data-outcome="accepted" data-reason="fits"' in html
    assert 'data-position="3" data-outcome="refused" data-reason="duplicate"' in html
    for words in ("Liste d&#39;attente", "Place attribuée", "Vœu refusé", "Mercredi 14 h – 14 h 45 (débutants)"):
        assert words in html, words
    assert str(REASONS[rules.FULL]).replace("'", "&#39;") in html
    # It explains decisions; it does not list families.
    for name in ("Lefebvre", "Garnier", "Léa", "Zoé", "Roux"):
        assert name not in html
    assert client.get(f"/gestion/piscine/rapports/attribution/{first.id}?page=9").status_code == 200
    assert client.get("/gestion/piscine/rapports/attribution/999999").status_code == 404


def test_csv_of_one_run(client, staff, login_as, log) -> None:  # type: ignore[no-untyped-def]
    agent = login_as(staff("agent", "piscine"))
    first = log["runs"][0]
    response = client.get(f"/gestion/piscine/rapports/attribution/{first.id}.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="piscine-attribution-{first.id}.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response.data)
    ids = log["ids"]
    assert [(r["Position dans le passage"], r["Demande"], r["Vœu"], r["Résultat"]) for r in rows] == [
        ("1", _public_id(ids[0]), "1", "Liste d'attente"),
        ("2", _public_id(ids[1]), "1", "Place attribuée"),
        ("3", _public_id(ids[2]), "1", "Vœu refusé"),
    ]
    waiting = rows[0]
    assert waiting["Passage"] == str(first.id)
    assert waiting["Passage commencé le"] == "15/09/2026 10:00"  # local time, dd/mm/yyyy
    assert waiting["Séance"] == "Mercredi 14 h – 14 h 45 (débutants)"
    assert (waiting["Rang dans le vœu"], waiting["Places"], waiting["Places libres avant"]) == ("1", "2", "1")
    assert waiting["Motif"] == str(REASONS[rules.FULL])
    assert (rows[2]["Séance"], rows[2]["Rang dans le vœu"], rows[2]["Places libres avant"]) == ("", "", "")
    assert not any(name in response.data.decode("utf-8-sig") for name in ("Lefebvre", "Garnier", "Léa", "Zoé"))

    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event.actor_account_id == agent.id and event.household_id is None
    assert event.detail == {"service": "piscine", "format": "allocation_csv", "run": first.id,
                            "from": None, "to": None, "rows": 3}


def test_csv_of_a_period(client, staff, login_as, log) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("admin"))
    both = client.get("/gestion/piscine/rapports/attribution.csv?from=2026-09-15&to=16/09/2026")
    assert both.status_code == 200
    assert both.headers["Content-Disposition"] == (
        'attachment; filename="piscine-attribution-2026-09-15-2026-09-16.csv"')
    rows = read_csv(both.data)
    first, second = log["runs"]
    assert [r["Passage"] for r in rows] == [str(first.id)] * 3 + [str(second.id)]
    assert rows[3]["Demande"] == _public_id(log["ids"][3]) and rows[3]["Motif"] == str(REASONS[rules.FITS])
    # By default, the last 30 days (today is the 16th).
    assert len(read_csv(client.get("/gestion/piscine/rapports/attribution.csv").data)) == 4
    empty = client.get("/gestion/piscine/rapports/attribution.csv?from=2026-09-17&to=2026-09-18")
    assert read_csv(empty.data) == [] and empty.data.decode("utf-8-sig").startswith("Passage;")
    for bad in ("from=2026-09-16&to=2026-09-15", "from=yesterday", "from=2025-01-01&to=2026-09-15"):
        assert client.get(f"/gestion/piscine/rapports/attribution.csv?{bad}").status_code == 400, bad
    details = [e.detail for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")
                                                    .order_by(AuditEvent.id))]
    assert details[0] == {"service": "piscine", "format": "allocation_csv", "run": None,
                          "from": "2026-09-15", "to": "2026-09-16", "rows": 4}
    assert len(details) == 3  # refused requests export nothing and are not logged


def test_csv_cells_starting_like_a_formula_are_neutralised(client, staff, login_as, log) -> None:  # type: ignore[no-untyped-def]
    # A session since removed from the definition keeps its stored label, here one typed as "=cmd()".
    session = db.session.scalar(select(ServiceSession).filter_by(service_code="piscine", code="mer-14h"))
    session.code, session.label = "old-14h", "=cmd()"
    db.session.execute(db.update(AllocationDecision).where(AllocationDecision.session_code == "mer-14h")
                       .values(session_code="old-14h"))
    db.session.commit()
    login_as(staff("agent", "piscine"))
    rows = read_csv(client.get(f"/gestion/piscine/rapports/attribution/{log['runs'][0].id}.csv").data)
    assert rows[0]["Séance"] == "'=cmd()"


@pytest.mark.parametrize(("role", "service", "status"), [
    ("agent", "piscine", 200), ("manager", "piscine", 200), ("admin", None, 200),
    ("agent", "cantine", 403), ("manager", "cantine", 403), ("dpo", None, 403),
])
def test_access(client, staff, login_as, log, role, service, status) -> None:  # type: ignore[no-untyped-def]
    login_as(staff(role, service))
    run = log["runs"][0].id
    for url in ("/gestion/piscine/rapports/attribution", f"/gestion/piscine/rapports/attribution/{run}",
                f"/gestion/piscine/rapports/attribution/{run}.csv", "/gestion/piscine/rapports/attribution.csv"):
        assert client.get(url).status_code == status, url
    if status == 200:
        return
    # Staff of the canteen: the pool's run is not theirs to see under the canteen either.
    if service == "cantine":
        assert client.get(f"/gestion/cantine/rapports/attribution/{run}").status_code == 404


def test_parents_and_visitors_are_kept_out(client, login, login_as, make_household, log) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/gestion/piscine/rapports/attribution").status_code == 302
    login(make_household(last_name="Parent"))
    assert client.get("/gestion/piscine/rapports/attribution").status_code == 403
    assert client.get("/gestion/nope/rapports/attribution").status_code == 404
