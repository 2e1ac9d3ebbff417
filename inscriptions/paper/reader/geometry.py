"""Finding a page in a scan: its QR code, its corner marks, and the template-to-image homography.

Coordinates: the template is the layout's millimetres (top-left origin, y down); images use
pixel-centre coordinates (pixel ``i`` spans ``[i - 0.5, i + 0.5]``). A page is read in a
*rectified* copy: the scan warped back onto the template at :data:`RECT_DPI`, whatever the
scan's resolution, rotation or orientation, so boxes sit at their layout positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from inscriptions.paper.layout import FormLayout

RECT_DPI = 200
PX_PER_MM = RECT_DPI / 25.4

_OURS = re.compile(r"^IN\d-")
_QR = zxingcpp.BarcodeFormat.QRCode


@dataclass(frozen=True)
class QrFound:
    """A decoded QR code: its text and its four corners in the symbol's own order (top-left,
    top-right, bottom-right, bottom-left, whatever the page's orientation), image pixels."""

    text: str
    corners: np.ndarray  # (4, 2) float64

    @property
    def side_px(self) -> float:
        c = self.corners
        return float(np.mean([np.linalg.norm(c[i] - c[(i + 1) % 4]) for i in range(4)]))


def _decode(pixels: np.ndarray, **options: object) -> list[zxingcpp.Barcode]:
    try:
        return zxingcpp.read_barcodes(np.ascontiguousarray(pixels), formats=_QR, **options)
    except (RuntimeError, ValueError):  # pragma: no cover - zxing refuses odd buffers
        return []


def _found(barcode: zxingcpp.Barcode, dx: float = 0.0, dy: float = 0.0, flip: tuple[int, int] | None = None
           ) -> QrFound:
    p = barcode.position
    # zxing gives corners on pixel edges; convert to pixel-centre coordinates.
    pts = np.array([[p.top_left.x, p.top_left.y], [p.top_right.x, p.top_right.y],
                    [p.bottom_right.x, p.bottom_right.y], [p.bottom_left.x, p.bottom_left.y]], dtype=np.float64)
    pts += (dx - 0.5, dy - 0.5)
    if flip is not None:
        width, height = flip
        pts = np.column_stack([width - 1 - pts[:, 0], height - 1 - pts[:, 1]])
    return QrFound(barcode.text, pts)


def find_qr(pixels: np.ndarray) -> QrFound | None:
    """Decode the page's QR code, cheapest places first.

    The top-right corner (where it is printed), the bottom-left one (page scanned upside down),
    the whole page, the whole page turned 180°. When several QR codes are found, one that looks
    like ours wins (a stray QR code of another document must not hide it).
    """
    height, width = pixels.shape
    attempts: list[tuple[np.ndarray, float, float, tuple[int, int] | None]] = [
        (pixels[: int(height * 0.3), int(width * 0.55):], width * 0.55, 0.0, None),
        (pixels[int(height * 0.7):, : int(width * 0.45)], 0.0, height * 0.7, None),
        (pixels, 0.0, 0.0, None),
    ]
    seen: list[QrFound] = []
    for region, dx, dy, flip in attempts:
        found = [_found(b, int(dx), int(dy), flip) for b in _decode(region) if b.text]
        ours = [f for f in found if _OURS.match(f.text)]
        if ours:
            return ours[0]
        seen += found
    rotated = np.ascontiguousarray(pixels[::-1, ::-1])
    for options in ({}, {"binarizer": zxingcpp.Binarizer.GlobalHistogram}):
        found = [_found(b, 0.0, 0.0, (width, height)) for b in _decode(rotated, **options) if b.text]
        ours = [f for f in found if _OURS.match(f.text)]
        if ours:
            return ours[0]
        seen += found
    return seen[0] if seen else None


def qr_template_corners(layout: FormLayout) -> np.ndarray:
    x, y, w, h = layout.qr.rect
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def _project(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), matrix).reshape(-1, 2)


def paper_level(region: np.ndarray) -> float:
    """The paper's grey level in a region: its 90th percentile (ink and print are darker)."""
    if not region.size:
        return 255.0
    counts = np.bincount(region.ravel(), minlength=256).cumsum()
    return float(np.searchsorted(counts, 0.9 * counts[-1]))


def find_mark(pixels: np.ndarray, centre: np.ndarray, side_px: float) -> np.ndarray | None:
    """Centre (image pixels) of the solid square corner mark expected near ``centre``, or None.

    Looks in a window of about two mark sides around the prediction for one dark, compact, square
    blob of the expected area; its centroid is precise to a fraction of a pixel.
    """
    height, width = pixels.shape
    radius = round(side_px * 1.6)
    cx, cy = round(float(centre[0])), round(float(centre[1]))
    x0, y0 = max(0, cx - radius), max(0, cy - radius)
    x1, y1 = min(width, cx + radius + 1), min(height, cy + radius + 1)
    if x1 - x0 < side_px or y1 - y0 < side_px:
        return None
    window = pixels[y0:y1, x0:x1]
    paper = paper_level(window)
    if paper < 60:  # a black window (scanner lid, page edge): nothing to find
        return None
    ink = (window < paper * 0.5).astype(np.uint8)
    count, _labels, stats, centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
    expected = side_px * side_px
    best, best_distance = None, float("inf")
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if not 0.6 * expected <= area <= 1.5 * expected:
            continue
        if not 0.75 <= w / h <= 1.33 or area < 0.6 * w * h:
            continue
        if x == 0 or y == 0 or x + w >= window.shape[1] or y + h >= window.shape[0]:
            continue  # cut by the window or the page edge: its centroid would be wrong
        point = centroids[label] + (x0, y0)
        distance = float(np.hypot(*(point - centre)))
        if distance < best_distance:
            best, best_distance = point, distance
    return None if best is None else np.asarray(best, dtype=np.float64)


