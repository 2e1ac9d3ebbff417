"""Counts grouped by answers: the canteen's meal count per day, school and diet against a known data
set, counts picked by the manager, sensitive fields kept out of agents' counts, the definition checks."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from reports_helpers import CANTEEN, read_csv
from sqlalchemy import select

from inscriptions.definitions.registry import registry
from inscriptions.definitions.schema import ServiceDefinition, semantic_problems
from inscriptions.extensions import db
from inscriptions.models import AuditEvent
from inscriptions.reports.counts import CountSpec, compute_counts
from inscriptions.settings import PROJECT_ROOT

BEFORE = dt.datetime(2026, 9, 10, 8, 0)  # UTC, naive as stored
WEDNESDAY = dt.datetime(2026, 9, 16, 8, 0)
MONDAY, FRIDAY = dt.date(2026, 9, 14), dt.date(2026, 9, 18)
JF, PASTEUR = "École Jules-Ferry", "École Pasteur"


@pytest.fixture
def meals(make_household, book) -> None:  # type: ignore[no-untyped-def]
    """Five children: four accepted (one registered on Wednesday 16th), one cancelled."""

    def child(last: str, first: str, school: str, answers: dict[str, Any], status: str = "accepted",
              created: dt.datetime = BEFORE) -> None:
        household = make_household(last_name=last, children=[(first, dt.date(2018, 3, 1))])
        household.children[0].school = school
        db.session.commit()
        book(household, "cantine", {**CANTEEN, **answers}, status=status, created_at=created)

    child("Martin", "Léa", JF, {"days": ["mon", "tue"], "diet": "standard"})
    child("Durand", "Tom", PASTEUR, {"days": ["mon", "thu", "fri"], "diet": "sans_porc"})
    child("Bernard", "Zoé", PASTEUR, {"days": ["tue", "thu"], "diet": "sans_porc"}, created=WEDNESDAY)
    child("Roux", "Noé", JF, {"days": ["mon", "tue", "thu", "fri"], "diet": "standard"}, status="cancelled")
    child("Petit", "Inès", JF, {"days": ["mon"], "diet": "sans_gluten"})


EXPECTED_MEALS = {
    (JF, "Menu standard"): [1, 1, 0, 0],
    (JF, "Sans gluten"): [1, 0, 0, 0],
    # Zoé was registered on Wednesday: not counted on Tuesday, counted on Thursday.
    (PASTEUR, "Sans porc"): [1, 0, 2, 1],
}


def test_meal_count_per_day_school_and_diet(app, meals) -> None:
    service = registry().get("cantine")
    [report] = service.definition.reports.counts
    table = compute_counts(service, CountSpec.from_report(report), MONDAY, FRIDAY)
    # Wednesday is not a canteen day in this definition: no column for it.
    assert table.columns == [dt.date(2026, 9, 14), dt.date(2026, 9, 15), dt.date(2026, 9, 17), dt.date(2026, 9, 18)]
    assert {row.labels: row.values for row in table.rows} == EXPECTED_MEALS
    assert [row.labels for row in table.rows] == list(EXPECTED_MEALS)  # sorted by school, then diet
    assert table.totals == [3, 1, 2, 1]
    assert table.grand_total == 7


def _table(html: str) -> dict[str, list[int]]:
    rows = {}
    for group, cells in re.findall(r'<tr data-group="([^"]*)">(.*?)</tr>', html, re.S):
        rows[group] = [int(v) for v in re.findall(r'<td class="num">(\d+)</td>', cells)]
    return rows


def test_meal_count_page_and_csv(client, staff, login_as, meals) -> None:
    login_as(staff("agent", "cantine"))  # agents read reports: the kitchen asks the desk
    response = client.get("/gestion/cantine/rapports/comptages?report=repas&from=2026-09-14&to=18/09/2026")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="count-table" data-total="7"' in html
    # Each row: the four days, then the row's total.
    assert _table(html) == {f"{school}|{diet}": [*values, sum(values)]
                            for (school, diet), values in EXPECTED_MEALS.items()}

    csv_url = re.search(r'href="([^"]*comptages\.csv[^"]*)"', html).group(1).replace("&amp;", "&")
    rows = read_csv(client.get(csv_url).data)
    assert [(r["École"], r["Régime alimentaire"], r["17/09/2026"]) for r in rows[:-1]] == [
        (JF, "Menu standard", "0"), (JF, "Sans gluten", "0"), (PASTEUR, "Sans porc", "2"),
    ]
    assert rows[-1]["14/09/2026"] == "3"  # the total line
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event.detail["format"] == "counts_csv"
    assert event.detail["report"] == "repas"
    assert (event.detail["from"], event.detail["to"]) == ("2026-09-14", "2026-09-18")


def test_counts_picked_by_the_manager(client, staff, login_as, meals) -> None:
    login_as(staff("manager", "cantine"))
    html = client.get("/gestion/cantine/rapports/comptages?group=diet&status=accepted").get_data(as_text=True)
    assert _table(html) == {"Menu standard": [1], "Sans gluten": [1], "Sans porc": [2]}
    html = client.get("/gestion/cantine/rapports/comptages?group=diet&group=child.school"
                      "&status=accepted&status=cancelled").get_data(as_text=True)
    assert _table(html) == {f"Menu standard|{JF}": [2], f"Sans gluten|{JF}": [1], f"Sans porc|{PASTEUR}": [2]}
    # Multiple-valued answers count in each of their values (meals per weekday).
    html = client.get("/gestion/cantine/rapports/comptages?group=days").get_data(as_text=True)
    assert _table(html) == {"Lundi": [3], "Mardi": [2], "Jeudi": [2], "Vendredi": [1]}


def test_sensitive_fields_are_no_grouping_for_agents(client, staff, login_as, meals) -> None:
    login_as(staff("agent", "cantine"))
    html = client.get("/gestion/cantine/rapports/comptages").get_data(as_text=True)
    assert 'value="diet"' in html
    assert 'value="allergy"' not in html
    html = client.get("/gestion/cantine/rapports/comptages?group=allergy").get_data(as_text=True)
    assert 'id="count-table"' not in html
    assert 'class="error-summary"' in html
    assert client.get("/gestion/cantine/rapports/comptages.csv?group=allergy").status_code == 400
    # The manager may read health data, so may count it.
    login_as(staff("manager", "cantine"))
    html = client.get("/gestion/cantine/rapports/comptages?group=allergy").get_data(as_text=True)
    assert _table(html) == {"Non": [4]}


def test_bad_periods_and_unknown_reports(client, staff, login_as, meals) -> None:
    login_as(staff("agent", "cantine"))
    html = client.get("/gestion/cantine/rapports/comptages?report=repas&from=2026-09-18&to=2026-09-14").get_data(
        as_text=True)
    assert 'class="error-summary"' in html and 'id="count-table"' not in html
    html = client.get("/gestion/cantine/rapports/comptages?report=repas&from=2026-09-01&to=2026-12-31").get_data(
        as_text=True)
    assert 'class="error-summary"' in html
    assert client.get("/gestion/cantine/rapports/comptages?report=nope").status_code == 404


def _cantine(**reports: Any) -> dict[str, Any]:
    data = yaml.safe_load(Path(PROJECT_ROOT / "plugins" / "cantine" / "service.yaml").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["reports"] = reports
    return data


@pytest.mark.parametrize(("count", "path", "reason"), [
    ({"code": "x", "label": "X", "group_by": ["nope"]}, "group_by[0]", "is not a field of the form"),
    ({"code": "x", "label": "X", "group_by": ["allergy"]}, "group_by[0]", "flagged sensitive"),
    ({"code": "x", "label": "X", "group_by": ["pickup"]}, "group_by[0]", "is a group field"),
    ({"code": "x", "label": "X", "group_by": ["session"]}, "group_by[0]", "has no sessions"),
    ({"code": "x", "label": "X", "group_by": ["child.age"]}, "group_by[0]", "is not one of"),
    ({"code": "x", "label": "X", "group_by": ["diet"], "per_day": "diet"}, "per_day", "is not a weekdays field"),
    ({"code": "x", "label": "X", "group_by": ["days"], "per_day": "days"}, "per_day", "already counted by day"),
])
def test_definition_checks_of_declared_counts(count: dict[str, Any], path: str, reason: str) -> None:
    defn = ServiceDefinition.model_validate(_cantine(counts=[count]))
    problems = semantic_problems(defn)
    assert any(p.startswith("reports.counts[0] (x).") and p.endswith(path) and reason in m
               for p, m in problems), problems


def test_the_canteen_definition_declares_its_meal_count() -> None:
    defn = ServiceDefinition.model_validate(_cantine(counts=[
        {"code": "repas", "label": "Repas", "group_by": ["child.school", "diet"], "per_day": "days"},
    ]))
    assert semantic_problems(defn) == []
    assert defn.reports.counts[0].statuses == ["accepted"]
