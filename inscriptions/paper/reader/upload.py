"""Scanned files into page images: multi-page PDFs, JPEG/PNG pictures, multi-frame TIFFs.

Every page becomes a :class:`PageImage` (8-bit greyscale). Anything that is not one of these
formats, is damaged, or is too big (page count, pixels: decompression bombs) raises
:class:`UploadError` with a ``reason`` code and a message for people; nothing else escapes.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Container, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import pypdfium2 as pdfium
from flask_babel import gettext as _
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

RASTER_DPI = 200  # PDF pages are rasterised at this resolution (enough for 0.8 mm QR modules)
MAX_UPLOAD_BYTES = 300 * 1024 * 1024
MAX_PAGES = 500  # one upload: a scanner's stack
MAX_PIXELS = 60_000_000  # one page (A4 at 600 dpi is 35 Mpx); beyond it is a bomb or a poster
# A PDF page larger than this (points, either side) is not a scanned sheet: A2 is 1191 x 1684 pt.
MAX_PDF_SIDE_PT = 1700.0


class UploadError(Exception):
    """A file that cannot be read as scanned pages. ``reason``: ``empty``, ``too_large``,
    ``unsupported``, ``corrupt``, ``encrypted``, ``too_many_pages``, ``page_too_large``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class PageImage:
    """One scanned page: greyscale pixels (``H x W`` uint8), its place in the upload and its source.

    ``index`` counts pages across the whole upload from 0; ``dpi`` is what the file says
    (``None`` when it says nothing): the reader does not need it, it measures the page itself.
    """

    pixels: np.ndarray
    index: int = 0
    source: str = ""
    dpi: float | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def png(self, max_side: int | None = None) -> bytes:
        """The page as PNG (shrunk to ``max_side`` pixels when given), e.g. for the manual queue."""
        pixels = self.pixels
        if max_side and max(pixels.shape) > max_side:
            ratio = max_side / max(pixels.shape)
            size = (max(1, round(pixels.shape[1] * ratio)), max(1, round(pixels.shape[0] * ratio)))
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:  # pragma: no cover - encoding 8-bit greyscale does not fail
            raise ValueError("PNG encoding failed")
        return data.tobytes()


def _kind(data: bytes) -> str | None:
    head = data[:1024]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    # Some scanners write a few bytes (a BOM, blank lines) before the PDF header.
    if b"%PDF-" in head:
        return "pdf"
    return None


def read_upload(data: bytes, filename: str = "", *, max_pages: int = MAX_PAGES, max_pixels: int = MAX_PIXELS,
                max_bytes: int = MAX_UPLOAD_BYTES, first_index: int = 0) -> list[PageImage]:
    """The pages of an uploaded scan, in order; raise :class:`UploadError` for anything unusable.

    The file type is told by its content, not by ``filename`` (kept as each page's ``source``).
    ``first_index`` numbers the pages when several files make one stack. Every page is decoded
    at once: background jobs use :func:`iter_upload` (one page in memory at a time).
    """
    pages = list(iter_upload(data, filename, max_pages=max_pages, max_pixels=max_pixels, max_bytes=max_bytes,
                             first_index=first_index))
    if not pages:
        raise UploadError("empty", _("The file has no pages."))
    return pages


