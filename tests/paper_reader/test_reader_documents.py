"""Documents from a stack: grouping, duplicates, gaps, older versions, answers ready for validation."""

from __future__ import annotations

import json

import numpy as np
from paper_helpers import EVERY_TYPE
from reader_helpers import make_version, read_all, scan_document

from inscriptions.definitions.registry import definition_of
from inscriptions.forms.validation import validate_answers
from inscriptions.models import FormVersion
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import PageReading, answers_from, group_pages, read_page, read_upload
from inscriptions.paper.reader import simulate as sim


def test_older_version_is_read_with_its_own_layout(every_version: FormVersion) -> None:
    # Version 2 asks a new question first: every box below it moves down the page.
    pages_v2 = [dict(p) for p in EVERY_TYPE["form"]["pages"]]
    pages_v2[0] = {**pages_v2[0], "fields": [{"name": "new", "type": "yes_no", "label": "Nouvelle question ?"},
                                             *pages_v2[0]["fields"]]}
    version2 = make_version({**EVERY_TYPE, "form": {"pages": pages_v2}}, 2)
    old, new = layout_for(every_version), layout_for(version2)
    old_one = next((p, b.rect) for p, b in old.boxes() if b.field == "one")
    new_one = next((p, b.rect) for p, b in new.boxes() if b.field == "one")
    assert new_one != old_one

    answers = {"session": "s1", "one": "a", "days": ["fri"], "care": False, "rules": True}
    stack = scan_document(every_version, answers, seed=1) + scan_document(version2, {**answers, "new": True}, seed=2)
    readings = read_all(stack)
    by_version: dict[int, dict] = {}
    for reading in readings:
        assert reading.status == "ok", (reading.reason, reading.review_reasons)
        by_version.setdefault(reading.form_version_id, {}).update(reading.fields)
    assert {p: by_version[every_version.id][p] for p in answers} == answers
    assert "new" not in by_version[every_version.id]
    assert by_version[version2.id]["new"] is True and by_version[version2.id]["one"] == "a"
    assert {r.version for r in readings} == {1, 2}


def test_page_scanned_twice_is_flagged_and_the_readable_copy_used(canteen_version: FormVersion) -> None:
    answers = {"days": ["tue"], "diet": "standard", "allergy": False, "rules": True}
    first = scan_document(canteen_version, answers, seed=3)
    page1 = first[0]
    cut = sim.SimPage(sim.scan(sim.unscan(page1.data), sim.ScanSettings(crop=(0, 0, 1, 0.5)),
                               np.random.default_rng(1)), "cut.png", "partial")
    again = sim.SimPage(sim.scan(sim.unscan(page1.data), sim.ScanSettings(rotation=1.0, jpeg=70),
                                 np.random.default_rng(2)), "again.jpg", "scanned_twice")
    # The first copy of page 1 is cut (manual), then the whole document, then page 1 once more.
    readings = read_all([cut, *first, again])
    assert readings[0].status == "manual" and readings[0].token == page1.token
    stack = group_pages(readings)
    (document,) = stack.documents
    assert document.complete and document.status == "ok"
    assert document.pages[1] is readings[1]  # the readable copy, not the first one scanned
    assert document.order == [1, 2]
    duplicates = sorted(document.duplicates, key=lambda r: r.index)
    assert [r.index for r in duplicates] == [0, 3]
    assert all(r.status == "manual" and r.reason == "duplicate" and r.duplicate_of == 1 for r in duplicates)


def test_shuffled_stack_is_grouped_by_document(canteen_version: FormVersion) -> None:
    rng = np.random.default_rng(7)
    pages, truths = sim.filled_documents(canteen_version, 3, rng,
                                         settings=lambda r: sim.ScanSettings(rotation=float(r.uniform(-2, 2)),
                                                                             jpeg=80))
    stray = sim.SimPage(sim.scan(sim.letter_page(rng), sim.ScanSettings(), rng), "letter.png", "no_qr")
    stack = [*pages, stray]
    order = rng.permutation(len(stack))
    shuffled = [stack[i] for i in order]
    readings = read_all(shuffled)
    grouped = group_pages(readings)
    assert [r.reason for r in grouped.unidentified] == ["no_qr"]
    assert len(grouped.documents) == 3
    tokens = [pages[i * 2].token for i in range(3)]
    for document in grouped.documents:
        assert document.complete and not document.duplicates and document.total == 2
        # The upload indices, in page order, point at this document's pages 1 and 2.
        assert [(shuffled[i].token, shuffled[i].page) for i in document.order] == [(document.token, 1),
                                                                                  (document.token, 2)]
        layout = layout_for(canteen_version)
        answers, _review = answers_from(document, layout)
        truth = truths[tokens.index(document.token)]
        assert sorted(answers["days"]) == sorted(truth["days"])
        assert answers["diet"] == truth["diet"]

    # A page missing from the stack: the document is incomplete, its questions flagged.
    partial = group_pages([r for r in read_all(pages[:3])])
    incomplete = next(d for d in partial.documents if d.token == pages[2].token)
    assert incomplete.missing == [2] and not incomplete.complete and incomplete.status == "manual"
    _answers, review = answers_from(incomplete, layout_for(canteen_version))
    assert {"path": "diet", "reason": "missing_page"}.items() <= next(i for i in review if i["path"] == "diet").items()


def test_answers_validate_once_handwriting_is_typed(canteen_version: FormVersion) -> None:
    marked = {"days": ["mon", "thu"], "diet": "sans_porc", "allergy": True, "rules": True}
    readings = read_all(scan_document(canteen_version, marked, seed=9,
                                      settings=sim.ScanSettings(dpi=300, rotation=-1.0, jpeg=60, noise=3.0)))
    (document,) = group_pages(readings).documents
    layout = layout_for(canteen_version)
    answers, review = answers_from(document, layout)
    assert answers == {"days": ["mon", "thu"], "diet": "sans_porc", "allergy": "yes", "pai_details": None,
                       "pickup": [{"name": None, "phone": None}] * 3, "rules": "y"}
    typed = {item["path"] for item in review if item["reason"] == "type"}
    assert "pai_details" in typed or not readings[1].ink.get("pai_details")
    # The agent types the handwriting beside its crops.
    answers["pai_details"] = "Allergie à l'arachide"
    answers["pickup"][0] = {"name": "Jeanne Martin", "phone": "06 12 34 56 78"}
    result = validate_answers(definition_of(canteen_version), answers, channel="paper")
    assert result.ok, result.errors
    assert result.values == {"days": ["mon", "thu"], "diet": "sans_porc", "allergy": True,
                             "pai_details": "Allergie à l'arachide",
                             "pickup": [{"name": "Jeanne Martin", "phone": "06 12 34 56 78"}], "rules": True}


def test_reading_round_trips_through_json(canteen_version: FormVersion) -> None:
    pages = scan_document(canteen_version, {"days": ["fri"], "allergy": [True, False]}, seed=10)
    reading = read_all(pages[1:])[0]
    assert reading.status == "review" and reading.crops
    text = json.dumps(reading.to_json())
    again = PageReading.from_json(json.loads(text))
    assert again == reading
    assert again.reader_version == reading.reader_version == "1"
    # Reading without crops is lighter and reads the same.
    (image,) = read_upload(pages[1].data, "x")
    light = read_page(image, crops=False)
    assert light.crops == {} and light.fields == reading.fields
