"""Reading one scanned page: identify it, align it, read its boxes, crop its handwriting.

:func:`read_page` never raises on a bad page: a page it cannot identify or align comes back with
status ``manual`` and a reason; a page it read but with doubts, ``review`` and the doubtful
questions in ``review_paths``; otherwise ``ok``. See ``docs/paper.md`` ("Reading scans").
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from PIL import Image

from inscriptions.paper.layout import Box, FormLayout, PageLayout
from inscriptions.paper.reader.decisions import box_state, decide, reason_message
from inscriptions.paper.reader.geometry import PX_PER_MM, align, find_qr, paper_level, rectify
from inscriptions.paper.reader.lookup import DatabaseLookup, Lookup, PageTarget
from inscriptions.paper.reader.upload import PageImage
from inscriptions.paper.tokens import PaperCodeError

log = logging.getLogger(__name__)

# Stored with every machine-read value: which reading code produced it.
READER_VERSION = "1"

MIN_MARKS = 3  # corner marks: with the QR corners, at least 7 anchors spread over the page
MAX_ALIGNMENT_MM = 1.0
INSET_MM = 0.65  # checkbox interior: inside the 1 pt outline, clear of its blur
INK_FACTOR = 0.72  # ink: darker than this times the local paper level
# Faint marks: darker than FAINT_FACTOR x paper on FAINT_FILL of the interior make an "empty" box
# ambiguous (never ticked: smudges are faint too).
FAINT_FACTOR, FAINT_FILL = 0.86, 0.06
REFINE_MM = 1.2  # each checkbox is looked for within this distance of where the homography puts it
MIN_MATCH = 0.45  # outline match score below which a box is not considered found
POOR_PAGE_MATCH = 0.55  # median match score of a page's checkboxes below which the page is not trusted
TEXT_INSET_MM = 0.8
CROP_MARGIN_MM = 1.5
# Handwriting present: at least this many ink pixels (rectified, 200 dpi) and this share of the box.
INK_PIXELS, INK_SHARE = 25, 0.002


@dataclass
class BoxReading:
    """One checkbox as read: its question (``path``), the value it stands for, state and fill ratio."""

    id: str
    path: str
    value: Any
    state: str  # ticked | empty | ambiguous
    fill: float
    page: int
    score: float = 1.0  # how well the printed outline was found (normalised correlation)
    reason: str | None = None  # why this box needs a look: ambiguous | filled | box_alignment

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PageReading:
    """What was read on one page. JSON-ready through :meth:`to_json` (crops as base64 PNG).

    ``fields``: every question path with a box on this page: the machine value of a checkbox
    question (one value, a list for ``many``, None), None for handwriting. ``review_paths``: the
    questions to check, with ``review_reasons[path]``. ``ink``: whether a handwritten box has
    ink. ``crops``: PNG of each handwritten box and of each question to check, deskewed (the
    rectified page at 200 dpi). ``sensitive_paths``: questions whose crops only roles allowed to see
    health data may be shown.
    """

    index: int
    status: str  # ok | review | manual
    reason: str | None = None
    message: str = ""
    source: str = ""
    token: str | None = None
    page: int | None = None
    total: int | None = None
    form_version_id: int | None = None
    service_code: str | None = None
    version: int | None = None
    household_id: int | None = None
    child_id: int | None = None
    current_version: bool | None = None
    qr_payload: str | None = None
    alignment_error_mm: float | None = None
    anchors: int = 0
    rotation: float | None = None
    boxes: list[BoxReading] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    review_paths: list[str] = field(default_factory=list)
    review_reasons: dict[str, str] = field(default_factory=dict)
    ink: dict[str, bool] = field(default_factory=dict)
    crops: dict[str, bytes] = field(default_factory=dict)
    sensitive_paths: list[str] = field(default_factory=list)
    duplicate_of: int | None = None
    reader_version: str = READER_VERSION
    seconds: float = 0.0

    @property
    def identified(self) -> bool:
        return self.token is not None and self.page is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["boxes"] = [box.to_json() for box in self.boxes]
        data["crops"] = {path: base64.b64encode(png).decode("ascii") for path, png in self.crops.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PageReading:
        data = dict(data)
        data["boxes"] = [BoxReading(**box) for box in data.get("boxes", [])]
        data["crops"] = {path: base64.b64decode(text) for path, text in data.get("crops", {}).items()}
        return cls(**data)


def _pixels(image: PageImage | Image.Image | np.ndarray) -> tuple[np.ndarray, int, str]:
    if isinstance(image, PageImage):
        return image.pixels, image.index, image.source
    if isinstance(image, Image.Image):
        return np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8)), 0, ""
    pixels = np.asarray(image)
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(pixels, dtype=np.uint8), 0, ""


def _manual(reading: PageReading, reason: str, message: str | None = None) -> PageReading:
    reading.status = "manual"
    reading.reason = reason
    reading.message = message or reason_message(reason)
    return reading


def read_page(image: PageImage | Image.Image | np.ndarray, *, lookup: Lookup | None = None,
              crops: bool = True) -> PageReading:
    """Read one scanned page.

    ``lookup(payload) -> PageTarget`` names the document and layout of a QR payload, raising
    :class:`~inscriptions.paper.tokens.PaperCodeError`; the default,
    :class:`~inscriptions.paper.reader.lookup.DatabaseLookup`, needs an application context
    (build one per upload and pass it to every page: it caches layouts). ``crops=False`` skips
    the PNG crops.
    """
    started = time.perf_counter()
    pixels, index, source = _pixels(image)
    reading = PageReading(index=index, status="manual", source=source)
    try:
        _read(pixels, reading, lookup or DatabaseLookup(), crops)
    except (cv2.error, ValueError, IndexError, ArithmeticError):
        # One odd page must not stop a stack of two hundred: it goes to the manual queue. (Other
        # errors, a database outage for one, are not about the page and are raised.)
        log.exception("paper reader: page %s of %r could not be read", index, source)
        reading.boxes, reading.fields, reading.ink, reading.crops = [], {}, {}, {}
        reading.review_paths, reading.review_reasons = [], {}
        _manual(reading, "error")
    finally:
        reading.seconds = round(time.perf_counter() - started, 4)
    return reading


def _read(pixels: np.ndarray, reading: PageReading, lookup: Lookup, want_crops: bool) -> None:
    if pixels.ndim != 2 or min(pixels.shape) < 64:
        _manual(reading, "no_qr")
        return
    qr = find_qr(pixels)
    if qr is None:
        _manual(reading, "no_qr")
        return
    reading.qr_payload = qr.text
    try:
        target = lookup(qr.text)
    except PaperCodeError as err:
        _manual(reading, err.reason, str(err))
        return
    _identify(reading, target)
    layout = target.layout
    if not 1 <= target.page <= layout.page_count:
        _manual(reading, "no_layout")
        return
    alignment = align(pixels, qr, layout)
    if alignment is None or alignment.marks < MIN_MARKS:
        if alignment is not None:
            reading.anchors = alignment.anchors
        _manual(reading, "anchors")
        return
    reading.anchors = alignment.anchors
    reading.alignment_error_mm = round(alignment.error_mm, 3)
    reading.rotation = round(alignment.rotation, 2)
    if alignment.error_mm > MAX_ALIGNMENT_MM:
        _manual(reading, "alignment")
        return
    page = layout.pages[target.page - 1]
    rectified = rectify(pixels, alignment.matrix, layout.page_size)
    _read_boxes(rectified, page, layout, reading, want_crops)


def _identify(reading: PageReading, target: PageTarget) -> None:
    reading.token = target.token
    reading.page = target.page
    reading.total = target.total
    reading.form_version_id = target.form_version_id
    reading.service_code = target.service_code
    reading.version = target.version
    reading.household_id = target.household_id
    reading.child_id = target.child_id
    reading.current_version = target.current


# -- boxes ---------------------------------------------------------------------------------------

def _px(mm: float) -> int:
    return round(mm * PX_PER_MM)


@lru_cache(maxsize=16)
def _outline(w_mm: float, h_mm: float, pad_mm: float, line_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Template of a box outline (float32) and the mask of the band around it that is compared."""
    sub = 8
    width, height = _px(w_mm + 2 * pad_mm), _px(h_mm + 2 * pad_mm)
    big = np.full((height * sub, width * sub), 255, np.uint8)
    k = PX_PER_MM * sub
    x0, y0 = pad_mm * k, pad_mm * k
    x1, y1 = (pad_mm + w_mm) * k, (pad_mm + h_mm) * k
    half = line_mm * k / 2
    big[round(y0 - half):round(y1 + half), round(x0 - half):round(x1 + half)] = 0
    big[round(y0 + half):round(y1 - half), round(x0 + half):round(x1 - half)] = 255
    template = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = np.ones((height, width), np.uint8)
    inner = 0.9 * PX_PER_MM
    mask[round(pad_mm * PX_PER_MM + inner):round((pad_mm + h_mm) * PX_PER_MM - inner),
         round(pad_mm * PX_PER_MM + inner):round((pad_mm + w_mm) * PX_PER_MM - inner)] = 0
    return template, mask


