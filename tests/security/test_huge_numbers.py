"""Numbers longer than any id or page in filters and page links: an answer, never a 500 (the
URL-map fuzz found them on PostgreSQL, whose integer columns refuse such values)."""

from __future__ import annotations

BIG = "9" * 60


def test_the_journal_filters_take_any_number(client, staff, login_as) -> None:
    login_as(staff("dpo"))
    assert client.get("/dpo/journal", query_string={"actor": BIG}).status_code == 200
    page = client.get("/dpo/journal", query_string={"household": BIG})
    assert page.status_code == 200
    assert "numéro de foyer" in page.get_data(as_text=True)  # said so, filter left out
    assert client.get("/dpo/journal", query_string={"page": BIG}).status_code == 200


def test_lists_take_any_page_number(client, staff, login_as) -> None:
    login_as(staff("manager", "cantine"))
    assert client.get("/gestion/cantine/", query_string={"page": BIG}).status_code == 200
    assert client.get("/gestion/cantine/rapports/attribution", query_string={"page": BIG}).status_code == 200


def test_the_dpo_pages_take_digits_that_are_not_ascii(client, staff, login_as) -> None:
    # "²".isdigit() is true, yet int("²") fails: found by the URL-map fuzz on the erasure page.
    login_as(staff("dpo"))
    for value in ("²", "٣", BIG):
        assert client.get("/dpo/effacement-foyer", query_string={"household": value}).status_code == 404
        assert client.get("/dpo/donnees-foyer", query_string={"household": value}).status_code == 200
