"""Reading through the API: one registration, services, sessions, households (staff)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from api_helpers import CANTEEN_ANSWERS


@pytest.fixture
def booked(api, make_household, parent_token) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A canteen registration with an allergy (a sensitive answer) of household Martin."""
    household = make_household(last_name="Martin", children=[("Léa", dt.date(2018, 3, 1))])
    token = parent_token(household)
    answers = {**CANTEEN_ANSWERS, "allergy": "oui", "pai_details": "Arachide",
               "pickup": [{"name": "Mamie Martin", "phone": "0612345678"}]}
    response = api("POST", "/registrations", token, json={
        "service": "cantine", "answers": answers, "participants": [{"child_id": household.children[0].id}]})
    assert response.status_code == 201, response.get_json()
    return {"household": household, "token": token, "reference": response.get_json()["registrations"][0]["reference"]}


def test_owner_reads_the_whole_registration(api, booked) -> None:  # type: ignore[no-untyped-def]
    response = api("GET", f"/registrations/{booked['reference']}", booked["token"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["reference"] == booked["reference"] and body["status"] == "accepted"
    assert body["answers"]["allergy"] is True and body["answers"]["pai_details"] == "Arachide"
    assert [h["to_status"] for h in body["history"]] == ["accepted"]
    assert body["created_at"] == "2026-09-15T08:00:00Z"


def test_another_parent_gets_the_same_404_as_for_nothing(api, booked, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    other = parent_token(make_household(last_name="Durand"))
    theirs = api("GET", f"/registrations/{booked['reference']}", other)
    missing = api("GET", "/registrations/CAN-2026-999999", other)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()


def test_staff_read_by_service_and_sensitive_answers_by_role(api, booked, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    path = f"/registrations/{booked['reference']}"
    agent = api("GET", path, token_for(staff("agent", "cantine"))).get_json()
    assert agent["answers"]["diet"] == "standard"
    assert "allergy" not in agent["answers"] and "pai_details" not in agent["answers"]
    assert [p["name"] for p in agent["answers"]["pickup"]] == ["Mamie Martin"]

    manager = api("GET", path, token_for(staff("manager", "cantine"))).get_json()
    assert manager["answers"]["pai_details"] == "Arachide"
    admin = api("GET", path, token_for(staff("admin"))).get_json()
    assert admin["reference"] == booked["reference"] and "allergy" not in admin["answers"]

    for role, service in (("agent", "piscine"), ("manager", "piscine"), ("dpo", None)):
        assert api("GET", path, token_for(staff(role, service))).status_code == 404


def test_services_list(api, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    body = api("GET", "/services", token_for(staff("agent", "cantine"))).get_json()
    services = {s["code"]: s for s in body["items"]}
    assert {"cantine", "piscine", "cinema", "loisirs"} <= set(services)
    assert services["cantine"]["state"] == "open" and services["cantine"]["has_sessions"] is False
    assert services["piscine"]["has_sessions"] is True
    assert services["cantine"]["opening"].startswith("2026-06-01T08:30:00+02:00")


def test_sessions_of_unknown_or_sessionless_services(api, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    token = token_for(staff("agent", "cantine"))
    response = api("GET", "/services/nope/sessions", token)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert api("GET", "/services/cantine/sessions", token).get_json() == {"service": "cantine", "items": []}
    items = api("GET", "/services/piscine/sessions", token).get_json()["items"]
    # An agent of another service sees what families see.
    assert items and all(i["places_held"] is None and i["waiting"] is None for i in items)
    assert items[0]["capacity"] == items[0]["places_left"] == 8


def test_household_search_for_staff(api, make_household, staff, token_for, parent_token) -> None:  # type: ignore[no-untyped-def]
    durand = make_household(last_name="Durand", email="camille.durand@example.fr",
                            children=[("Zoé", dt.date(2017, 1, 1))])
    make_household(last_name="Petit_Jean")
    token = token_for(staff("agent", "cantine"))

    def search(q: str, tok: str = token):  # type: ignore[no-untyped-def]
        return api("GET", "/households", tok, query_string={"q": q})

    for q in ("durand", "DURAND", "camille.durand@", "zoé"):
        items = search(q).get_json()["items"]
        assert [h["id"] for h in items] == [durand.id], q
    found = search("durand").get_json()["items"][0]
    assert found["children"][0]["first_name"] == "Zoé" and found["guardians"][0]["email"] == "camille.durand@example.fr"
    # LIKE wildcards typed by the agent are plain characters.
    assert [h["name"] for h in search("t_j").get_json()["items"]] == ["Petit_Jean"]
    assert search("%%").get_json()["items"] == []
    assert search("x").status_code == 422 and "q" in search("x").get_json()["error"]["fields"]
    assert search("durand", parent_token(durand)).status_code == 403
    assert search("durand", token_for(staff("dpo"))).status_code == 403