def _patch(rect_img: np.ndarray, x_mm: float, y_mm: float, w_mm: float, h_mm: float) -> tuple[np.ndarray, int, int]:
    """Pixels of a mm rectangle of the rectified page (clipped), with their top-left pixel."""
    height, width = rect_img.shape
    x0, y0 = max(0, _px(x_mm)), max(0, _px(y_mm))
    x1, y1 = min(width, _px(x_mm + w_mm)), min(height, _px(y_mm + h_mm))
    return rect_img[y0:y1, x0:x1], x0, y0


def _refine(rect_img: np.ndarray, box: Box) -> tuple[float, float, float]:
    """(dx, dy) in pixels moving the layout box onto its printed outline, and the match score."""
    x, y, w, h = box.rect
    pad = 1.0
    template, mask = _outline(w, h, pad, 0.3528)
    reach = REFINE_MM + pad
    patch, _x0, _y0 = _patch(rect_img, x - reach, y - reach, w + 2 * reach, h + 2 * reach)
    th, tw = template.shape
    if patch.shape[0] < th + 2 or patch.shape[1] < tw + 2:
        return 0.0, 0.0, 0.0
    scores = cv2.matchTemplate(patch.astype(np.float32), template, cv2.TM_CCOEFF_NORMED, mask=mask)
    scores = np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)
    _min, best, _minloc, (bx, by) = cv2.minMaxLoc(scores)
    # Sub-pixel peak (parabola through the neighbours).
    fx, fy = float(bx), float(by)
    if 0 < bx < scores.shape[1] - 1:
        left, mid, right = scores[by, bx - 1], scores[by, bx], scores[by, bx + 1]
        denom = left - 2 * mid + right
        fx += 0.5 * (left - right) / denom if denom < 0 else 0.0
    if 0 < by < scores.shape[0] - 1:
        up, mid, down = scores[by - 1, bx], scores[by, bx], scores[by + 1, bx]
        denom = up - 2 * mid + down
        fy += 0.5 * (up - down) / denom if denom < 0 else 0.0
    centre_x = (scores.shape[1] - 1) / 2
    centre_y = (scores.shape[0] - 1) / 2
    return fx - centre_x, fy - centre_y, float(best)


