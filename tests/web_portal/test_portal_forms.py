"""Forms generated from a definition: every field type, raw answers, errors put back on fields."""

from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

from inscriptions.definitions.registry import registry
from inscriptions.forms import web
from inscriptions.forms.validation import validate_answers


def _tous():  # type: ignore[no-untyped-def]
    return registry().get("tous").definition


def _input(html: str, name: str) -> str:
    """The HTML of the input (or textarea) named ``name``."""
    found = re.search(rf'<(?:input|textarea)[^>]*name="{re.escape(name)}"[^>]*>', html)
    assert found, name
    return found.group(0)


def test_every_field_type_is_rendered(client, portal, logged_in):
    child = logged_in.children[0]
    p = f"c{child.id}"
    token = portal.start("tous", participant=[p])
    html = client.get(f"/inscription/{token}/etape/1").get_data(as_text=True)

    assert 'type="text"' in _input(html, f"{p}-nickname") and 'maxlength="30"' in _input(html, f"{p}-nickname")
    assert 'aria-required="true"' in _input(html, f"{p}-nickname")
    assert _input(html, f"{p}-story").startswith("<textarea")
    assert 'type="email"' in _input(html, f"{p}-mail")
    assert 'type="tel"' in _input(html, f"{p}-tel") and 'inputmode="tel"' in _input(html, f"{p}-tel")
    assert 'inputmode="numeric"' in _input(html, f"{p}-cp")
    day = _input(html, f"{p}-day")
    assert 'type="date"' in day and 'min="2026-01-01"' in day and 'max="2027-12-31"' in day
    count = _input(html, f"{p}-count")
    assert 'type="number"' in count and 'min="0"' in count and 'max="9"' in count
    # Radio and checkbox lists are fieldsets with a legend, each option with its own label.
    assert re.search(r'<fieldset[^>]*>\s*<legend class="label">Couleur', html)
    assert 'type="radio"' in _input(html, f"{p}-colour")
    assert f'<label class="choice__label" for="{p}-colour-1">Bleu' in html
    assert 'type="checkbox"' in _input(html, f"{p}-sports")
    assert f'for="{p}-days-0">Lundi' in html and f'for="{p}-days-1">Mercredi' in html
    assert f'for="{p}-helmet-0">Oui' in html and f'for="{p}-helmet-1">Non' in html
    assert 'type="checkbox"' in _input(html, f"{p}-agree")
    doc = _input(html, f"{p}-doc")
    assert 'type="file"' in doc and 'accept=".pdf,application/pdf"' in doc
    assert 'enctype="multipart/form-data"' in html
    # A group shows all its rows, no script needed to add one.
    for row in range(3):
        assert f'name="{p}-people-{row}-name"' in html and f'name="{p}-people-{row}-phone"' in html
    assert "Personne 3</legend>" in html
    # Conditions in words, and the privacy note on a sensitive field.
    assert "Seulement si vous avez répondu « Bleu » à la question « Couleur »<" in html
    assert "Seulement si vous avez coché « Judo » à la question « Sports »<" in html
    assert f'id="{p}-helmet-private"' in html and "seuls les agents qui en ont besoin voient cette réponse" in html
    assert re.search(rf'<fieldset[^>]*aria-describedby="{p}-helmet-private"', html)


def test_condition_on_a_multiple_choice(client, portal, logged_in):
    child = logged_in.children[0]
    p = f"c{child.id}"
    token = portal.start("tous", participant=[p])
    response = portal.page(token, 1, {f"{p}-nickname": "Lulu", f"{p}-sports": ["judo", "foot"]})
    assert response.status_code == 200
    assert f'href="#{p}-belt"' in response.get_data(as_text=True)
    response = portal.page(token, 1, {f"{p}-nickname": "Lulu", f"{p}-sports": ["foot"], f"{p}-belt": "x"})
    assert response.status_code == 302
    assert portal.draft_state(token)["each"][p]["sports"] == ["foot"]


