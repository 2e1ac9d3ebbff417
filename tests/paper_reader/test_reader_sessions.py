"""Several sessions and ranked alternatives on paper: printed, ticked, scanned, read back as the
``(wish, rank)`` cells the intake turns into wishes; the layout keeps its rules (no overlap,
checkboxes 10 mm apart)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from flask_babel import gettext
from paper_helpers import EVERY_TYPE, overlaps  # tests/paper, put on the path by conftest.py
from reader_helpers import make_version, read_all, scan_document, wrong_boxes

from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.paper import layout as L
from inscriptions.paper.layout import compute_layout, layout_for
from inscriptions.paper.reader import answers_from, document_values, group_pages, session_cells

WEEKS = [{"code": f"w{n}", "label": f"Semaine du {n} juillet", "starts_at": f"2027-07-{n:02d}T09:00:00",
          "capacity": 10} for n in range(1, 9)]


def definition(**settings: Any) -> dict[str, Any]:
    data = copy.deepcopy(EVERY_TYPE)
    data["sessions"] = WEEKS[:4]
    data.update(settings)
    return data


def read_document(version: Any, ticked: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pages = scan_document(version, ticked, seed=7)
    readings = read_all(pages)
    for page, reading in zip(pages, readings, strict=True):
        assert reading.status in ("ok", "review"), reading.reason
        assert wrong_boxes(page, reading) == []
    (document,) = group_pages(readings).documents
    layout = layout_for(version)
    _answers, review = answers_from(document, layout)
    return document_values(document, layout), review


def test_several_weeks_are_one_box_each_and_read_as_wishes(app: Any) -> None:
    version = make_version(definition(code="semaines", sessions_choice={"min": 1, "max": 3}), 1)
    layout = layout_for(version)
    info = layout.field("session")
    assert (info.select, info.values, info.required) == ("many", ["w1", "w2", "w3", "w4"], "always")
    texts = " ".join(t.text for page in layout.pages for t in page.texts)
    hint = gettext("Tick the sessions you want: at least %(min)s, at most %(max)s.", min=1, max=3)
    assert hint in texts and "au plus 3" in hint  # printed in French

    values, review = read_document(version, {"session": ["w2", "w4"], "one": "a", "rules": True})
    assert values["session"] == ["w2", "w4"]
    assert session_cells(values) == {(1, 1): "w2", (2, 1): "w4"}
    assert not [r for r in review if r["path"] == "session"]


def test_a_ranked_grid_reads_each_column(app: Any) -> None:
    version = make_version(definition(code="voeux", sessions_choice={"min": 1, "max": 2}, alternatives=1), 1)
    layout = layout_for(version)
    paths = [f.path for f in layout.fields if f.type == "session"]
    assert paths == ["session.1.1", "session.1.2", "session.2.1", "session.2.2"]
    assert layout.field("session.1.1").required == "always" and layout.field("session.2.1").required == "never"
    # Each column holds one box per session.
    assert [b.value for _p, b in layout.boxes() if b.field == "session.2.2"] == ["w1", "w2", "w3", "w4"]

    ticked = {"session.1.1": "w1", "session.1.2": "w3", "session.2.1": "w2", "one": "a", "rules": True}
    values, review = read_document(version, ticked)
    assert session_cells(values) == {(1, 1): "w1", (1, 2): "w3", (2, 1): "w2"}
    assert not [r for r in review if r["path"].startswith("session")]


def test_two_boxes_ticked_in_one_column_are_flagged(app: Any) -> None:
    version = make_version(definition(code="creneaux", alternatives=1), 1)
    pages = scan_document(version, {"session.1.1": ["w1", "w2"], "one": "a", "rules": True}, seed=2)
    (document,) = group_pages(read_all(pages)).documents
    layout = layout_for(version)
    _answers, review = answers_from(document, layout)
    values = document_values(document, layout)
    assert ("session.1.1", "several_ticked") in {(r["path"], r["reason"]) for r in review}
    assert session_cells(values) == {}  # nothing guessed: the agent chooses from the scan


@pytest.mark.parametrize("settings", [
    {"sessions_choice": {"min": 1, "max": 3}},
    {"alternatives": 1},
    {"sessions_choice": {"min": 2, "max": 3}, "alternatives": 2},
    # Too many groups for one line: tables one under another, over pages.
    {"sessions": WEEKS, "sessions_choice": {"min": 1, "max": 6}, "alternatives": 3},
])
def test_session_layouts_keep_the_paper_rules(app: Any, settings: dict[str, Any]) -> None:
    defn = ServiceDefinition.model_validate(definition(**settings))
    layout = compute_layout(defn, "every", 1)
    cx, cy, cw, ch = layout.content
    columns = {b.field for _p, b in layout.boxes() if b.field.startswith("session")}
    ranks = 1 + defn.alternatives
    assert len(columns) == (defn.sessions_choice.max * ranks if defn.alternatives else 1)
    for page in layout.pages:
        ticks = [box.rect for box in page.boxes if box.kind == "checkbox"]
        for box in page.boxes:
            x, y, w, h = box.rect
            assert cx - 0.01 <= x and x + w <= cx + cw + 0.01 and cy - 0.01 <= y and y + h <= cy + ch + 0.01
        for a, b in itertools.combinations(ticks, 2):
            assert not overlaps(a, b)
            assert ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 >= L.CHOICE_PITCH - 0.01
    # Every column offers every session once.
    for column in columns:
        values = [b.value for _p, b in layout.boxes() if b.field == column]
        assert sorted(values) == sorted(s.code for s in defn.sessions)
