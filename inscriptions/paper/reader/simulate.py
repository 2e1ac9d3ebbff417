"""Synthetic scans with ground truth, for the reader's tests and benchmark.

Real forms printed by the application (:class:`~inscriptions.paper.render.FormPrinter`),
rasterised with pypdfium2, then marked like a family would (crosses, ticks, scribbles, light
pencil marks, smudges beside the boxes, handwriting in the text boxes, corrections: a box
filled in completely), then passed through a simulated scanner (rotation, scale, shift,
resolution, blur, noise, uneven paper, JPEG). Each :class:`SimPage` keeps what was really
marked. Harsh cases: upside down, partial page, another town's form, a forged or unknown code,
a page without QR code, a page scanned twice.

Not used by the application itself; needs an application context to print (tokens, layout).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pypdfium2 as pdfium
from flask import current_app
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from inscriptions.definitions.registry import definition_of
from inscriptions.models import FormVersion
from inscriptions.paper.layout import Box, FormLayout, layout_for
from inscriptions.paper.render import FormPrinter
from inscriptions.paper.tokens import PayloadSigner, issue_tokens

RENDER_DPI = 200
BED_MM = (216.0, 303.0)  # what the simulated scanner captures around an A4 sheet
MM = RENDER_DPI / 25.4

# How a ticked box is marked, with weights (a family's habits).
# "scribble_fill" (a box scribbled over) is read as "filled": it goes to review, by design.
TICK_STYLES = {"cross": 0.465, "tick": 0.30, "scribble": 0.15, "light": 0.04, "dot_cross": 0.04,
               "scribble_fill": 0.005}


@dataclass
class SimPage:
    """One synthetic scanned page and its truth."""

    data: bytes  # the scanned file (JPEG or PNG)
    filename: str
    kind: str  # normal | upside_down | partial | foreign_town | forged | unknown | no_qr | blank | noise | ...
    token: str | None = None
    page: int | None = None
    total: int | None = None
    truth: dict[str, bool] = field(default_factory=dict)  # checkbox id -> ticked by the family
    styles: dict[str, str] = field(default_factory=dict)  # checkbox id -> how it was marked
    corrected: set[str] = field(default_factory=set)  # checkbox ids filled in completely (cancelled)
    ink: dict[str, bool] = field(default_factory=dict)  # handwritten path -> written in
    scan: dict[str, Any] = field(default_factory=dict)  # scanner settings used
    expect_manual: str | None = None  # the manual reason expected (None: the page is read)


# -- printing ------------------------------------------------------------------------------------

def render_pdf(version: FormVersion, tokens: list[str], *, prefill: list[Mapping[str, Any] | None] | None = None,
               signer: Callable[[str, int, int], str] | None = None) -> bytes:
    """The printed documents of ``tokens`` (one each) as one PDF, drawn by the application's printer."""
    layout = layout_for(version)
    printer = FormPrinter(layout, definition_of(version), current_app.extensions["inscriptions.town"],
                          signer=signer)  # type: ignore[arg-type]
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    for n, token in enumerate(tokens):
        printer.draw(canvas, token, prefill[n] if prefill else None)
    canvas.save()
    return out.getvalue()


def rasterise(pdf_bytes: bytes, dpi: int = RENDER_DPI) -> Iterator[np.ndarray]:
    """Greyscale pages of a PDF (pypdfium2)."""
    pdf = pdfium.PdfDocument(pdf_bytes)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            pixels = page.render(scale=dpi / 72, grayscale=True).to_numpy()
            page.close()
            yield np.ascontiguousarray(pixels[..., 0] if pixels.ndim == 3 else pixels)
    finally:
        pdf.close()


def print_blank(version: FormVersion, count: int, *, signer: Callable[[str, int, int], str] | None = None
                ) -> tuple[list[str], bytes]:
    """Issue ``count`` print tokens (committed) and print them blank."""
    from inscriptions.extensions import db

    layout = layout_for(version)
    tokens = issue_tokens(count, form_version_id=version.id, pages=layout.page_count)
    db.session.commit()
    return tokens, render_pdf(version, tokens, signer=signer)


