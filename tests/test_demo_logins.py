"""The demo log-ins printed in the README must work on the demo data."""

from __future__ import annotations

import re

import pytest
from flask import g

from inscriptions.demo import load_demo
from inscriptions.settings import PROJECT_ROOT

ROW = re.compile(r"^\|[^|]*\| `([^`]+@[^`]+)` \| `([^`]+)` \|$", re.M)


STAFF_ROW = re.compile(r"^\|[^|]*\| `([^`]+@[^`]+)` \| `([^`]+)` \| `(/[^`]*)` \|$", re.M)


def _demo_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("### Demo log-ins", 1)[1].split("\n## ", 1)[0]


def readme_staff_logins() -> list[tuple[str, str, str]]:
    return STAFF_ROW.findall(_demo_section())


def readme_logins() -> list[tuple[str, str]]:
    section = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split("### Demo log-ins", 1)[1]
    return ROW.findall(section.split("\n## ", 1)[0])


def test_readme_lists_demo_logins():
    assert len(readme_logins()) >= 2


@pytest.mark.parametrize("email,password", readme_logins())
def test_demo_login_from_the_readme_works(app, client, email, password):
    load_demo()
    g.pop("_login_user", None)
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/connexion", data={"csrf_token": token, "email": email, "password": password})
    assert response.status_code == 302
    mine = client.get("/mes-inscriptions")
    assert mine.status_code == 200


def test_readme_lists_staff_logins():
    assert {email.split("@")[0] for email, _p, _page in readme_staff_logins()} >= {
        "agent.cantine", "responsable.piscine", "dsi", "dpo"}


@pytest.mark.parametrize("email,password,first_page", readme_staff_logins())
def test_demo_staff_login_from_the_readme_opens_its_page(app, client, email, password, first_page):
    load_demo()
    g.pop("_login_user", None)
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/connexion", data={"csrf_token": token, "email": email, "password": password})
    assert response.status_code == 302
    assert client.get(first_page).status_code == 200


def test_demo_load_twice_changes_nothing_for_staff(app):
    load_demo()
    again = [line for line in load_demo() if line.startswith("staff ")]
    assert len(again) == 4 and all(line.endswith("already present") for line in again)
