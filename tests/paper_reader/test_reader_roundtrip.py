"""Round trip: definition -> printed PDF -> rasterised (pypdfium2) -> pen marks -> read -> the same answers."""

from __future__ import annotations

from typing import Any

import pytest
from reader_helpers import read_all, scan_document, wrong_boxes

from inscriptions.models import FormVersion
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import answers_from, document_values, group_pages

EVERY_ANSWERS: dict[str, Any] = {
    "session": "s2", "one": "b", "many": ["x", "y"], "days": ["mon", "fri"], "care": True,
    "certificate": "attached", "rules": True,
}


def merged_fields(readings: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for reading in readings:
        found.update(reading.fields)
    return found


@pytest.mark.parametrize("style", ["cross", "tick", "scribble", "dot_cross", "light"])
def test_every_checkbox_type_reads_back_as_marked(every_version: FormVersion, style: str) -> None:
    pages = scan_document(every_version, EVERY_ANSWERS, style=style, seed=3)
    readings = read_all(pages)
    layout = layout_for(every_version)
    assert len(readings) == layout.page_count
    for page, reading in zip(pages, readings, strict=True):
        assert reading.status == "ok", (reading.reason, reading.review_reasons)
        assert (reading.token, reading.page, reading.total) == (page.token, page.page, page.total)
        assert reading.form_version_id == every_version.id
        assert wrong_boxes(page, reading) == []
        assert reading.alignment_error_mm is not None and reading.alignment_error_mm < 0.5
    fields = merged_fields(readings)
    assert {path: fields[path] for path in EVERY_ANSWERS} == EVERY_ANSWERS

    (document,) = group_pages(readings).documents
    assert document.complete and document.status == "ok"
    answers, review = answers_from(document, layout)
    assert answers == {
        "one": "b", "many": ["x", "y"], "days": ["mon", "fri"], "care": "yes", "care_details": None,
        "nickname": None, "birth": None, "seats": None, "certificate": None, "mail": None, "phone": None,
        "zip": None, "contacts": [{"name": None, "phone": None}, {"name": None, "phone": None}], "rules": "y",
    }
    reasons = {(item["path"], item["reason"]) for item in review}
    # The family says a document is attached: the agent must add it (no machine value for a file).
    assert ("certificate", "file_attached") in reasons
    assert not [r for r in reasons if r[1] in ("ambiguous", "several_ticked", "none_ticked", "yes_and_no")]
    assert document_values(document, layout)["session"] == "s2"


def test_other_answers_and_unanswered_questions(every_version: FormVersion) -> None:
    answers = {"session": "s1", "one": "c", "many": [], "days": ["wed"], "care": False, "certificate": None,
               "rules": None}
    pages = scan_document(every_version, answers, seed=4)
    readings = read_all(pages)
    fields = merged_fields(readings)
    assert {path: fields[path] for path in answers} == {**answers, "many": []}
    # A required consent left unticked is not a "no": a person checks the paper.
    assert any(r.review_reasons.get("rules") == "none_ticked" for r in readings)
    layout = layout_for(every_version)
    got, review = answers_from(readings, layout)
    assert (got["one"], got["many"], got["days"], got["care"], got["rules"]) == ("c", [], ["wed"], "no", None)
    assert {(i["path"], i["reason"]) for i in review} >= {("rules", "none_ticked")}


def test_group_conflicts_go_to_review(every_version: FormVersion) -> None:
    # Two answers to a single choice, both Yes and No, nothing for a required single choice.
    pages = scan_document(every_version, {"one": ["a", "c"], "care": [True, False], "session": ["s1", "s2"],
                                          "rules": True}, seed=5)
    readings = read_all(pages)
    reasons: dict[str, str] = {}
    for reading in readings:
        reasons.update(reading.review_reasons)
        assert set(reading.review_paths) == set(reading.review_reasons)
        if reading.review_paths:
            assert reading.status == "review"
            for path in reading.review_paths:
                assert reading.crops[path].startswith(b"\x89PNG")
    assert reasons["one"] == "several_ticked"
    assert reasons["care"] == "yes_and_no"
    assert reasons["session"] == "several_ticked"
    fields = merged_fields(readings)
    assert fields["one"] is None and fields["care"] is None

    pages = scan_document(every_version, {"rules": True}, seed=6)
    readings = read_all(pages)
    reasons = {}
    for reading in readings:
        reasons.update(reading.review_reasons)
    assert reasons["one"] == "none_ticked"  # required
    assert reasons["care"] == "none_ticked"  # yes/no: neither ticked
    assert "many" not in reasons and "days" not in reasons  # optional