@contextlib.contextmanager
def other_secret(secret: str) -> Iterator[None]:
    """Sign as another town would (another secret) while the block runs."""
    config = current_app.config
    saved = config.get("PAPER_SECRET")
    config["PAPER_SECRET"] = secret
    try:
        yield
    finally:
        if saved is None:
            config.pop("PAPER_SECRET", None)
        else:
            config["PAPER_SECRET"] = saved


def foreign_signer(secret: str = "another-town-secret") -> PayloadSigner:  # noqa: S107 - a test value
    """A payload signer of another installation (another town)."""
    with other_secret(secret):
        return PayloadSigner()


def forging_signer() -> Callable[[str, int, int], str]:
    """Payloads of this town with a made-up check code (an altered or invented QR code)."""
    genuine = PayloadSigner()

    def sign(token: str, page: int, total: int) -> str:
        text = genuine(token, page, total)
        last = "0" if text[-1] != "0" else "1"
        return text[:-1] + last

    return sign


# -- answers -------------------------------------------------------------------------------------

def random_answers(layout: FormLayout, rng: np.random.Generator, *, optional_blank: float = 0.15
                   ) -> dict[str, Any]:
    """Random answers to the checkbox questions of a layout (valid ones: one value for a single
    choice, at least one for a required multiple choice)."""
    answers: dict[str, Any] = {}
    for info in layout.fields:
        if info.select is None or not info.values:
            continue
        required = info.required == "always" and info.group is None
        if info.type == "consent":
            answers[info.path] = True if required or rng.random() > 0.3 else None
            continue
        if info.type == "file":
            answers[info.path] = "attached" if rng.random() < 0.5 else None
            continue
        if not required and info.type != "yes_no" and rng.random() < optional_blank:
            answers[info.path] = [] if info.select == "many" else None
            continue
        values = list(info.values)
        if info.select == "many":
            chosen = [v for v in values if rng.random() < 0.5]
            if not chosen:
                chosen = [values[int(rng.integers(len(values)))]]
            answers[info.path] = chosen
        else:
            answers[info.path] = values[int(rng.integers(len(values)))]
    return answers


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


def box_truth(layout: FormLayout, answers: Mapping[str, Any]) -> dict[str, bool]:
    """Which checkboxes the answers tick (box id -> ticked)."""
    truth = {}
    for _page, box in layout.boxes():
        if box.kind != "checkbox":
            continue
        value = answers.get(box.field)
        chosen = value if isinstance(value, list) else [value]
        truth[box.id] = any(_same(v, box.value) for v in chosen)
    return truth


# -- pen -----------------------------------------------------------------------------------------

def _pen(rng: np.random.Generator, light: bool = False) -> tuple[int, int]:
    """(grey level, width in pixels) of a pen: blue or black ballpoint, felt pen, or pencil."""
    if light:
        return int(rng.integers(120, 165)), max(1, round(float(rng.uniform(0.2, 0.3)) * MM))
    if rng.random() < 0.88:  # ballpoint
        return int(rng.integers(30, 110)), max(2, round(float(rng.uniform(0.28, 0.42)) * MM))
    return int(rng.integers(20, 80)), round(float(rng.uniform(0.45, 0.55) * MM))  # felt pen


def _stroke(layer: np.ndarray, points: list[tuple[float, float]], grey: int, width: int) -> None:
    pts = np.array([[round(x * MM * 16), round(y * MM * 16)] for x, y in points], np.int32)
    cv2.polylines(layer, [pts], False, grey, width, cv2.LINE_AA, shift=4)


def _jitter(rng: np.random.Generator, amount: float) -> float:
    return float(rng.uniform(-amount, amount))