def _ink_threshold(region: np.ndarray) -> float:
    return INK_FACTOR * max(paper_level(region), 80.0)


def _checkbox(rect_img: np.ndarray, box: Box, page: int) -> BoxReading:
    dx, dy, score = _refine(rect_img, box)
    x, y, w, h = box.rect
    reason = None
    if score < MIN_MATCH:
        dx = dy = 0.0
    dx_mm, dy_mm = dx / PX_PER_MM, dy / PX_PER_MM
    around, _x0, _y0 = _patch(rect_img, x + dx_mm - 2.5, y + dy_mm - 2.5, w + 5.0, h + 5.0)
    threshold = _ink_threshold(around)
    inside, _x0, _y0 = _patch(rect_img, x + dx_mm + INSET_MM, y + dy_mm + INSET_MM, w - 2 * INSET_MM, h - 2 * INSET_MM)
    fill = float((inside < threshold).mean()) if inside.size else 0.0
    state, reason = box_state(fill)
    if state == "empty" and inside.size:
        # A mark lighter than ink (hard pencil, a pen running dry) is not "empty": a person looks.
        faint = float((inside < threshold * FAINT_FACTOR / INK_FACTOR).mean())
        if faint >= FAINT_FILL:
            state, reason = "ambiguous", "faint"
    if score < MIN_MATCH and reason is None:
        # The outline was not found where it should be: do not trust an "empty" or a "ticked".
        reason = "box_alignment"
    value = box.value
    return BoxReading(box.id, box.field, value, state, round(fill, 4), page, round(score, 3), reason)


