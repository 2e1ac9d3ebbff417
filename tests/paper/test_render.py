"""Rendered PDFs: QR codes decode to their payload, prefilled forms show the family, logos and fonts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paper_helpers import ink, page_count, page_texts, rasterise, read_qr

from inscriptions.definitions.registry import current_version, registry
from inscriptions.paper import tokens as T
from inscriptions.paper.fonts import pdf_text
from inscriptions.paper.layout import layout_for
from inscriptions.paper.logo import UnsupportedSvg, load_logo, parse_svg
from inscriptions.paper.render import comb_characters, prefill_values, render_one


def test_every_page_qr_decodes_to_its_payload(app: Any, tmp_path: Path) -> None:
    for code in ("cantine", "piscine"):
        version = current_version(registry().get(code))
        token, path = render_one(version, tmp_path / f"{code}.pdf")
        layout = layout_for(version)
        assert page_count(path) == layout.page_count
        texts = page_texts(path)
        for index in range(layout.page_count):
            image = rasterise(path, index, dpi=200)
            decoded = read_qr(image, layout)
            assert decoded == [T.payload(token, index + 1, layout.page_count)]
            ref = T.parse_payload(decoded[0])
            assert (ref.token.token, ref.page, ref.total) == (token, index + 1, layout.page_count)
            assert ref.token.household_id is None  # a blank form
            # The human-readable code is printed under it, and the four corner marks are solid.
            assert T.human_code(token, index + 1) in texts[index]
            assert all(ink(image, mark, inset=0.5) > 0.95 for mark in layout.marks)


def test_empty_boxes_are_empty_and_prefilled_ticks_are_ink(app: Any, tmp_path: Path,
                                                           make_household: Callable[..., Any]) -> None:
    household = make_household(children=[("Léa", dt.date(2018, 3, 1))])
    version = current_version(registry().get("cantine"))
    _token, blank = render_one(version, tmp_path / "blank.pdf")
    _token, filled = render_one(version, tmp_path / "filled.pdf", household=household,
                                child=household.children[0], earlier={"days": ["mon", "fri"], "diet": "sans_porc"})
    layout = layout_for(version)
    images = {name: [rasterise(p, i) for i in range(layout.page_count)] for name, p in
              (("blank", blank), ("filled", filled))}
    for page, box in layout.boxes():
        if box.kind != "checkbox":
            continue
        assert ink(images["blank"][page - 1], box.rect) < 0.01, box
        ticked = (box.field, box.value) in {("days", "mon"), ("days", "fri"), ("diet", "sans_porc")}
        assert (ink(images["filled"][page - 1], box.rect) > 0.05) is ticked, box


def test_prefilled_form_shows_the_family(app: Any, tmp_path: Path, make_household: Callable[..., Any]) -> None:
    household = make_household(last_name="Lefèvre", children=[("Zoé", dt.date(2019, 5, 23))], email=None,
                               with_account=False)
    household.guardians[0].phone = "+33612345678"
    household.address_line2 = "Bâtiment Œillet"
    version = current_version(registry().get("cantine"))
    token, path = render_one(version, tmp_path / "prefilled.pdf", household=household,
                             child=household.children[0])
    text = "\n".join(page_texts(path))
    for expected in ("Lefèvre", "Camille", "Zoé", "rue des Écoles", "Bâtiment Œillet", "Villebelle",
                     "École Jules-Ferry", "CE1"):
        assert expected in text, expected
    layout = layout_for(version)
    values = prefill_values(layout, household, household.children[0])
    assert values["participant.birth_date"] == dt.date(2019, 5, 23)
    assert comb_characters("date", values["participant.birth_date"], 8) == "23052019"
    assert comb_characters("phone", values["household.phone"], 10) == "0612345678"
    # The token remembers whom the form was printed for.
    ref = T.parse_payload(T.payload(token, 1, layout.page_count))
    assert (ref.token.household_id, ref.token.child_id) == (household.id, household.children[0].id)


def test_earlier_answers_skip_sensitive_and_removed_choices(app: Any, make_household: Callable[..., Any]) -> None:
    household = make_household()
    layout = layout_for(current_version(registry().get("cantine")))
    earlier = {"days": ["mon", "wed", "thu"], "diet": "halal", "allergy": True, "pai_details": "arachides",
               "pickup": [{"name": "Mamie Jo", "phone": "0611223344"}], "rules": True}
    values = prefill_values(layout, household, household.children[0], earlier)
    assert values["days"] == ["mon", "thu"]  # "wed" is not offered by this version
    assert "diet" not in values  # not a choice of this version
    assert "allergy" not in values and "pai_details" not in values  # health data is never reprinted
    assert "rules" not in values  # a consent is given anew, never pre-ticked
    assert values["pickup.0.name"] == "Mamie Jo" and values["pickup.0.phone"] == "0611223344"


def test_adult_service_prefills_the_guardian(app: Any, make_household: Callable[..., Any]) -> None:
    household = make_household()
    household.guardians[0].birth_date = dt.date(1985, 1, 2)
    # The demo has no adult service: take a layout and make it an adult one.
    layout = layout_for(current_version(registry().get("cinema"))).model_copy(update={"participant": "adult"})
    values = prefill_values(layout, household)
    assert values["participant.first_name"] == "Camille"
    assert values["participant.birth_date"] == dt.date(1985, 1, 2)


def test_town_logo_svg_subset(app: Any, tmp_path: Path) -> None:
    town = app.extensions["inscriptions.town"]
    logo = load_logo(town)
    assert logo is not None and len(logo.shapes) == 2  # the demo logo: a square and a building
    assert parse_svg('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
                     '<path d="M1 1 h8 v8 h-8 z m2 2 c1 0 2 1 2 2 s1 2 2 2 q1 1 2 2 Z" fill="#abc"/></svg>').shapes
    for unsupported in ('<svg xmlns="http://www.w3.org/2000/svg"><text>V</text></svg>',
                        '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 A 5 5 0 0 1 10 10"/></svg>',
                        '<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5" fill="url(#g)"/></svg>',
                        '<svg xmlns="http://www.w3.org/2000/svg"><g transform="scale(2)"><rect/></g></svg>'):
        try:
            parse_svg(unsupported)
        except UnsupportedSvg:
            continue
        raise AssertionError(unsupported)
    # An unusable logo is skipped (the town name is printed alone), never an error.
    bad = tmp_path / "logo.svg"
    bad.write_text('<svg xmlns="http://www.w3.org/2000/svg"><text>V</text></svg>')
    assert load_logo(town.model_copy(update={"logo": str(bad)})) is None


def test_french_text_prints_in_the_standard_fonts(app: Any, tmp_path: Path) -> None:
    assert pdf_text("Œuvre « bœuf » – 3,50 € l’unité") == "Œuvre « bœuf » – 3,50 € l’unité"
    assert pdf_text("Prix\u202f: 5\u2009€ ✓ Łódź") == "Prix\u00a0: 5 € x Lódz"