def mark_box(layer: np.ndarray, box: Box, style: str, rng: np.random.Generator) -> None:
    """Draw one tick of ``style`` in ``box`` on an ink layer (mm layout coordinates)."""
    x, y, w, h = box.rect
    cx, cy = x + w / 2, y + h / 2
    light = style == "light"
    grey, width = _pen(rng, light)
    if style in ("cross", "light"):
        over = float(rng.uniform(-0.6, 0.8))
        a = (x - over + _jitter(rng, 0.5), y - over + _jitter(rng, 0.5))
        b = (x + w + over + _jitter(rng, 0.5), y + h + over + _jitter(rng, 0.5))
        c = (x + w + over + _jitter(rng, 0.5), y - over + _jitter(rng, 0.5))
        d = (x - over + _jitter(rng, 0.5), y + h + over + _jitter(rng, 0.5))
        _stroke(layer, [a, (cx + _jitter(rng, 0.3), cy + _jitter(rng, 0.3)), b], grey, width)
        _stroke(layer, [c, d], grey, width)
    elif style == "tick":
        start = (x + 0.8 + _jitter(rng, 0.4), cy + _jitter(rng, 0.6))
        bottom = (cx - 0.3 + _jitter(rng, 0.4), y + h - 0.6 + _jitter(rng, 0.4))
        end = (x + w + float(rng.uniform(0.0, 2.5)), y - float(rng.uniform(0.0, 2.0)))
        _stroke(layer, [start, bottom, end], grey, width)
    elif style in ("scribble", "scribble_fill"):
        # A quick zigzag over the box, or many of them.
        points = []
        turns = int(rng.integers(3, 5)) if style == "scribble" else int(rng.integers(7, 10))
        for n in range(turns):
            yy = y + 1.0 + (h - 2.0) * n / (turns - 1) + _jitter(rng, 0.3)
            xx = x + 0.8 + _jitter(rng, 0.4) if n % 2 == 0 else x + w - 0.8 + _jitter(rng, 0.4)
            points.append((xx, yy))
        _stroke(layer, points, grey, width)
    elif style == "dot_cross":
        # A small, hasty cross in the middle of the box.
        size = float(rng.uniform(1.4, 2.2))
        _stroke(layer, [(cx - size, cy - size), (cx + size, cy + size)], grey, width)
        _stroke(layer, [(cx + size, cy - size), (cx - size, cy + size)], grey, width)
    elif style == "fill":
        # A correction: the box filled in completely.
        for n in range(int(h * MM / max(1, width) * 1.6) + 2):
            yy = y + 0.3 + (h - 0.6) * n / (h * MM / max(1, width) * 1.6 + 1)
            _stroke(layer, [(x + 0.3, yy), (x + w - 0.3, yy + _jitter(rng, 0.2))], grey, width + 1)
    else:  # pragma: no cover
        raise ValueError(style)