def _has_ink(rect_img: np.ndarray, box: Box) -> bool:
    rects = box.cells if box.kind == "comb" and box.cells else [box.rect]
    count = area = 0
    for x, y, w, h in rects:
        inside, _x0, _y0 = _patch(rect_img, x + TEXT_INSET_MM, y + TEXT_INSET_MM, w - 2 * TEXT_INSET_MM,
                                  h - 2 * TEXT_INSET_MM)
        around, _x0, _y0 = _patch(rect_img, x - 2.0, y - 2.0, w + 4.0, h + 4.0)
        if inside.size:
            count += int((inside < _ink_threshold(around)).sum())
            area += inside.size
    return area > 0 and count >= INK_PIXELS and count >= INK_SHARE * area


def _png(pixels: np.ndarray) -> bytes:
    # Huffman only: scans are noisy, deflate's matching costs twice the time for no smaller file.
    ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
                                             cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    if not ok:  # pragma: no cover
        raise ValueError("PNG encoding failed")
    return data.tobytes()


def _crop(rect_img: np.ndarray, rect: tuple[float, float, float, float], margin: float = CROP_MARGIN_MM) -> bytes:
    x, y, w, h = rect
    patch, _x0, _y0 = _patch(rect_img, x - margin, y - margin, w + 2 * margin, h + 2 * margin)
    return _png(np.ascontiguousarray(patch))


def _union(rects: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    x0 = min(r[0] for r in rects)
    y0 = min(r[1] for r in rects)
    x1 = max(r[0] + r[2] for r in rects)
    y1 = max(r[1] + r[3] for r in rects)
    return x0, y0, x1 - x0, y1 - y0


def _read_boxes(rect_img: np.ndarray, page: PageLayout, layout: FormLayout, reading: PageReading,
                want_crops: bool) -> None:
    number = page.number
    by_field: dict[str, list[BoxReading]] = {}
    field_rects: dict[str, list[tuple[float, float, float, float]]] = {}
    for box in page.boxes:
        field_rects.setdefault(box.field, []).append(box.rect)
        if box.kind == "checkbox":
            read = _checkbox(rect_img, box, number)
            reading.boxes.append(read)
            by_field.setdefault(box.field, []).append(read)
    if len(reading.boxes) >= 3 and float(np.median([b.score for b in reading.boxes])) < POOR_PAGE_MATCH:
        # The boxes are not where the layout says although the corners are: a wrong layout, a
        # page scaled by a copier, a strongly curled sheet. Nothing read here is trusted.
        reading.boxes = []
        _manual(reading, "box_alignment")
        return
    for box in page.boxes:
        if box.kind != "checkbox":
            reading.fields[box.field] = None
            reading.ink[box.field] = _has_ink(rect_img, box)
            if want_crops:
                reading.crops[box.field] = _crop(rect_img, box.rect)

    on_page_counts: dict[str, int] = {}
    for _n, box in layout.boxes():
        if box.kind == "checkbox":
            on_page_counts[box.field] = on_page_counts.get(box.field, 0) + 1
    for path, boxes in by_field.items():
        try:
            info = layout.field(path)
        except KeyError:  # pragma: no cover - every box has its field
            continue
        complete = on_page_counts.get(path, 0) == len(boxes)
        visible = True if info.show_if is None else None
        value, why = decide(info, [asdict(b) for b in boxes], visible=visible, complete=complete)
        reading.fields[path] = value
        if why is not None:
            reading.review_paths.append(path)
            reading.review_reasons[path] = why
            if want_crops:
                x, y, w, h = _union(field_rects[path])
                # Up to the right edge of the content: the options' labels show what each box means.
                right = layout.content[0] + layout.content[2]
                reading.crops[path] = _crop(rect_img, (x, y, max(w, right - x), h), margin=2.5)
    reading.sensitive_paths = sorted(p for p in reading.fields if _sensitive(layout, p))
    reading.status = "review" if reading.review_paths else "ok"
    reading.reason = "review" if reading.review_paths else None
    reading.message = "; ".join(dict.fromkeys(reason_message(reading.review_reasons[p]) for p in reading.review_paths))


def _sensitive(layout: FormLayout, path: str) -> bool:
    try:
        return layout.field(path).sensitive
    except KeyError:
        return False