def _check(data: bytes, max_bytes: int) -> str:
    if not data:
        raise UploadError("empty", _("The file is empty."))
    if len(data) > max_bytes:
        raise UploadError("too_large", _("The file is too large (%(n)s MB at most): scan the stack in several "
                                         "files.", n=max_bytes // (1024 * 1024)))
    kind = _kind(data)
    if kind is None:
        raise UploadError("unsupported", _("This file is not a PDF, JPEG, PNG or TIFF scan."))
    return kind


def iter_upload(data: bytes, filename: str = "", *, max_pages: int = MAX_PAGES, max_pixels: int = MAX_PIXELS,
                max_bytes: int = MAX_UPLOAD_BYTES, first_index: int = 0,
                skip: Container[int] = ()) -> Iterator[PageImage]:
    """:func:`read_upload` one page at a time (memory stays flat for a 500-page stack).

    Pages whose index is in ``skip`` are not decoded (a resumed job). Raises
    :class:`UploadError` when the file (or a page of it) is unusable, at the page where it is found.
    """
    kind = _check(data, max_bytes)
    reader = _pdf_pages if kind == "pdf" else _image_pages
    pages = reader(data, max_pages, max_pixels, skip={i - first_index for i in skip})
    n = 0
    while True:
        try:
            item = next(pages)
        except StopIteration:
            return
        except UploadError:
            raise
        except Exception as err:  # a damaged file may break a decoder anywhere: never crash the intake
            raise UploadError("corrupt", _("The file is damaged and cannot be read.")) from err
        if item is not None:
            pixels, dpi = item
            yield PageImage(pixels, first_index + n, filename, dpi)
        n += 1


def count_pages(data: bytes, filename: str = "", *, max_pages: int = MAX_PAGES, max_pixels: int = MAX_PIXELS,
                max_bytes: int = MAX_UPLOAD_BYTES) -> int:
    """How many pages the file has, checking what can be checked without decoding pixels.

    Raises :class:`UploadError` like :func:`read_upload` (type, size, page count, page size,
    password, damage found while opening): the upload request refuses such files at once.
    """
    kind = _check(data, max_bytes)
    try:
        count = _pdf_count(data, max_pixels) if kind == "pdf" else _image_count(data, max_pixels)
    except UploadError:
        raise
    except Exception as err:
        raise UploadError("corrupt", _("The file is damaged and cannot be read.")) from err
    if count == 0:
        raise UploadError("empty", _("The file has no pages."))
    if count > max_pages:
        raise _too_many(max_pages)
    return count


def _open_pdf(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        if "password" in str(err).lower():
            raise UploadError("encrypted", _("The PDF is protected by a password.")) from err
        raise UploadError("corrupt", _("The file is damaged and cannot be read.")) from err


def _pdf_count(data: bytes, max_pixels: int) -> int:
    pdf = _open_pdf(data)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                _check_pdf_page(page, max_pixels)
            finally:
                page.close()
        return len(pdf)
    finally:
        pdf.close()


def _image_count(data: bytes, max_pixels: int) -> int:
    image = _open_image(data)
    with image:
        count = 0
        for frame in ImageSequence.Iterator(image):
            width, height = frame.size
            if width <= 0 or height <= 0 or width * height > max_pixels:
                raise _page_too_large()
            count += 1
        return count


def _too_many(max_pages: int) -> UploadError:
    return UploadError("too_many_pages", _("The file has more than %(n)s pages: scan the stack in several files.",
                                           n=max_pages))


def _page_too_large() -> UploadError:
    return UploadError("page_too_large", _("A page of this file is far too large to be a scanned sheet."))


def _check_pdf_page(page: pdfium.PdfPage, max_pixels: int) -> float:
    width, height = page.get_size()
    if not (0 < width <= MAX_PDF_SIDE_PT and 0 < height <= MAX_PDF_SIDE_PT):
        raise _page_too_large()
    scale = RASTER_DPI / 72
    if width * height * scale * scale > max_pixels:
        raise _page_too_large()
    return scale


def _pdf_pages(data: bytes, max_pages: int, max_pixels: int,
               skip: Container[int] = ()) -> Iterator[tuple[np.ndarray, float] | None]:
    pdf = _open_pdf(data)
    try:
        count = len(pdf)
        if count > max_pages:
            raise _too_many(max_pages)
        for index in range(count):
            if index in skip:
                yield None
                continue
            page = pdf[index]
            try:
                scale = _check_pdf_page(page, max_pixels)
                bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=False)
                pixels = bitmap.to_numpy()
                if pixels.ndim == 3:
                    pixels = pixels[..., 0]
                result = (np.ascontiguousarray(pixels, dtype=np.uint8), float(RASTER_DPI))
            finally:
                page.close()
            yield result
    finally:
        pdf.close()


def _open_image(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns about big images; the size is checked below before any pixel is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise _page_too_large() from err
    except UnidentifiedImageError as err:
        raise UploadError("corrupt", _("The file is damaged and cannot be read.")) from err


def _image_pages(data: bytes, max_pages: int, max_pixels: int,
                 skip: Container[int] = ()) -> Iterator[tuple[np.ndarray, float | None] | None]:
    image = _open_image(data)
    with image:
        for n, frame in enumerate(ImageSequence.Iterator(image)):
            if n >= max_pages:
                raise _too_many(max_pages)
            width, height = frame.size
            if width <= 0 or height <= 0 or width * height > max_pixels:
                raise _page_too_large()
            yield None if n in skip else (_grey(frame), _dpi(frame))


def _dpi(frame: Image.Image) -> float | None:
    dpi = frame.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else None
    except (TypeError, ValueError, IndexError):
        return None
    return value if value and 20 <= value <= 2400 else None


def _grey(frame: Image.Image) -> np.ndarray:
    """8-bit greyscale of any mode, upright (phone pictures carry their orientation in EXIF)."""
    frame = ImageOps.exif_transpose(frame) or frame
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        # Transparent pixels are paper, not ink.
        rgba = frame.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        frame = Image.alpha_composite(background, rgba)
    if frame.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(frame, dtype=np.float64)
        top = wide.max() or 1.0
        return np.ascontiguousarray((wide * (255.0 / (65535.0 if top > 255 else 255.0))).clip(0, 255),
                                    dtype=np.uint8)
    if frame.mode == "1":
        frame = frame.convert("L")
    return np.ascontiguousarray(np.asarray(frame.convert("L"), dtype=np.uint8))
