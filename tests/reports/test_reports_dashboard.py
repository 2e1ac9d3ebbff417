"""The dashboard: registrations per day, fill per session, channel mix, each chart a server-side SVG with
its table, nothing inline for the CSP; and who may open which report."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from reports_helpers import POOL

from inscriptions.extensions import db

TODAY = dt.datetime(2026, 9, 15, 8, 0)


@pytest.fixture
def pool(make_household, book) -> None:  # type: ignore[no-untyped-def]
    """Pool registrations over three days, sessions and channels."""

    def reg(last: str, children: int, session: str, status: str, channel: str, days_ago: int) -> None:
        kids = [(f"Enfant{n}", dt.date(2017, 1, 1 + n)) for n in range(children)]
        household = make_household(last_name=last, children=kids)
        book(household, "piscine", POOL, session=session, status=status, channel=channel,
             created_at=TODAY - dt.timedelta(days=days_ago))

    reg("Martin", 2, "mer-14h", "accepted", "web", 0)  # two registrations today
    reg("Durand", 1, "mer-14h", "submitted", "counter", 0)
    reg("Petit", 1, "mer-14h", "waitlisted", "paper", 2)
    reg("Roux", 1, "sam-10h", "accepted", "phone", 2)
    reg("Blanc", 1, "sam-10h", "cancelled", "web", 40)  # before the 30 days shown


def _cells(html: str, attr: str, value: str) -> str:
    match = re.search(rf'<tr {attr}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert match, f"no row {attr}={value}"
    return match.group(1)


def test_dashboard_figures(client, staff, login_as, pool) -> None:
    login_as(staff("agent", "piscine"))
    response = client.get("/gestion/piscine/rapports")
    assert response.status_code == 200
    html = response.get_data(as_text=True)

    # Registrations per day, local days, the last 30 days ending today.
    assert re.search(r'<td class="num">(\d+)</td>', _cells(html, "data-day", "2026-09-15")).group(1) == "3"
    assert re.search(r'<td class="num">(\d+)</td>', _cells(html, "data-day", "2026-09-13")).group(1) == "2"
    assert re.search(r'<td class="num">(\d+)</td>', _cells(html, "data-day", "2026-09-14")).group(1) == "0"
    assert 'data-day="2026-08-17"' in html and 'data-day="2026-08-16"' not in html

    # Fill: places held (submitted, accepted, offered) over capacity; waiting entries apart.
    mer = _cells(html, "data-session", "mer-14h")
    assert "<td class=\"num\" data-held>3</td>" in mer
    assert "<td class=\"num\" data-percent>38 %</td>" in mer  # 3 of 8
    assert "<td class=\"num\" data-accepted>2</td>" in mer
    assert "<td class=\"num\" data-waiting>1</td>" in mer
    sam = _cells(html, "data-session", "sam-10h")
    assert "data-held>1</td>" in sam and "data-percent>10 %</td>" in sam
    assert "data-held>0</td>" in _cells(html, "data-session", "mer-15h")

    # Channel mix: every channel, those never used included.
    counts = {ch: re.search(r"data-count>(\d+)<", _cells(html, "data-channel", ch)).group(1)
              for ch in ("web", "counter", "paper", "phone", "mail", "api")}
    assert counts == {"web": "3", "counter": "1", "paper": "1", "phone": "1", "mail": "0", "api": "0"}
    assert re.search(r"data-total>(\d+)<", html).group(1) == "6"


def test_charts_are_svg_with_tables_and_nothing_inline(client, staff, login_as, pool) -> None:
    login_as(staff("manager", "piscine"))
    response = client.get("/gestion/piscine/rapports")
    html = response.get_data(as_text=True)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for chart, table in (("chart-per-day", "per-day-table"), ("chart-fill", "fill-table"),
                         ("chart-channels", "channel-table")):
        assert re.search(rf'<svg class="chart" id="{chart}"[^>]*role="img" aria-labelledby="{chart}-title"', html)
        assert f'<title id="{chart}-title">' in html
        assert f'id="{table}"' in html
    # A strict CSP blocks inline styles and scripts: the page has none.
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
    assert " on" + "click=" not in html
    # The web channel's bar: 3 of 6 registrations, the longest bar.
    assert 'data-value="3"' in html


def test_dashboard_of_a_service_without_sessions(client, staff, login_as) -> None:
    login_as(staff("manager", "cantine"))
    html = client.get("/gestion/cantine/rapports").get_data(as_text=True)
    assert 'id="chart-fill"' not in html
    assert 'href="/gestion/cantine/rapports/comptages?report=repas"' in html
    assert 'id="export-form"' in html


def test_export_form_only_for_those_who_may_export(client, staff, login_as) -> None:
    login_as(staff("agent", "cantine"))
    html = client.get("/gestion/cantine/rapports").get_data(as_text=True)
    assert 'id="export-form"' not in html


# -- who may open what ---------------------------------------------------------------------------------

URLS = {
    "dashboard": "/gestion/piscine/rapports",
    "counts": "/gestion/piscine/rapports/comptages?group=level",
    "counts_csv": "/gestion/piscine/rapports/comptages.csv?group=level",
    "attendance": "/gestion/piscine/rapports/seances/mer-14h/presence.pdf",
    "export_csv": "/gestion/piscine/rapports/export.csv",
    "export_xlsx": "/gestion/piscine/rapports/export.xlsx",
}
READ = ("dashboard", "counts", "counts_csv", "attendance")
EXPORT = ("export_csv", "export_xlsx")
EXPECTED = {
    "anonymous": dict.fromkeys(URLS, 302),
    "parent": dict.fromkeys(URLS, 403),
    "agent_piscine": {**dict.fromkeys(READ, 200), **dict.fromkeys(EXPORT, 403)},
    "agent_cantine": dict.fromkeys(URLS, 403),
    "manager_piscine": dict.fromkeys(URLS, 200),
    "manager_cantine": dict.fromkeys(URLS, 403),
    "admin": dict.fromkeys(URLS, 200),
    "dpo": dict.fromkeys(URLS, 403),
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_access_per_role(who: str, client, staff, login_as, login, make_household) -> None:
    if who == "parent":
        login(make_household())
    elif who != "anonymous":
        role, _sep, service = who.partition("_")
        login_as(staff(role, service or None))
    got = {name: client.get(url).status_code for name, url in URLS.items()}
    assert got == EXPECTED[who]
    if who == "anonymous":
        assert client.get(URLS["export_csv"]).headers["Location"].startswith("/connexion")
    db.session.rollback()


def test_unknown_service_is_not_found(client, staff, login_as) -> None:
    login_as(staff("admin"))
    assert client.get("/gestion/nope/rapports").status_code == 404
    assert client.get("/gestion/nope/rapports/export.csv").status_code == 404


def test_back_office_links_to_the_reports(client, staff, login_as) -> None:
    login_as(staff("agent", "piscine"))
    html = client.get("/gestion/").get_data(as_text=True)
    assert 'href="/gestion/piscine/rapports" data-link="reports"' in html
    assert 'href="/gestion/cantine/rapports"' not in html
    html = client.get("/gestion/piscine/rapports").get_data(as_text=True)
    assert re.search(r'href="/gestion/piscine/rapports" data-nav="reports"\s*aria-current="page"', html)
