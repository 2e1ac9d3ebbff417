"""The town logo on printed documents, without an SVG library.

PNG and JPEG logos are drawn as images. SVG logos are drawn by a small interpreter of the subset
simple logos use: ``rect``, ``circle``, ``ellipse``, ``polygon``, ``path`` (straight lines and
Bézier curves, absolute or relative), groups, and plain fill colours. A logo using anything else
(transforms, gradients, arcs, text, embedded images) is not drawn: documents then show the town
name alone, in the town's colour, which is always printed beside the logo anyway. A full SVG
renderer (svglib, cairo) would be a heavy dependency for one picture.

Letters draw it once per PDF as a form XObject reused on every page (forms draw it inside each
page's own XObject).
"""

from __future__ import annotations

import logging
import re
import weakref
import xml.etree.ElementTree as ET  # the town's own logo file, not user input
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from inscriptions.town import Town

log = logging.getLogger(__name__)
MM = 72 / 25.4
_NAMED = {"white": "#ffffff", "black": "#000000"}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_PATH_TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtZzAa]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class UnsupportedSvg(Exception):
    """The SVG uses something this small interpreter does not draw."""


@dataclass
class _Shape:
    fill: tuple[float, float, float]
    build: Callable[[Any, Callable[[float, float], tuple[float, float]]], None]


@dataclass
class Logo:
    """A logo ready to draw in a rectangle (millimetres, top-left origin)."""

    shapes: list[_Shape] = field(default_factory=list)
    view: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    image: ImageReader | None = None
    _forms: weakref.WeakKeyDictionary[Canvas, str] = field(default_factory=weakref.WeakKeyDictionary)

    def draw(self, canvas: Canvas, rect: tuple[float, float, float, float], page_h: float) -> None:
        """Draw the logo, defined once per PDF as a form XObject (same ``rect`` on every page)."""
        name = self._forms.get(canvas)
        if name is None:
            name = "townlogo"
            canvas.beginForm(name)
            self.draw_now(canvas, rect, page_h)
            canvas.endForm()
            self._forms[canvas] = name
        canvas.doForm(name)

    def draw_now(self, canvas: Canvas, rect: tuple[float, float, float, float], page_h: float) -> None:
        x, y, w, h = rect
        if self.image is not None:
            iw, ih = self.image.getSize()
            scale = min(w / iw, h / ih)
            canvas.drawImage(self.image, x * MM, (page_h - y - ih * scale) * MM, iw * scale * MM, ih * scale * MM,
                             mask="auto")
            return
        vx, vy, vw, vh = self.view
        scale = min(w / vw, h / vh)

        def point(px: float, py: float) -> tuple[float, float]:
            return (x + (px - vx) * scale) * MM, (page_h - y - (py - vy) * scale) * MM

        for shape in self.shapes:
            canvas.setFillColorRGB(*shape.fill)
            path = canvas.beginPath()
            shape.build(path, point)
            canvas.drawPath(path, stroke=0, fill=1)


def load_logo(town: Town) -> Logo | None:
    """The town's logo, or ``None`` when it has none or it cannot be drawn (the name is printed alone)."""
    path: Path | None = town.logo_path
    if path is None or not path.is_file():
        return None
    try:
        if path.suffix.lower() == ".svg":
            return parse_svg(path.read_text(encoding="utf-8"))
        return Logo(image=ImageReader(str(path)))
    except (UnsupportedSvg, ET.ParseError, OSError, ValueError) as exc:
        log.info("town logo %s not drawn on paper (%s): the town name is printed instead", path, exc)
        return None