def test_raw_answers_round_trip(app):
    defn = _tous()
    cls = web.page_form_class(defn, 0)
    formdata = MultiDict([
        ("c1-nickname", "Lulu"), ("c1-count", "abc"), ("c1-colour", "blue"), ("c1-sports", "judo"),
        ("c1-sports", "foot"), ("c1-helmet", "no"), ("c1-agree", "y"), ("c1-doc-kept", "tok"),
        ("c1-people-1-name", "Paul"), ("c1-people-1-phone", "0612345678"),
    ])
    form = web.build_form(cls, prefix="c1", formdata=formdata)
    raw, upload_errors = web.form_to_raw(form)
    assert upload_errors == {}
    assert raw["nickname"] == "Lulu" and raw["count"] == "abc"  # kept as typed, never coerced
    assert raw["sports"] == ["judo", "foot"] and raw["helmet"] == "no" and raw["agree"] == "y"
    assert raw["doc"] == "tok"  # the file already sent stays
    assert raw["days"] == [] and raw["story"] == ""
    # Blank rows are dropped and later rows move up.
    assert raw["people"] == [{"name": "Paul", "phone": "0612345678"}]

    again = web.build_form(cls, prefix="c1", raw=raw)
    assert again["nickname"].data == "Lulu" and again["sports"].data == ["judo", "foot"]
    assert again["helmet"].data == "no" and again["agree"].data is True
    assert again["doc-kept"].data == "tok"
    assert again["people"].entries[0].form["name"].data == "Paul"
    assert len(again["people"].entries) == 3

    # Clean values (booleans, lists) show again too.
    clean = web.build_form(cls, prefix="", raw={"helmet": True, "agree": True, "days": ["wed"]})
    assert clean["helmet"].data == "yes" and clean["days"].data == ["wed"]


def test_removing_a_file(app):
    cls = web.page_form_class(_tous(), 0)
    form = web.build_form(cls, formdata=MultiDict([("doc-kept", "tok"), ("doc-remove", "y")]))
    raw, _ = web.form_to_raw(form)
    assert raw["doc"] == ""


def test_validation_errors_go_back_on_their_fields(app):
    defn = _tous()
    form = web.build_form(web.page_form_class(defn, 0), prefix="c1", raw={
        "count": "abc", "people": [{"name": "", "phone": "0612345678"}, {"name": "Zoé", "phone": "12"}],
    })
    result = validate_answers(defn, web.form_to_raw(form)[0], channel="web", pages=[0])
    left = web.apply_errors(form, {**result.errors, "elsewhere": "Not on this page"})
    assert left == {"elsewhere": "Not on this page"}
    assert form["nickname"].errors == ["Cette réponse est obligatoire."]
    assert form["count"].errors == ["Écrivez un nombre entier."]
    assert form["people"].entries[0].form["name"].errors == ["Cette réponse est obligatoire."]
    assert form["people"].entries[1].form["phone"].errors
    links = web.error_links(form, "Léa")
    targets = [link.target for link in links]
    assert targets == ["c1-nickname", "c1-count", "c1-people-0-name", "c1-people-1-phone"]
    assert links[0].text.startswith("Léa – Surnom")
    assert "Personne 2 – Téléphone" in links[3].text


def test_answers_in_words(app):
    defn = _tous()
    values = {"colour": "blue", "shade": "marine", "sports": ["foot"], "days": ["mon", "wed"],
              "helmet": False, "agree": True, "day": "2026-10-01", "doc": "tok",
              "people": [{"name": "Paul", "phone": "06 12 34 56 78"}]}
    words = {a.name: a for a in web.answers_in_words(defn.form.pages[0].fields, values, file_names={"tok": "a.pdf"})}
    assert words["colour"].text == "Bleu" and words["shade"].text == "marine"
    assert words["sports"].text == "Football" and words["days"].text == "Lundi, Mercredi"
    assert words["helmet"].text == "Non" and words["helmet"].sensitive
    assert words["agree"].text == "Oui, j'accepte"
    assert "2026" in words["day"].text and "-" not in words["day"].text
    assert words["doc"].text == "a.pdf" and words["doc"].file_token == "tok"
    assert words["people"].rows[0][0].text == "Paul"
    assert words["nickname"].text == "Pas de réponse"
    # A hidden conditional field is not listed.
    assert "belt" not in words
