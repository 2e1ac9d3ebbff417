"""The privacy notice says what the settings say; the family and DPO links are where expected."""

from __future__ import annotations

from flask import url_for


def test_privacy_notice_reads_the_retention_settings(app, client) -> None:
    page = client.get("/donnees-personnelles").get_data(as_text=True)
    assert 'id="retention-table"' in page and 'data-months="12"' in page  # the test service
    assert 'id="retention-accounts" data-days="730"' in page
    assert 'id="retention-audit" data-months="12"' in page
    app.config.update(ACCOUNT_INACTIVE_DAYS=365, AUDIT_RETENTION_MONTHS=6)
    page = client.get("/donnees-personnelles").get_data(as_text=True)
    assert 'id="retention-accounts" data-days="365"' in page
    assert 'id="retention-audit" data-months="6"' in page


def test_household_page_links_to_my_data(client, make_household, login) -> None:
    login(make_household())
    page = client.get("/mon-foyer/").get_data(as_text=True)
    assert 'id="my-data-link" href="/mon-foyer/donnees/"' in page


def test_back_office_shows_the_audit_log_link_to_the_dpo_only(app, client, staff, login_as) -> None:
    home = url_for("backoffice.home")
    login_as(staff("dpo"))
    response = client.get(home)
    assert response.status_code == 200
    assert '<a href="/dpo/journal" id="nav-audit-log">' in response.get_data(as_text=True)
    login_as(staff("manager", "atelier"))
    response = client.get(home)
    assert response.status_code == 200
    assert 'id="nav-audit-log"' not in response.get_data(as_text=True)
