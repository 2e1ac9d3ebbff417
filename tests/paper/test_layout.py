"""Paper layouts: every field gets its boxes, nothing overlaps or leaves the page, frozen per version."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from flask_babel import gettext as _
from paper_helpers import EVERY_TYPE, every_type_definition, overlaps
from sqlalchemy import func, select

from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import PaperLayout
from inscriptions.paper import layout as L
from inscriptions.paper.fonts import width_mm
from inscriptions.paper.layout import FormLayout, compute_layout, layout_for, stored_layout

SERVICES = ("cantine", "piscine", "cinema", "loisirs")


def all_layouts() -> list[FormLayout]:
    layouts = [compute_layout(registry().get(code).definition, code, 1) for code in SERVICES]
    return [*layouts, compute_layout(every_type_definition(), "every", 1)]


def boxes_of(layout: FormLayout, field: str) -> list[Any]:
    return [box for _page, box in layout.boxes() if box.field == field]


def text_rect(text: Any) -> tuple[float, float, float, float]:
    """Approximate ink rectangle of a text item (ascent 0.72 em, descent 0.21 em)."""
    em = text.size * 25.4 / 72
    width = width_mm(text.text, text.style, text.size)
    x = {"left": text.x, "right": text.x - width, "centre": text.x - width / 2}[text.align]
    return (x, text.y - 0.72 * em, width, 0.93 * em)


def test_the_same_definition_gives_the_same_layout(app: Any) -> None:
    for code in SERVICES:
        defn = registry().get(code).definition
        first = json.dumps(compute_layout(defn, code, 1).to_json(), sort_keys=True)
        assert json.dumps(compute_layout(defn, code, 1).to_json(), sort_keys=True) == first
    # JSON round trip keeps everything.
    layout = compute_layout(every_type_definition(), "every", 1)
    assert FormLayout.from_json(json.loads(json.dumps(layout.to_json()))) == layout


def test_every_field_type_has_its_boxes(app: Any) -> None:
    layout = compute_layout(every_type_definition(), "every", 1)
    kinds = {box.field: box.kind for _page, box in layout.boxes()}

    def values(field: str) -> list[Any]:
        found = boxes_of(layout, field)
        assert found and all(box.kind == "checkbox" for box in found), field
        return [box.value for box in found]

    assert values("one") == ["a", "b", "c"]
    assert values("many") == ["x", "y"]
    assert values("days") == ["mon", "wed", "fri"]
    assert values("care") == [True, False]
    assert values("rules") == [True]
    assert values("certificate") == ["attached"]
    assert values("session") == ["s1", "s2"]
    text = {name: boxes_of(layout, name)[0] for name in ("nickname", "care_details", "mail")}
    assert all(box.kind == "text" for box in text.values())
    assert text["nickname"].lines == 1
    assert text["care_details"].lines >= 3
    assert text["mail"].rect[2] >= 150  # an e-mail gets a long box
    combs = {name: boxes_of(layout, name)[0] for name in ("birth", "phone", "zip", "seats")}
    assert {name: (box.format, len(box.cells)) for name, box in combs.items()} == {
        "birth": ("date", 8), "phone": ("phone", 10), "zip": ("postcode", 5), "seats": ("integer", 2)}
    # Repeated group: one line per item, named by index.
    for i in range(2):
        assert kinds[f"contacts.{i}.name"] == "text"
        assert kinds[f"contacts.{i}.phone"] == "comb"
    assert "contacts.2.name" not in kinds
    # The engine's own blocks.
    for path in ("household.last_name", "household.first_name", "household.address_line1", "household.city",
                 "household.email", "participant.last_name", "participant.first_name", "participant.school",
                 "participant.class_name"):
        assert kinds[path] == "text", path
    assert boxes_of(layout, "household.postcode")[0].format == "postcode"
    assert boxes_of(layout, "household.phone")[0].format == "phone"
    assert boxes_of(layout, "participant.birth_date")[0].format == "date"
    assert kinds["signature"] == "signature"
    assert boxes_of(layout, "signature.date")[0].format == "date"
    # Every box has a field description, and every field of the definition is described.
    described = {info.path for info in layout.fields}
    assert set(kinds) <= described
    info = layout.field("care_details")
    assert info.sensitive and info.show_if == {"field": "care", "equals": True} and info.each_participant
    assert layout.field("one").select == "one" and layout.field("many").select == "many"
    assert layout.field("mail").each_participant is False
    assert layout.field("contacts.1.phone").group == "contacts"
    ids = [box.id for _page, box in layout.boxes()]
    assert len(ids) == len(set(ids))


def test_questions_are_numbered_and_conditions_printed(app: Any) -> None:
    layout = compute_layout(every_type_definition(), "every", 1)
    care, details = layout.field("care"), layout.field("care_details")
    assert care.number is not None and details.number == care.number + 1
    expected = _("Answer question %(this)s only if you ticked %(choices)s in question %(other)s.",
                 this=details.number, choices=f"“{_('Yes')}”", other=care.number)
    page = layout.pages[details.page - 1]
    assert expected in [t.text for t in page.texts]
    assert f"{details.number}." in [t.text for t in page.texts]


@pytest.mark.parametrize("variant", ["services", "every", "long group"])
def test_nothing_overlaps_or_leaves_the_printable_area(app: Any, variant: str) -> None:
    if variant == "services":
        layouts = all_layouts()[:3]
    elif variant == "every":
        layouts = [compute_layout(every_type_definition(), "every", 1)]
    else:
        pages = json.loads(json.dumps(EVERY_TYPE["form"]["pages"]))
        pages[1]["fields"][3]["max_items"] = 20
        layouts = [compute_layout(every_type_definition(form={"pages": pages}), "every", 1)]
        assert layouts[0].page_count >= 3
        assert len({page for page, box in layouts[0].boxes() if box.field.startswith("contacts.")}) >= 2
    for layout in layouts:
        assert layout.page_size == (210.0, 297.0)
        reserved = [*layout.marks, (layout.qr.rect[0] - 3.2, layout.qr.rect[1] - 3.2, 32.8, 32.8), layout.code,
                    layout.header, layout.footer]
        cx, cy, cw, ch = layout.content
        for page in layout.pages:
            rects = []
            for box in page.boxes:
                x, y, w, h = box.rect
                assert cx - 0.01 <= x and x + w <= cx + cw + 0.01, (box.field, box.rect)
                assert cy - 0.01 <= y and y + h <= cy + ch + 0.01, (box.field, box.rect)
                assert not any(overlaps(box.rect, r) for r in reserved), box.field
                rects.append((box.field, box.rect))
                for cell in box.cells or []:
                    assert overlaps(cell, box.rect)
            for (fa, a), (fb, b) in itertools.combinations(rects, 2):
                assert not overlaps(a, b), (page.number, fa, a, fb, b)
            # No printed text runs into a box (labels sit beside or above them).
            for text in page.texts:
                if text.text.strip() in ("", "/"):
                    continue
                for field, rect in rects:
                    assert not overlaps(text_rect(text), rect, tolerance=0.3), (page.number, text.text, field)
                left, _top, width, _height = text_rect(text)
                assert left >= 9.0 and left + width <= 201.0, text.text
            # Checkboxes at least 10 mm apart (centre to centre).
            ticks = [box.rect for box in page.boxes if box.kind == "checkbox"]
            for a, b in itertools.combinations(ticks, 2):
                distance = ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
                assert distance >= L.CHOICE_PITCH - 0.01
            assert all(box.rect[2:] == (5.0, 5.0) for box in page.boxes if box.kind == "checkbox")


def test_corner_marks_and_qr_are_fixed(app: Any) -> None:
    for layout in all_layouts():
        centres = sorted((x + w / 2, y + h / 2) for x, y, w, h in layout.marks)
        assert centres == [(12.0, 12.0), (12.0, 285.0), (198.0, 12.0), (198.0, 285.0)]
        assert all(w == h == 6.0 for _x, _y, w, h in layout.marks)
        assert layout.qr.rect == (163.6, 13.0, 26.4, 26.4)
        assert (layout.qr.version, layout.qr.error, layout.qr.modules, layout.qr.payload_length) == (4, "M", 33, 33)
        # Clear of the sheet feeder's margin and of the top-right mark.
        assert layout.qr.rect[0] + layout.qr.rect[2] + layout.qr.quiet_zone * layout.qr.module_mm <= 195.0


def test_layout_is_stored_once_and_reused_even_if_the_code_changes(app: Any, monkeypatch: Any) -> None:
    version = current_version(registry().get("cantine"))
    first = layout_for(version)
    db.session.commit()
    row = db.session.scalar(select(PaperLayout).filter_by(form_version_id=version.id))
    assert row is not None and row.layout_version == L.LAYOUT_VERSION
    assert row.layout == first.to_json()

    # Later code computes another geometry (bigger checkboxes, a new generator version)...
    monkeypatch.setattr(L, "CHECKBOX", 7.0)
    monkeypatch.setattr(L, "LAYOUT_VERSION", L.LAYOUT_VERSION + 1)
    assert compute_layout(registry().get("cantine").definition, "cantine", version.version) != first
    # ...but this form version keeps the layout it was printed with (no per-process cache involved).
    app.extensions.pop("inscriptions.paper.layouts", None)
    again = layout_for(version)
    assert again == first
    assert stored_layout(version.id) == first
    assert db.session.scalar(select(func.count()).select_from(PaperLayout)) == 1
    # The stored row is authoritative, not a recomputation: simulate an older geometry stored earlier.
    data = json.loads(json.dumps(row.layout))
    data["pages"][0]["boxes"][0]["rect"] = [20.0, 60.0, 40.0, 9.0]
    row.layout = data
    db.session.commit()
    app.extensions.pop("inscriptions.paper.layouts", None)
    assert layout_for(version).pages[0].boxes[0].rect == (20.0, 60.0, 40.0, 9.0)


def test_unknown_layout_format_is_refused(app: Any) -> None:
    data = compute_layout(every_type_definition(), "every", 1).to_json()
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        FormLayout.from_json(data)


def test_household_service_has_no_participant_block(app: Any) -> None:
    layout = compute_layout(registry().get("cinema").definition, "cinema", 1)
    assert layout.participant is None and layout.participants_per_document == 0
    assert not [box for _p, box in layout.boxes() if box.field.startswith("participant.")]
    assert [box.value for box in boxes_of(layout, "session")] == [s.code for s in
                                                                  registry().get("cinema").definition.sessions]
    canteen = compute_layout(registry().get("cantine").definition, "cantine", 1)
    assert canteen.participant == "child" and canteen.participants_per_document == 1
    assert canteen.page_count == 2