def _colour(value: str | None, inherited: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
    if value is None:
        return inherited
    value = _NAMED.get(value.strip().lower(), value.strip())
    if value == "none":
        return None
    if re.fullmatch(r"#[0-9a-fA-F]{3}", value):
        value = "#" + "".join(c * 2 for c in value[1:])
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise UnsupportedSvg(f"fill {value!r}")
    return int(value[1:3], 16) / 255, int(value[3:5], 16) / 255, int(value[5:7], 16) / 255


def _fill_of(el: ET.Element, inherited: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
    fill = el.get("fill")
    style = el.get("style") or ""
    match = re.search(r"fill\s*:\s*([^;]+)", style)
    if match:
        fill = match.group(1)
    return _colour(fill, inherited)


def _f(el: ET.Element, name: str, default: float = 0.0) -> float:
    value = el.get(name)
    if value is None:
        return default
    match = _NUMBER.match(value.strip())
    if match is None:
        raise UnsupportedSvg(f"{name}={value!r}")
    return float(match.group())


def parse_svg(text: str) -> Logo:
    """A :class:`Logo` from SVG source; raise :class:`UnsupportedSvg` for what it cannot draw."""
    root = ET.fromstring(text)  # noqa: S314 - the town's own logo file
    if root.tag.rsplit("}", 1)[-1] != "svg":
        raise UnsupportedSvg("not an svg document")
    view = root.get("viewBox")
    if view:
        vx, vy, vw, vh = (float(v) for v in view.replace(",", " ").split())
    else:
        vx, vy, vw, vh = 0.0, 0.0, _f(root, "width", 100.0), _f(root, "height", 100.0)
    logo = Logo(view=(vx, vy, vw, vh))
    _walk(root, _fill_of(root, (0.0, 0.0, 0.0)), logo.shapes)
    if not logo.shapes:
        raise UnsupportedSvg("nothing to draw")
    return logo


def _walk(el: ET.Element, fill: tuple[float, float, float] | None, shapes: list[_Shape]) -> None:
    for child in el:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag in ("title", "desc", "metadata"):
            continue
        if child.get("transform") or child.get("clip-path") or child.get("mask"):
            raise UnsupportedSvg("transforms, clips and masks")
        own = _fill_of(child, fill)
        if tag == "g":
            _walk(child, own, shapes)
            continue
        build = _builder(tag, child)
        if own is not None:
            shapes.append(_Shape(own, build))


def _builder(tag: str, el: ET.Element) -> Callable[[Any, Callable[[float, float], tuple[float, float]]], None]:
    if tag == "rect":
        x, y, w, h = _f(el, "x"), _f(el, "y"), _f(el, "width"), _f(el, "height")
        # Rounded corners are drawn square: invisible at logo size on paper.
        return lambda path, pt: _polygon(path, pt, [(x, y), (x + w, y), (x + w, y + h), (x, y + h)])
    if tag in ("circle", "ellipse"):
        cx, cy = _f(el, "cx"), _f(el, "cy")
        rx = _f(el, "r") if tag == "circle" else _f(el, "rx")
        ry = _f(el, "r") if tag == "circle" else _f(el, "ry")

        def ellipse(path: Any, pt: Callable[[float, float], tuple[float, float]]) -> None:
            (x1, y1), (x2, y2) = pt(cx - rx, cy - ry), pt(cx + rx, cy + ry)
            path.ellipse(min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1))

        return ellipse
    if tag == "polygon":
        numbers = [float(n) for n in _NUMBER.findall(el.get("points", ""))]
        points = list(zip(numbers[0::2], numbers[1::2], strict=False))
        return lambda path, pt: _polygon(path, pt, points)
    if tag == "path":
        commands = _path_commands(el.get("d", ""))
        return lambda path, pt: _draw_path(path, pt, commands)
    raise UnsupportedSvg(f"<{tag}>")


def _polygon(path: Any, pt: Callable[[float, float], tuple[float, float]], points: list[tuple[float, float]]) -> None:
    if not points:
        return
    path.moveTo(*pt(*points[0]))
    for p in points[1:]:
        path.lineTo(*pt(*p))
    path.close()


def _path_commands(d: str) -> list[tuple[str, list[float]]]:
    """Absolute ``M``/``L``/``C``/``Z`` commands from SVG path data (relative forms resolved)."""
    tokens = _PATH_TOKEN.findall(d)
    out: list[tuple[str, list[float]]] = []
    x = y = sx = sy = 0.0
    last_ctrl: tuple[float, float] | None = None
    i = 0
    cmd = ""
    arity = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "Z": 0}
    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
        if not cmd:
            raise UnsupportedSvg("path data without a command")
        upper = cmd.upper()
        if upper not in arity:
            raise UnsupportedSvg(f"path command {cmd!r}")
        n = arity[upper]
        args = [float(t) for t in tokens[i : i + n]]
        if len(args) != n:
            raise UnsupportedSvg("truncated path data")
        i += n
        rel = cmd.islower()
        if upper == "Z":
            out.append(("Z", []))
            x, y = sx, sy
            last_ctrl = None
            if i < len(tokens) and not tokens[i].isalpha():
                raise UnsupportedSvg("numbers after Z")
            continue
        if upper == "H":
            x = x + args[0] if rel else args[0]
            out.append(("L", [x, y]))
        elif upper == "V":
            y = y + args[0] if rel else args[0]
            out.append(("L", [x, y]))
        elif upper in ("M", "L"):
            nx, ny = (x + args[0], y + args[1]) if rel else (args[0], args[1])
            out.append((upper, [nx, ny]))
            x, y = nx, ny
            if upper == "M":
                sx, sy = x, y
                cmd = "l" if rel else "L"  # further pairs after a move are lines
        elif upper in ("C", "S", "Q"):
            pts = [(args[k] + (x if rel else 0.0), args[k + 1] + (y if rel else 0.0)) for k in range(0, n, 2)]
            if upper == "S":
                first = (2 * x - last_ctrl[0], 2 * y - last_ctrl[1]) if last_ctrl else (x, y)
                pts = [first, *pts]
            if upper == "Q":
                (qx, qy), end = pts
                pts = [(x + 2 / 3 * (qx - x), y + 2 / 3 * (qy - y)), (end[0] + 2 / 3 * (qx - end[0]),
                                                                    end[1] + 2 / 3 * (qy - end[1])), end]
            out.append(("C", [v for p in pts for v in p]))
            last_ctrl = pts[1]
            x, y = pts[2]
            continue
        last_ctrl = None
    return out


def _draw_path(path: Any, pt: Callable[[float, float], tuple[float, float]],
               commands: list[tuple[str, list[float]]]) -> None:
    for cmd, args in commands:
        if cmd == "M":
            path.moveTo(*pt(*args))
        elif cmd == "L":
            path.lineTo(*pt(*args))
        elif cmd == "C":
            path.curveTo(*pt(args[0], args[1]), *pt(args[2], args[3]), *pt(args[4], args[5]))
        else:
            path.close()
