"""Scanner effects (rotation, scale, resolution, blur, noise, JPEG, upside down) and hard marks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from reader_helpers import read_all, scan_document, wrong_boxes

from inscriptions.models import FormVersion
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import read_page, read_upload
from inscriptions.paper.reader import simulate as sim

SCANNERS = {
    "rotated_3_jpeg_40_150dpi": sim.ScanSettings(dpi=150, rotation=3.0, scale=0.98, jpeg=40, noise=5.0, blur=0.8,
                                                 shift_mm=(2.5, -2.0), paper=0.9, gradient=0.06),
    "rotated_minus_3_300dpi": sim.ScanSettings(dpi=300, rotation=-3.0, scale=1.02, jpeg=70, noise=3.0, blur=1.0,
                                               shift_mm=(-3.0, 3.0)),
    "phone_perspective": sim.ScanSettings(dpi=240, rotation=1.0, perspective=2.5, jpeg=60, noise=4.0),
    "upside_down": sim.ScanSettings(dpi=200, rotation=178.5 - 180.0, upside_down=True, jpeg=75, noise=2.0),
}


@pytest.mark.parametrize("name", sorted(SCANNERS))
def test_marks_survive_the_scanner(canteen_version: FormVersion, name: str) -> None:
    rng = np.random.default_rng(11)
    layout = layout_for(canteen_version)
    answers = sim.random_answers(layout, rng)
    pages = scan_document(canteen_version, answers, settings=SCANNERS[name], style="tick", smudges=0.5, seed=12)
    readings = read_all(pages)
    for page, reading in zip(pages, readings, strict=True):
        assert reading.status == "ok", (reading.reason, reading.review_reasons)
        assert wrong_boxes(page, reading) == []
        assert reading.alignment_error_mm < 0.8
    if name == "upside_down":
        assert all(abs(abs(r.rotation) - 180) < 5 for r in readings)
    fields: dict = {}
    for reading in readings:
        fields.update(reading.fields)
    for path in ("days", "diet", "allergy", "rules"):
        assert fields[path] == answers[path], path


def test_random_stack_has_no_wrong_box(canteen_version: FormVersion) -> None:
    """A small version of the benchmark: every box either right or sent to a person."""
    rng = np.random.default_rng(21)
    pages, _answers = sim.filled_documents(canteen_version, 4, rng)
    for page, reading in zip(pages, read_all(pages), strict=True):
        assert reading.qr_payload is not None
        for box_id, state, truth, _fill in wrong_boxes(page, reading):
            assert state == "ambiguous" or box_id in page.corrected, (box_id, state, truth)
            box = next(b for b in reading.boxes if b.id == box_id)
            assert box.path in reading.review_paths


def _scan_with(version: FormVersion, draw: object, seed: int = 0) -> object:
    """Print one blank document, let ``draw(pixels, layout)`` mark page 1, scan it and read it."""
    layout = layout_for(version)
    _tokens, pdf = sim.print_blank(version, 1)
    pixels = next(sim.rasterise(pdf))
    draw(pixels, layout)  # type: ignore[operator]
    data = sim.scan(pixels, sim.ScanSettings(dpi=200, jpeg=85, noise=2.0), np.random.default_rng(seed))
    (image,) = read_upload(data, "page.jpg")
    return read_page(image)


def _box(layout: object, field: str, value: object) -> object:
    return next(b for _p, b in layout.boxes() if b.field == field and b.value == value)  # type: ignore[attr-defined]


def test_faint_pencil_mark_is_never_read_as_empty(canteen_version: FormVersion) -> None:
    def draw(pixels: np.ndarray, layout: object) -> None:
        x, y, w, h = _box(layout, "days", "tue").rect
        k = sim.MM
        for (x0, y0), (x1, y1) in (((x, y), (x + w, y + h)), ((x + w, y), (x, y + h))):
            cv2.line(pixels, (round(x0 * k), round(y0 * k)), (round(x1 * k), round(y1 * k)), 200, 2, cv2.LINE_AA)

    reading = _scan_with(canteen_version, draw)
    tue = next(b for b in reading.boxes if b.value == "tue")
    assert tue.state == "ambiguous" and tue.reason == "faint"
    assert reading.review_reasons["days"] == "ambiguous"
    assert reading.status == "review"


def test_box_filled_to_cancel_goes_to_review(canteen_version: FormVersion) -> None:
    def draw(pixels: np.ndarray, layout: object) -> None:
        x, y, w, h = _box(layout, "days", "mon").rect
        k = sim.MM
        cv2.rectangle(pixels, (round((x + 0.3) * k), round((y + 0.3) * k)),
                      (round((x + w - 0.3) * k), round((y + h - 0.3) * k)), 40, -1)

    reading = _scan_with(canteen_version, draw)
    mon = next(b for b in reading.boxes if b.value == "mon")
    assert mon.state == "ambiguous" and mon.reason == "filled" and mon.fill > 0.6
    assert reading.review_reasons["days"] == "filled"
    assert reading.fields["days"] == []  # a cancelled box is not an answer


def test_smudges_beside_boxes_are_not_ticks(canteen_version: FormVersion) -> None:
    pages = scan_document(canteen_version, {"days": ["thu"], "rules": True}, smudges=1.0, seed=31,
                          settings=sim.ScanSettings(dpi=200, rotation=1.5, jpeg=60, noise=3.0))
    readings = read_all(pages)
    for page, reading in zip(pages, readings, strict=True):
        assert wrong_boxes(page, reading) == []
    assert readings[0].fields["days"] == ["thu"]


def test_handwriting_is_flagged_and_cropped(canteen_version: FormVersion) -> None:
    pages = scan_document(canteen_version, {"days": ["mon"]}, seed=41)
    readings = read_all(pages)
    for page, reading in zip(pages, readings, strict=True):
        for path, written in page.ink.items():
            assert reading.ink[path] is written, path
            assert reading.fields[path] is None
            crop = cv2.imdecode(np.frombuffer(reading.crops[path], np.uint8), cv2.IMREAD_GRAYSCALE)
            box = next(b for b in layout_for(canteen_version).pages[page.page - 1].boxes if b.field == path)
            # Deskewed at 200 dpi, with a 1.5 mm margin.
            assert abs(crop.shape[1] - (box.rect[2] + 3.0) * 200 / 25.4) < 3
    assert "allergy" in readings[1].sensitive_paths and "pai_details" in readings[1].sensitive_paths
