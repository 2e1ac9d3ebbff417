"""Layout, static pages, theme stylesheet and security headers."""

from __future__ import annotations

import pytest
from family_helpers import csrf_token_of, t, text_of
from flask import g
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Account
from inscriptions.site.theme import build_theme, contrast_ratio, darken_until_readable, readable_text_on
from inscriptions.site.views import paragraphs
from inscriptions.town import Colours

PAGES = ["/connexion", "/compte/creer", "/mentions-legales", "/donnees-personnelles", "/accessibilite"]


def test_theme_css_carries_the_town_colours_and_is_cacheable(client, app):
    response = client.get("/theme.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    town = app.extensions["inscriptions.town"]
    assert f"--primary: {town.colours.primary.lower()};" in css
    assert f"--accent: {town.colours.accent.lower()};" in css
    assert "public" in response.headers["Cache-Control"]
    assert "max-age=86400" in response.headers["Cache-Control"]
    again = client.get("/theme.css", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_layout_links_the_theme_with_its_version(client):
    body = text_of(client.get("/connexion"))
    assert '<link rel="stylesheet" href="/static/css/site.css">' in body
    assert '/theme.css?v=' in body
    assert client.get("/static/css/site.css").status_code == 200


def test_unreadable_town_colours_are_corrected(app):
    town = app.extensions["inscriptions.town"].model_copy(
        update={"colours": Colours(primary="#ffdd00", primary_text="#ffffff", accent="#ff9999")}
    )
    css = build_theme(town).css
    assert "--primary: #ffdd00;" in css
    assert "--primary-text: #000000;" in css  # white on yellow fails, black passes
    assert "--error: #b3261e;" in css  # a pale accent is not used for error text
    link = css.split("--link: ")[1].split(";")[0]
    assert contrast_ratio(link, "#ffffff") >= 4.5


@pytest.mark.parametrize("colour", ["#1d4e89", "#ffdd00", "#00ff00", "#777777", "#ffffff"])
def test_darkened_colours_reach_aa(colour):
    assert contrast_ratio(darken_until_readable(colour), "#ffffff") >= 4.5


def test_contrast_helpers():
    assert round(contrast_ratio("#000000", "#ffffff"), 1) == 21.0
    assert readable_text_on("#1d4e89", "#ffffff") == "#ffffff"
    assert readable_text_on("#f0f0f0", "#ffffff") == "#000000"


@pytest.mark.parametrize("url", PAGES)
def test_pages_render_with_the_town_and_the_layout(client, app, url):
    response = client.get(url)
    assert response.status_code == 200
    body = text_of(response)
    town = app.extensions["inscriptions.town"]
    assert '<html lang="fr">' in body
    assert f"– {town.site_title}</title>" in body
    assert '<a class="skip-link" href="#contenu">' in body and 'id="contenu"' in body
    assert 'src="/logo"' in body
    assert town.contact.name in body and town.contact.phone in body and town.contact.hours in body
    assert str(town.contact.email) in body and str(town.dpo.email) in body
    for link in ("/mentions-legales", "/donnees-personnelles", "/accessibilite"):
        assert f'href="{link}"' in body
    # No inline style or script: the CSP forbids them.
    assert "style=" not in body and "<style" not in body and "<script" not in body


@pytest.mark.parametrize("url", ["/", *PAGES, "/theme.css", "/nowhere"])
def test_security_headers(client, url):
    response = client.get(url)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "style-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_legal_texts_come_from_the_town_file(client, app):
    town = app.extensions["inscriptions.town"]
    legal = text_of(client.get("/mentions-legales"))
    assert town.legal_notice.splitlines()[0] in legal
    accessibility = text_of(client.get("/accessibilite"))
    assert town.accessibility_statement.splitlines()[0] in accessibility
    data = text_of(client.get("/donnees-personnelles"))
    assert town.dpo.name in data and "cnil.fr" in data


def test_navigation_for_visitors_and_for_parents(client, make_household, login):
    anonymous = text_of(client.get("/mentions-legales"))
    assert 'href="/connexion"' in anonymous and 'href="/compte/creer"' in anonymous
    assert "/deconnexion" not in anonymous
    login(make_household())
    # The client's requests share the test's app context, where Flask-Login cached the visitor.
    g.pop("_login_user", None)
    parent = text_of(client.get("/mentions-legales"))
    assert 'href="/mon-foyer/"' in parent
    assert 'href="/mes-inscriptions"' in parent or "my_registrations" not in parent
    assert '<form class="main-nav__logout" method="post" action="/deconnexion">' in parent
    assert t("Logged in as %(name)s", name="Camille Martin") in parent
    assert 'href="/connexion"' not in parent


def test_flash_messages_have_roles(client, make_household, login):
    login(make_household())
    client.get("/mon-foyer/")
    page = client.get("/mon-foyer/").get_data(as_text=True)
    assert 'class="flash' not in page
    # A confirmation is a polite status (refusals are alerts: see the household tests).
    token = csrf_token_of(page)
    client.post("/deconnexion", data={"csrf_token": token})
    after = text_of(client.get("/"))
    assert 'class="flash flash--success" role="status"' in after
    assert t("You are logged out.") in after


def test_error_pages_use_the_layout(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    body = text_of(response)
    assert "<h1>" in body and 'class="skip-link"' in body


def test_paragraphs_filter_escapes_town_text():
    html = str(paragraphs("Ligne 1\nLigne <b>2</b>\n\nParagraphe 2"))
    assert html == "<p>Ligne 1<br>\nLigne &lt;b&gt;2&lt;/b&gt;</p>\n<p>Paragraphe 2</p>\n"


def test_server_error_pages_do_not_touch_the_account(make_app, make_household):
    """A 503 comes from an overloaded database: its page must not query it again for the menu."""
    from inscriptions.database import BusyError

    app = make_app()

    @app.get("/busy-for-test")
    def busy() -> str:
        raise BusyError()

    household = make_household()
    account = db.session.scalar(select(Account).filter_by(guardian_id=household.guardians[0].id))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = account.get_id()
    response = client.get("/busy-for-test")
    assert response.status_code == 503
    body = text_of(response)
    assert "/deconnexion" not in body and "/connexion" not in body
    assert 'href="/mentions-legales"' in body