@dataclass
class Alignment:
    """The template (mm) to image (px) transformation and how well the anchors agree with it."""

    matrix: np.ndarray
    anchors: int  # anchors found: corner marks + the 4 QR corners
    marks: int  # corner marks found
    error_mm: float  # RMS distance between the QR corners found and where the marks put them
    px_per_mm: float  # scan resolution at the page (mean scale)
    rotation: float  # degrees, counter-clockwise, of the page in the scan


def align(pixels: np.ndarray, qr: QrFound, layout: FormLayout) -> Alignment | None:
    """Fit the page on its corner marks and check the fit on the QR corners; None when the QR
    corners are unusable. Gates are the caller's (marks found, error).

    Four marks give a homography (perspective included), three an affine map. The QR corners are
    kept out of the fit on purpose: four clustered points would let a consensus (RANSAC) bend
    the page to fit them and drop a distant mark; as an independent check they catch a creased
    or distorted sheet, or a mark mistaken for a blot.
    """
    src_qr = qr_template_corners(layout)
    dst_qr = qr.corners
    # Predict the marks with a similarity (rotation, scale, shift) from the QR corners: a 4-point
    # homography would amplify the corners' pixel errors tenfold 270 mm away.
    similarity, _inliers = cv2.estimateAffinePartial2D(src_qr, dst_qr)
    if similarity is None or not np.all(np.isfinite(similarity)):
        return None
    first = np.vstack([similarity, [0.0, 0.0, 1.0]])
    px_per_mm = qr.side_px / layout.qr.rect[2]
    if not 2.0 <= px_per_mm <= 40.0:  # 50 to 1000 dpi
        return None
    src, dst = [], []
    for x, y, w, h in layout.marks:
        centre = np.array([x + w / 2, y + h / 2])
        found = find_mark(pixels, _project(first, centre[None, :])[0], w * px_per_mm)
        if found is not None:
            src.append(centre)
            dst.append(found)
    marks = len(src)
    if marks < 3:
        return Alignment(first, 4 + marks, marks, float("inf"), px_per_mm, 0.0)
    src_arr, dst_arr = np.array(src, np.float32), np.array(dst, np.float32)
    if marks >= 4:
        matrix = cv2.getPerspectiveTransform(src_arr[:4], dst_arr[:4]).astype(np.float64)
    else:
        matrix = np.vstack([cv2.getAffineTransform(src_arr, dst_arr), [0.0, 0.0, 1.0]])
    if not np.all(np.isfinite(matrix)):  # pragma: no cover - marks on a line
        return Alignment(first, 4 + marks, 0, float("inf"), px_per_mm, 0.0)
    # Local scale and rotation at the page centre.
    a, b, c = _project(matrix, np.array([[105.0, 148.5], [115.0, 148.5], [105.0, 158.5]]))
    scale = (np.linalg.norm(b - a) + np.linalg.norm(c - a)) / 20.0
    rotation = float(np.degrees(np.arctan2(-(b - a)[1], (b - a)[0])))
    residual = np.linalg.norm(_project(matrix, src_qr) - dst_qr, axis=1)
    return Alignment(matrix, 4 + marks, marks, float(np.sqrt(np.mean(residual ** 2))) / scale, float(scale),
                     rotation)


def rectify(pixels: np.ndarray, matrix: np.ndarray, page_size: tuple[float, float]) -> np.ndarray:
    """The scan warped onto the template at :data:`RECT_DPI` (pixel ``(i, j)`` is at ``(j + 0.5,
    i + 0.5) / PX_PER_MM`` mm); outside the scan is white."""
    width, height = round(page_size[0] * PX_PER_MM), round(page_size[1] * PX_PER_MM)
    # Rectified pixel centre (j, i) -> template mm ((j + 0.5) / k, (i + 0.5) / k) -> image pixels.
    to_mm = np.array([[1 / PX_PER_MM, 0, 0.5 / PX_PER_MM], [0, 1 / PX_PER_MM, 0.5 / PX_PER_MM], [0, 0, 1]])
    return cv2.warpPerspective(pixels, matrix @ to_mm, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def mm_to_rect_px(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A layout rectangle in rectified pixel edges (x0, y0, x1, y1)."""
    x, y, w, h = rect
    return x * PX_PER_MM, y * PX_PER_MM, (x + w) * PX_PER_MM, (y + h) * PX_PER_MM