def smudge(layer: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    """A grey smudge (finger, eraser) beside a box, never over its inside."""
    x, y, w, h = box.rect
    radius = float(rng.uniform(0.8, 2.0))
    angle = float(rng.uniform(0, 2 * math.pi))
    distance = w / 2 * math.sqrt(2) + radius + float(rng.uniform(0.6, 2.5))
    cx, cy = x + w / 2 + distance * math.cos(angle), y + h / 2 + distance * math.sin(angle)
    # Keep it clear of the box interior (plus 0.5 mm).
    nearest_x = min(max(cx, x), x + w)
    nearest_y = min(max(cy, y), y + h)
    if math.hypot(cx - nearest_x, cy - nearest_y) < radius + 0.5:
        return
    grey = int(rng.integers(150, 215))
    size = round(radius * MM * 2.5) | 1
    blob = np.zeros((size, size), np.float32)
    cv2.circle(blob, (size // 2, size // 2), round(radius * MM), 1.0, -1, cv2.LINE_AA)
    blob = cv2.GaussianBlur(blob, (0, 0), radius * MM / 3)
    patch = (255 - (255 - grey) * blob).astype(np.uint8)
    px, py = round(cx * MM) - size // 2, round(cy * MM) - size // 2
    height, width = layer.shape
    if px < 0 or py < 0 or px + size > width or py + size > height:
        return
    region = layer[py:py + size, px:px + size]
    np.minimum(region, patch, out=region)


def handwrite(layer: np.ndarray, box: Box, rng: np.random.Generator, fill: float = 0.7) -> None:
    """Handwriting-like strokes in a text, comb or signature box."""
    grey, width = _pen(rng)
    width = max(2, min(width, round(0.5 * MM)))
    if box.kind == "comb":
        for cx, cy, cw, ch in box.cells or []:
            if rng.random() > fill:
                continue
            points = [(cx + cw * float(rng.uniform(0.25, 0.75)), cy + ch * float(rng.uniform(0.2, 0.8)))
                      for _i in range(int(rng.integers(3, 6)))]
            _stroke(layer, points, grey, width)
        return
    x, y, w, h = box.rect
    if box.kind == "signature":
        points = [(x + 5 + (w - 10) * n / 12 + _jitter(rng, 2), y + h / 2 + _jitter(rng, h / 3)) for n in range(13)]
        _stroke(layer, points, grey, width)
        return
    lines = box.lines or 1
    step = h / lines
    for line in range(max(1, round(lines * fill))):
        base = y + step * (line + 0.8)
        letters = int(rng.integers(4, max(5, int((w - 4) / 3.5))))
        xx = x + 2.0
        for _letter in range(letters):
            if xx + 3 > x + w - 1.5:
                break
            points = [(xx + float(rng.uniform(0, 2.6)), base - float(rng.uniform(0.3, step * 0.55)))
                      for _i in range(int(rng.integers(2, 5)))]
            _stroke(layer, points, grey, width)
            xx += float(rng.uniform(2.8, 3.8))


def fill_in(pixels: np.ndarray, layout: FormLayout, page: int, truth: Mapping[str, bool], rng: np.random.Generator,
            *, styles: Mapping[str, float] | None = None, smudges: float = 0.08, corrections: float = 0.0,
            writing: float = 0.7) -> tuple[np.ndarray, dict[str, str], set[str], dict[str, bool]]:
    """Mark a rendered page (200 dpi) as a family would; returns the page, the style of each
    ticked box, the corrected (filled) boxes and which handwritten boxes got ink."""
    weights = dict(styles or TICK_STYLES)
    names, probs = list(weights), np.array(list(weights.values()), dtype=np.float64)
    probs /= probs.sum()
    layer = np.full_like(pixels, 255)
    used: dict[str, str] = {}
    corrected: set[str] = set()
    ink: dict[str, bool] = {}
    for box in layout.pages[page - 1].boxes:
        if box.kind == "checkbox":
            if truth.get(box.id):
                style = names[int(rng.choice(len(names), p=probs))]
                mark_box(layer, box, style, rng)
                used[box.id] = style
            elif corrections and rng.random() < corrections:
                mark_box(layer, box, "cross", rng)
                mark_box(layer, box, "fill", rng)
                corrected.add(box.id)
                used[box.id] = "fill"
            if rng.random() < smudges:
                smudge(layer, box, rng)
        else:
            written = box.kind == "signature" or rng.random() < writing
            if written:
                handwrite(layer, box, rng)
            ink[box.field] = ink.get(box.field, False) or written
    # Ink only darkens paper.
    return np.minimum(pixels, layer), used, corrected, ink


# -- scanner -------------------------------------------------------------------------------------

@dataclass
class ScanSettings:
    dpi: int = 200
    rotation: float = 0.0  # degrees
    scale: float = 1.0
    shift_mm: tuple[float, float] = (0.0, 0.0)
    blur: float = 0.0  # Gaussian sigma, output pixels
    noise: float = 0.0  # Gaussian sigma, grey levels
    jpeg: int | None = 85  # quality; None: PNG
    paper: float = 1.0  # paper brightness factor
    gradient: float = 0.0  # uneven lighting, share of brightness across the page
    upside_down: bool = False
    crop: tuple[float, float, float, float] | None = None  # kept part (x0, y0, x1, y1), page fractions
    perspective: float = 0.0  # mm of keystone (a phone picture)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def random_settings(rng: np.random.Generator, *, max_rotation: float = 3.0) -> ScanSettings:
    """A scanner of the kind agents use, sheet fed, somewhat worn."""
    return ScanSettings(
        dpi=int(rng.choice([150, 200, 240, 300])),
        rotation=float(rng.uniform(-max_rotation, max_rotation)),
        scale=float(rng.uniform(0.98, 1.02)),
        shift_mm=(float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))),
        blur=float(rng.uniform(0.0, 1.0)),
        noise=float(rng.uniform(0.0, 6.0)),
        jpeg=int(rng.integers(40, 96)),
        paper=float(rng.uniform(0.88, 1.0)),
        gradient=float(rng.uniform(0.0, 0.08)),
    )


def scan(pixels: np.ndarray, settings: ScanSettings, rng: np.random.Generator) -> bytes:
    """The page (200 dpi) as a scanner would give it back: an encoded JPEG or PNG file."""
    k = settings.dpi / RENDER_DPI * settings.scale
    source = pixels
    if k < 1.0:
        source = cv2.GaussianBlur(pixels, (0, 0), 0.45 / k)
    # The scanner's window is a little larger than the sheet (a skewed sheet keeps its corners).
    out_w, out_h = round(BED_MM[0] / 25.4 * settings.dpi), round(BED_MM[1] / 25.4 * settings.dpi)
    h, w = pixels.shape
    centre = (w / 2, h / 2)
    matrix = cv2.getRotationMatrix2D(centre, settings.rotation, k)
    matrix[0, 2] += out_w / 2 - centre[0] + settings.shift_mm[0] * settings.dpi / 25.4
    matrix[1, 2] += out_h / 2 - centre[1] + settings.shift_mm[1] * settings.dpi / 25.4
    if settings.perspective:
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        dst = cv2.transform(src.reshape(-1, 1, 2), matrix).reshape(-1, 2)
        d = settings.perspective * settings.dpi / 25.4
        dst = dst + np.array([[d, 0], [-d, 0], [0, 0], [0, 0]], np.float32)
        homography = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
        out = cv2.warpPerspective(source, homography, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=255)
    else:
        out = cv2.warpAffine(source, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=255)
    image = out.astype(np.float32)
    if settings.gradient:
        ramp = np.linspace(1.0, 1.0 - settings.gradient, out_w, dtype=np.float32)
        image *= ramp[None, :]
    image *= settings.paper
    if settings.blur > 0.05:
        image = cv2.GaussianBlur(image, (0, 0), settings.blur)
    if settings.noise > 0:
        image += rng.normal(0.0, settings.noise, image.shape).astype(np.float32)
    result = np.clip(image, 0, 255).astype(np.uint8)
    if settings.upside_down:
        result = np.ascontiguousarray(result[::-1, ::-1])
    if settings.crop is not None:
        x0, y0, x1, y1 = settings.crop
        result = np.ascontiguousarray(result[round(y0 * out_h):round(y1 * out_h), round(x0 * out_w):round(x1 * out_w)])
    if settings.jpeg is not None:
        ok, data = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg])
    else:
        ok, data = cv2.imencode(".png", result)
    if not ok:  # pragma: no cover
        raise ValueError("encoding failed")
    return data.tobytes()


