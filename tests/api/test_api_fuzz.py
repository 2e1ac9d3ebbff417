"""Random bodies sent to the booking endpoints (registrations, applications): always a JSON answer,
never a server error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import CANTEEN_ANSWERS
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inscriptions.extensions import db
from inscriptions.models import Registration

# NaN and Infinity are not JSON (refused with a 400, tested elsewhere).
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=4), max_leaves=12)
FIELDS = st.sampled_from(["days", "diet", "allergy", "pai_details", "pickup", "rules", "level", "other"])
ANSWERS = st.dictionaries(FIELDS, JSON | st.sampled_from([["mon"], "standard", "oui", "on", [{"name": "A"}]]),
                          max_size=6)


@pytest.fixture
def family(make_household, parent_token, staff, token_for) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One household and two tokens, shared by every example of the test (one database)."""
    household = make_household()
    return {"household": household, "tokens": [parent_token(household), token_for(staff("agent", "cantine"))]}


# The operations that book, and the status of a success: both take the same body (applications
# also ``wishes``), both go through create_registrations.
# (``send: false`` prepares the application: 201).
OPERATIONS = {"/registrations": {201}, "/applications": {201, 202}}
WISHES = st.lists(st.lists(st.sampled_from(["mer-14h", "sam-10h", "nope", ""]) | st.text(max_size=5), max_size=3),
                  max_size=3) | JSON


# The fixtures are meant to be shared by the examples: the database is cleaned after each booking.
@pytest.mark.parametrize("path", sorted(OPERATIONS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_bookings_never_fail_on_the_server(api, family, data, path) -> None:  # type: ignore[no-untyped-def]
    household = family["household"]
    child = household.children[0].id
    participant = st.fixed_dictionaries({}, optional={
        "child_id": st.sampled_from([child, child + 1000, 0, -1, "1", None, 2**40]),
        "guardian_id": st.sampled_from([household.guardians[0].id, None, 3.5]),
        "answers": ANSWERS | JSON,
    })
    # Nearly valid canteen bookings, each answer possibly replaced by anything.
    nearly = st.fixed_dictionaries({
        "service": st.just("cantine"),
        "participants": st.just([{"child_id": child}]),
        "answers": st.fixed_dictionaries({k: st.just(v) | JSON for k, v in CANTEEN_ANSWERS.items()},
                                         optional={"pai_details": JSON, "pickup": JSON}),
    })
    body = data.draw(nearly | st.fixed_dictionaries(
        {"service": st.sampled_from(["cantine", "piscine", "cinema", "", "nope"]),
         "participants": st.lists(participant, max_size=3) | JSON},
        optional={"household_id": st.sampled_from([household.id, None, 0, 2**40, "x"]),
                  "session": st.sampled_from(["mer-14h", "nope", None, 3]),
                  "answers": ANSWERS | JSON,
                  "channel": st.sampled_from(["api", "counter", "paper", "web", "x", None]),
                  "idempotency_key": st.text(max_size=50) | st.none(),
                  "received_on": st.sampled_from(["2026-09-01", "2026-13-01", "yesterday", None]),
                  "note": st.text(max_size=20),
                  "waitlist_together": st.booleans() | JSON,
                  **({"wishes": WISHES, "send": st.booleans() | JSON} if path == "/applications" else {})},
    ) | JSON)
    token = data.draw(st.sampled_from(family["tokens"]))
    response = api("POST", path, token, data=json.dumps(body), content_type="application/json")
    event(f"status {response.status_code}")
    success = OPERATIONS[path]
    assert response.status_code in (*success, 403, 409, 422), (body, response.get_json())
    assert response.is_json and ("error" in response.get_json()) == (response.status_code not in success)
    if response.status_code in success:
        if path == "/applications":
            # What it says to follow answers too.
            assert api("GET", response.headers["Location"].split("/api/v1")[1], token).status_code == 200
        # Keep the next examples bookable: the child would be "already registered" otherwise.
        db.session.execute(db.delete(Registration))
        db.session.commit()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sending_anything_never_fails_on_the_server(api, family, data) -> None:  # type: ignore[no-untyped-def]
    """``POST /applications/<id>/send`` with any id, for a family or an agent: a JSON answer."""
    application_id = data.draw(st.integers(-5, 2**70).map(str) | st.text(max_size=12).filter(lambda t: "/" not in t))
    token = data.draw(st.sampled_from(family["tokens"]))
    response = api("POST", f"/applications/{application_id}/send", token)
    if response.status_code == 400:
        # A "?" made the rest a query string, and it held a control character: refused at the
        # input boundary, in JSON.
        assert "?" in application_id and response.get_json()["error"]["code"] == "invalid_text"
        return
    assert response.status_code in (202, 404, 405, 409), response.get_data(as_text=True)[:300]
    assert response.status_code == 405 or response.is_json


@pytest.mark.parametrize("raw", ["¹", "٣", "0", "-1", "2147483648", "9" * 30, "1e3", " 1"])
def test_ids_that_are_not_database_ids_are_not_found(api, family, raw) -> None:  # type: ignore[no-untyped-def]
    """Digits other than ASCII ones (``str.isdigit`` takes "¹"), numbers beyond the database's integer:
    404 in every path that takes an id, never a server error."""
    token = family["tokens"][0]
    for method, path in (("POST", f"/applications/{raw}/send"), ("GET", f"/applications/{raw}"),
                         ("GET", f"/households/{raw}")):
        response = api(method, path, token)
        assert response.status_code in (403, 404), (method, path, response.status_code)
        assert response.is_json
