"""One input boundary (inscriptions.boundary): NUL and control characters refused with a clear
400, bidirectional overrides removed, text in NFC, JSON depth limited; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Callable
from html import unescape

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage

from inscriptions.boundary import MAX_JSON_DEPTH, BadInput, clean_text, load_json
from inscriptions.extensions import db
from inscriptions.models import Household

REFUSED = "caractère de contrôle invisible"


def test_clean_text() -> None:
    decomposed = unicodedata.normalize("NFD", "Hélène Bénédicte")
    assert decomposed != "Hélène Bénédicte" and clean_text(decomposed) == "Hélène Bénédicte"
    assert clean_text("Dupont\u202e\u2066 alias") == "Dupont alias"  # overrides and isolates removed
    assert clean_text("deux lignes\r\net une tabulation\t") == "deux lignes\r\net une tabulation\t"
    for bad in ("a\x00b", "\x01", "x\x1b[31m", "\x7f", "\x0b", "\x0c"):
        with pytest.raises(BadInput):
            clean_text(bad)


def test_load_json() -> None:
    assert load_json('{"nom": "Zoe\u0301"}'.encode()) == {"nom": "Zoé"}
    with pytest.raises(BadInput):
        load_json(b'{"note": "a\\u0000b"}')
    with pytest.raises(BadInput):
        load_json(b'{"a\\u0000": 1}')
    with pytest.raises(ValueError, match="deeper"):
        load_json(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    deep_but_fine = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert load_json(deep_but_fine) is not None
    # Brackets inside strings are text, not nesting.
    assert load_json(json.dumps({"t": "[" * 100}).encode()) == {"t": "[" * 100}
    with pytest.raises(ValueError):
        load_json(b'{"x": NaN}')


@pytest.fixture
def site(make_app: Callable[..., Flask]) -> Flask:
    return make_app(WTF_CSRF_ENABLED=False, RATE_LIMITS_ENABLED=False)


def test_a_nul_in_a_form_or_a_query_is_a_clear_400(site: Flask, app: Flask, make_household) -> None:  # type: ignore[no-untyped-def]
    client = site.test_client()
    response = client.post("/connexion", data={"email": "parent\x00@example.fr", "password": "x"})
    assert response.status_code == 400 and REFUSED in unescape(response.get_data(as_text=True))
    response = client.get("/services?q=%00")
    assert response.status_code in (400, 404)
    response = client.get("/?x=a%00b")
    assert response.status_code == 400 and REFUSED in unescape(response.get_data(as_text=True))


def test_a_household_address_is_normalised_and_a_nul_saves_nothing(  # type: ignore[no-untyped-def]
        site: Flask, app: Flask, make_household, login) -> None:
    household = make_household()
    db.session.commit()
    client = site.test_client()
    from inscriptions.models import Account

    account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    with client.session_transaction() as session:
        session["_user_id"] = account.get_id()
    street = unicodedata.normalize("NFD", "12 rue de l'Église") + "\u202e"
    response = client.post("/mon-foyer/adresse", data={
        "address_line1": street, "address_line2": "", "postcode": "99990", "city": "Villebelle",
        "quotient_familial": "640"})
    location = response.headers["Location"]
    assert response.status_code == 302 and "/connexion" not in location, location
    db.session.rollback()  # end the test's read: see what the site committed
    assert db.session.get(Household, household.id).address_line1 == "12 rue de l'Église"
    refused = client.post("/mon-foyer/adresse", data={
        "address_line1": "1 rue\x00 Haute", "address_line2": "", "postcode": "99990", "city": "Villebelle",
        "quotient_familial": "700"})
    assert refused.status_code == 400 and REFUSED in unescape(refused.get_data(as_text=True))
    db.session.rollback()  # end the test's read: see what the site committed
    saved = db.session.get(Household, household.id)
    assert saved.address_line1 == "12 rue de l'Église" and saved.quotient_familial == 640


def test_a_file_name_with_a_nul_is_refused(site: Flask, app: Flask) -> None:  # type: ignore[no-untyped-def]
    client = site.test_client()
    response = client.post("/connexion", data={
        "email": "a@example.fr", "password": "x",
        "file": FileStorage(io.BytesIO(b"%PDF-1.4"), filename="certificat\x00.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 400


def test_the_api_refuses_nul_and_deep_json_with_json_errors(site: Flask, app: Flask, make_household) -> None:  # type: ignore[no-untyped-def]
    from inscriptions.api.tokens import issue_token
    from inscriptions.models import Account

    household = make_household()
    account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    token = issue_token(account, "test")
    db.session.commit()
    client = site.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get("/api/v1/registrations?service=cantine%00", headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_text"
    response = client.post("/api/v1/applications", headers=headers, content_type="application/json",
                           data='{"service": "cantine", "note": "a\\u0000b"}')
    # Valid JSON, a text that cannot be kept: 422, as any other refused value.
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_text"
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/applications", headers=headers, content_type="application/json", data=deep)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


EXTREME_DATES = [("0001-01-01", "9999-12-31"), ("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-02"),
                 ("٢٠٢٦-٠٩-١٤", "2026-09-20")]


@pytest.mark.parametrize(("start", "end"), EXTREME_DATES)
def test_staff_filters_with_extreme_dates_never_fail(  # type: ignore[no-untyped-def]
        client, staff, login_as, start: str, end: str) -> None:
    login_as(staff("manager", "cantine"))
    pages = [
        f"/gestion/cantine/?from={start}&to={end}",
        f"/gestion/cantine/rapports/comptages?from={start}&to={end}",
        f"/gestion/cantine/rapports/comptages.csv?from={start}&to={end}",
        f"/gestion/cantine/rapports/attribution?from={start}&to={end}",
        f"/gestion/cantine/rapports/attribution.csv?from={start}&to={end}",
        f"/gestion/cantine/rapports/export.csv?from={start}&to={end}",
        f"/gestion/cantine/courriers?since={start}",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code < 500, page
    login_as(staff("dpo", None))
    for page in (f"/dpo/journal?since={start}&until={end}", f"/dpo/journal.csv?since={start}&until={end}"):
        response = client.get(page)
        assert response.status_code < 500, page