# -- whole sets ----------------------------------------------------------------------------------

def filled_documents(version: FormVersion, count: int, rng: np.random.Generator, *,
                     settings: Callable[[np.random.Generator], ScanSettings] | None = None,
                     corrections: float = 0.0, styles: Mapping[str, float] | None = None,
                     smudges: float = 0.08, answers: list[dict[str, Any]] | None = None,
                     signer: Callable[[str, int, int], str] | None = None, kind: str = "normal",
                     ) -> tuple[list[SimPage], list[dict[str, Any]]]:
    """``count`` blank forms printed, filled with random (or given) answers and scanned.

    Returns the pages in document order and each document's answers.
    """
    layout = layout_for(version)
    tokens, pdf = print_blank(version, count, signer=signer)
    chosen = answers or [random_answers(layout, rng) for _token in tokens]
    truth = [box_truth(layout, a) for a in chosen]
    pages: list[SimPage] = []
    raster = rasterise(pdf)
    for doc, token in enumerate(tokens):
        for number in range(1, layout.page_count + 1):
            pixels = next(raster)
            marked, used, corrected, ink = fill_in(pixels, layout, number, truth[doc], rng, styles=styles,
                                                   smudges=smudges, corrections=corrections)
            scanner = (settings or random_settings)(rng)
            page_truth = {b.id: truth[doc][b.id] for b in layout.pages[number - 1].boxes if b.kind == "checkbox"}
            pages.append(SimPage(scan(marked, scanner, rng), f"{token}-{number}.jpg", kind, token, number,
                                 layout.page_count, page_truth, used, corrected, ink, scanner.to_json()))
    return pages, chosen


