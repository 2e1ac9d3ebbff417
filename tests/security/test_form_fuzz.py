"""Property-based fuzzing of form submissions (Hypothesis).

1. ``validate_answers`` on every demo service's definition, with answers made of plausible values
   (choices, days, dates, numbers) mixed with anything (long text, control characters, lists,
   nested mappings): it never raises, errors only name fields of the form, a clean result holds
   only JSON-ready values of the form's fields, and validating it again is stable.
2. Real HTTP posts of the web wizard's pages with generated data: never a server error; the answer
   is either the page again with its error summary, or a redirect after the draft was saved.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inscriptions.boundary import CONTROL
from inscriptions.definitions import schema as s
from inscriptions.definitions.registry import registry
from inscriptions.extensions import db
from inscriptions.forms.validation import validate_answers
from inscriptions.models import Draft, Household

DEMO_SERVICES = ("cantine", "piscine", "cinema", "loisirs")
CHANNELS = ("web", "api", "counter", "paper")

ANY_TEXT = st.text(max_size=40) | st.text(alphabet=st.characters(codec="utf-8"), max_size=5) | st.sampled_from(
    ["", " ", "\x00", "<script>alert(1)</script>", "' OR 1=1 --", "é" * 3000, "31/02/2020", "NaN", "-1"])
ANY = st.recursive(st.none() | st.booleans() | st.integers(-(2**66), 2**66) | st.floats() | ANY_TEXT,
                   lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                   max_leaves=6)


def _plausible(field: Any) -> st.SearchStrategy[Any]:
    """Values close to what the field accepts (so validation reaches its deeper rules)."""
    kind = field.type
    if kind in ("single_choice",):
        return st.sampled_from([c.value for c in field.choices])
    if kind == "multiple_choice":
        return st.lists(st.sampled_from([c.value for c in field.choices]), max_size=len(field.choices) + 1)
    if kind == "weekdays":
        return st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), max_size=8)
    if kind in ("yes_no", "consent"):
        return st.sampled_from([True, False, "yes", "no", "oui", "non", "on", "y", "", "true"])
    if kind == "integer":
        return st.integers(-5, 50) | st.integers().map(str)
    if kind == "date":
        return st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(
            lambda d: d.isoformat()) | st.dates().map(lambda d: d.strftime("%d/%m/%Y"))
    if kind == "email":
        return st.emails() | ANY_TEXT
    if kind == "phone_fr":
        return st.from_regex(r"0[1-9]( ?[0-9]{2}){4}", fullmatch=True) | ANY_TEXT
    if kind == "postcode_fr":
        return st.from_regex(r"[0-9]{5}", fullmatch=True) | ANY_TEXT
    if kind == "group":
        item = st.fixed_dictionaries({}, optional={sub.name: _plausible(sub) | ANY for sub in field.fields})
        return st.lists(item, max_size=4)
    return ANY_TEXT


def _answers(defn: s.ServiceDefinition) -> st.SearchStrategy[dict[str, Any]]:
    fields = [f for _page, f in defn.iter_fields()]
    return st.fixed_dictionaries({}, optional={f.name: _plausible(f) | ANY for f in fields})


def _paths(defn: s.ServiceDefinition) -> set[str]:
    return {f.name for _page, f in defn.iter_fields()}


@pytest.mark.parametrize("code", DEMO_SERVICES)
def test_validate_answers_never_fails(app: Flask, code: str) -> None:
    service = registry().get(code)
    defn = service.definition
    names = _paths(defn)

    @given(raw=_answers(defn), channel=st.sampled_from(CHANNELS))
    @settings(max_examples=150, deadline=None, database=None)
    def check(raw: dict[str, Any], channel: str) -> None:
        result = validate_answers(defn, raw, channel=channel, files=lambda _token: None)
        for path in result.errors:
            # "pickup[0].phone" or "pickup.0.phone" both start with a field name of the form.
            assert re.split(r"[.\[]", path)[0] in names | {""}, path
            assert str(result.errors[path]).strip()  # a message (lazy French text) for the family
        if result.ok:
            assert set(result.values) <= names
            json.dumps(result.values)  # stored as JSON: must be JSON-ready
            again = validate_answers(defn, result.values, channel=channel, files=lambda _token: None)
            assert again.ok, again.errors
            assert again.values == result.values

    check()


# -- the web wizard over HTTP ------------------------------------------------------------------------

def _field_names(child_id: int) -> list[str]:
    prefix = f"c{child_id}-"
    return [prefix + n for n in ("days", "diet", "allergy", "pai_details")] + [
        "pickup-0-name", "pickup-0-phone", "pickup-1-name", "rules", "_action", "csrf_token", "unknown"]


FORM_VALUE = st.sampled_from(["mon", "thu", "sans_porc", "standard", "yes", "no", "y", "next", "previous", "copy",
                              "save", "back",
                              "", "x" * 2000, "\x00", "06 12 34 56 78", "<b>"]) | st.text(max_size=30)


def _draft_state(app: Flask, token: str) -> dict[str, Any] | None:
    with app.app_context():
        draft = db.session.scalar(db.select(Draft).filter_by(token=token))
        return None if draft is None else dict(draft.state)


@pytest.mark.parametrize("page", [1, 2])
def test_wizard_posts_never_fail(make_app: Callable[..., Flask], make_household: Callable[..., Household],
                                 page: int) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, RATE_LIMITS_ENABLED=False)
    with app.app_context():
        from inscriptions.definitions.registry import current_version
        from inscriptions.models import Account
        from inscriptions.portal.wizard import new_state

        household = make_household(children=[("Léa", dt.date(2018, 3, 1))])
        child_id = household.children[0].id
        account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
        version = current_version(registry().get("cantine"))
        state = new_state([f"c{child_id}"], None)
        state["reached"] = page - 1  # the earlier pages were answered: this page is reachable
        draft = Draft(token="f" * 32, account_id=account.id, service_code="cantine", form_version_id=version.id,
                      state=state)
        db.session.add(draft)
        db.session.commit()
        login_id, token = account.get_id(), draft.token
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = login_id
        session["_fresh"] = True
    names = _field_names(child_id)
    form = st.dictionaries(st.sampled_from(names), FORM_VALUE | st.lists(FORM_VALUE, max_size=3), max_size=8)

    @given(data=form)
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def post(data: dict[str, Any]) -> None:
        before = _draft_state(app, token)
        response = client.post(f"/inscription/{token}/etape/{page}", data=data)
        assert response.status_code < 500, response.get_data(as_text=True)[:2000]
        if response.status_code == 400:
            # A control character (NUL...) anywhere: refused at the input boundary, saying why, and
            # nothing of this post is saved.
            assert any(CONTROL.search(text) for text in _texts(data)), data
            assert "caractère de contrôle invisible" in unescape(response.get_data(as_text=True))
            assert _draft_state(app, token) == before
        elif response.status_code == 200:
            # "next" with wrong answers shows the error summary; any other action saved the draft
            # and shows the page again (an unknown action included).
            action = data.get("_action", "next")
            action = action[0] if isinstance(action, list) and action else action
            if action == "next":
                assert 'id="error-summary"' in response.get_data(as_text=True)
            else:
                db_state = _draft_state(app, token)
                assert db_state is not None
        else:
            # Saved, then sent on (next or previous page, the summary, or the start page).
            assert response.status_code in (302, 303), response.status_code
            location = response.headers["Location"]
            assert any(part in location for part in ("/inscription/", "/services/", "/mes-inscriptions")), location

    post()


def _texts(data: dict[str, Any]) -> list[str]:
    """Every key and text value of a posted form."""
    found: list[str] = []
    for key, value in data.items():
        found.append(key)
        found += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return found


@pytest.mark.parametrize("key", ["²", "١", "1²", "-1", " 1"])
def test_group_lines_keyed_by_other_digits_are_answers_not_errors(app: Flask, key: str) -> None:
    """``str.isdigit`` takes "²" (once found by the fuzzing above): the line keys of a group field
    are read as ASCII digits only, and anything else is an answer to validate, never a 500."""
    from inscriptions.digits import is_digits

    assert not is_digits(key) and is_digits("12") and not is_digits("") and not is_digits(12)
    defn = registry().get("cantine").definition
    result = validate_answers(defn, {"pickup": {key: {"name": "Ana"}, "0": {"name": "Bo"}}}, channel="web",
                              files=lambda _token: None)
    assert "pickup" in str(result.errors) or result.values.get("pickup") is not None