def harsh_pages(version: FormVersion, rng: np.random.Generator) -> list[SimPage]:
    """One page of each bad-input kind, with the manual reason expected (None: read anyway)."""
    pages: list[SimPage] = []

    def one(kind: str, expect: str | None, scanner: ScanSettings, **options: Any) -> SimPage:
        made, _answers = filled_documents(version, 1, rng, settings=lambda _rng: scanner, kind=kind, **options)
        page = made[0]
        page.expect_manual = expect
        pages.append(page)
        return page

    one("upside_down", None, ScanSettings(dpi=200, rotation=1.2, upside_down=True, jpeg=80, noise=3.0, blur=0.5))
    one("rotated_5", None, ScanSettings(dpi=200, rotation=-5.0, jpeg=70, noise=2.0))
    one("low_res_jpeg", None, ScanSettings(dpi=150, rotation=2.0, jpeg=25, noise=5.0, blur=0.8))
    one("perspective", None, ScanSettings(dpi=240, rotation=0.8, perspective=2.0, jpeg=75))
    one("corrections", None, ScanSettings(dpi=200, rotation=0.5, jpeg=85), corrections=0.5)
    one("partial", "anchors", ScanSettings(dpi=200, rotation=0.5, crop=(0.0, 0.0, 1.0, 0.62)))
    one("foreign_town", "foreign", ScanSettings(dpi=200), signer=foreign_signer())
    one("forged", "forged", ScanSettings(dpi=200), signer=forging_signer())
    # A correctly signed code whose document was never printed here (its row is gone).
    unknown = one("unknown", "unknown", ScanSettings(dpi=200))
    forget_token(unknown.token)
    # A page scanned twice: the same sheet again, another pass through the scanner.
    twice = filled_documents(version, 1, rng, kind="scanned_twice")[0][0]
    again = SimPage(scan(unscan(twice.data), ScanSettings(dpi=200, rotation=-0.7, jpeg=80), rng),
                    "again.jpg", "scanned_twice", twice.token, twice.page, twice.total, twice.truth, twice.styles,
                    twice.corrected, twice.ink)
    pages += [twice, again]
    for kind, pixels in (("blank", blank_page(rng)), ("noise", noise_page(rng)), ("no_qr", letter_page(rng))):
        pages.append(SimPage(scan(pixels, random_settings(rng), rng), f"{kind}.jpg", kind, expect_manual="no_qr"))
    return pages


def unscan(data: bytes) -> np.ndarray:
    """A file made by :func:`scan` back to an A4 page at 200 dpi (to scan the same sheet again)."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    bed = cv2.resize(pixels, (round(BED_MM[0] * MM), round(BED_MM[1] * MM)), interpolation=cv2.INTER_AREA)
    # scan() centres the sheet in the scanner's window.
    x0, y0 = round((BED_MM[0] - 210) / 2 * MM), round((BED_MM[1] - 297) / 2 * MM)
    return np.ascontiguousarray(bed[y0:y0 + round(297 * MM), x0:x0 + round(210 * MM)])


def forget_token(token: str | None) -> None:
    """Delete a print token: its well-signed code now names a document unknown here."""
    from sqlalchemy import delete

    from inscriptions.extensions import db
    from inscriptions.models import PrintToken

    db.session.execute(delete(PrintToken).where(PrintToken.token == token))
    db.session.commit()


def blank_page(rng: np.random.Generator) -> np.ndarray:
    """An empty sheet (a page fed by mistake, a blank back)."""
    return np.full((round(297 * MM), round(210 * MM)), int(rng.integers(235, 256)), np.uint8)


def noise_page(rng: np.random.Generator) -> np.ndarray:
    """Random pixels: a scanner fault."""
    return rng.integers(0, 256, (round(297 * MM), round(210 * MM)), dtype=np.uint8)


def letter_page(rng: np.random.Generator) -> np.ndarray:
    """A page of another document: lines of 'text', a rule, no QR code."""
    pixels = np.full((round(297 * MM), round(210 * MM)), 250, np.uint8)
    for line in range(40):
        y = round((30 + line * 6) * MM)
        x = round(20 * MM)
        while x < round(185 * MM):
            word = int(rng.integers(10, 60))
            cv2.rectangle(pixels, (x, y), (x + word, y + 14), 40, -1)
            x += word + 12
    return pixels
