"""Bad input: unreadable, foreign, forged, unknown, partial pages; files that are not scans."""

from __future__ import annotations

import io
import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from reader_helpers import read_all, scan_document

from inscriptions.models import FormVersion
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import PageImage, UploadError, read_page, read_upload
from inscriptions.paper.reader import simulate as sim
from inscriptions.paper.reader.lookup import DatabaseLookup, PageTarget


def test_pages_without_a_code_go_to_the_manual_queue(app: object) -> None:
    rng = np.random.default_rng(1)
    pages = {
        "blank": np.full((2339, 1654), 245, np.uint8),
        "noise": rng.integers(0, 256, (2339, 1654), dtype=np.uint8),
        "letter": sim.letter_page(rng),
        "tiny": np.full((10, 10), 255, np.uint8),
    }
    for name, pixels in pages.items():
        reading = read_page(PageImage(pixels, 3, f"{name}.png"))
        assert (reading.status, reading.reason) == ("manual", "no_qr"), name
        assert "QR code" in reading.message
        assert reading.index == 3 and reading.token is None and reading.boxes == []
        json.dumps(reading.to_json())


@pytest.mark.parametrize(("kind", "reason"), [("foreign", "foreign"), ("forged", "forged"), ("unknown", "unknown")])
def test_codes_not_ours_go_to_the_manual_queue(canteen_version: FormVersion, kind: str, reason: str) -> None:
    rng = np.random.default_rng(2)
    signer = {"foreign": sim.foreign_signer(), "forged": sim.forging_signer(), "unknown": None}[kind]
    pages, _answers = sim.filled_documents(canteen_version, 1, rng, signer=signer,
                                           settings=lambda _r: sim.ScanSettings(dpi=200))
    if kind == "unknown":
        sim.forget_token(pages[0].token)
    reading = read_all(pages[:1])[0]
    assert (reading.status, reading.reason) == ("manual", reason)
    assert reading.message  # a sentence for the agent
    assert reading.token is None and reading.qr_payload is not None and reading.boxes == []


def test_partial_page_is_not_guessed(canteen_version: FormVersion) -> None:
    pages = scan_document(canteen_version, {"days": ["mon"]},
                          settings=sim.ScanSettings(dpi=200, crop=(0.0, 0.0, 1.0, 0.6)))
    reading = read_all(pages[:1])[0]
    # Identified (its QR code is there) but not aligned: manual, with its document known.
    assert (reading.status, reading.reason) == ("manual", "anchors")
    assert reading.token == pages[0].token and reading.page == 1
    assert reading.boxes == [] and reading.fields == {}


def test_a_wrong_layout_is_not_trusted(canteen_version: FormVersion, every_version: FormVersion) -> None:
    """If the boxes are not where the layout says, nothing is read from them."""
    pages = scan_document(canteen_version, {"days": ["mon", "tue"]})
    genuine = DatabaseLookup()
    other = layout_for(every_version)

    def wrong(payload: str) -> PageTarget:
        target = genuine(payload)
        return PageTarget(target.token, target.page, target.total, every_version.id, "every", 1, other)

    (image,) = read_upload(pages[0].data, "p.png")
    reading = read_page(image, lookup=wrong)
    assert (reading.status, reading.reason) == ("manual", "box_alignment")
    assert reading.boxes == [] and reading.fields == {}


def test_a_distorted_page_is_not_guessed(canteen_version: FormVersion) -> None:
    """Corner marks and QR code disagree (a creased sheet, a QR label stuck back askew): manual."""
    layout = layout_for(canteen_version)
    _tokens, pdf = sim.print_blank(canteen_version, 1)
    pixels = next(sim.rasterise(pdf))
    x, y, w, h = (round(v * sim.MM) for v in layout.qr.rect)
    shift = round(1.6 * sim.MM)
    symbol = pixels[y - 8 : y + h + 8, x - 8 : x + w + 8].copy()
    pixels[y - 8 : y + h + 8, x - 8 : x + w + 8] = 255
    pixels[y - 8 + shift : y + h + 8 + shift, x - 8 - shift : x + w + 8 - shift] = symbol
    (image,) = read_upload(sim.scan(pixels, sim.ScanSettings(jpeg=None), np.random.default_rng(0)), "p.png")
    reading = read_page(image)
    assert (reading.status, reading.reason) == ("manual", "alignment")
    assert reading.alignment_error_mm > 1.0 and reading.token is not None


def test_an_image_processing_failure_sends_the_page_to_manual(canteen_version: FormVersion, monkeypatch: object
                                                              ) -> None:
    from inscriptions.paper.reader import page as reader_page

    pages = scan_document(canteen_version, {"days": ["mon"]})

    def broken(*_args: object) -> None:
        raise cv2.error("warp failed")

    monkeypatch.setattr(reader_page, "rectify", broken)  # type: ignore[attr-defined]
    reading = read_all(pages[:1])[0]
    assert (reading.status, reading.reason) == ("manual", "error")
    assert reading.token == pages[0].token and reading.boxes == []


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"name;first name\nMartin;Zoe\n", "unsupported"),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "corrupt"),
    (_png_header(100_000, 100_000), "page_too_large"),  # a decompression bomb: refused before decoding
    (_png_header(40, 40), "corrupt"),  # a header and no image
])
def test_unusable_files_raise_a_clear_error(app: object, data: bytes, reason: str) -> None:
    with pytest.raises(UploadError) as err:
        read_upload(data, "scan")
    assert err.value.reason == reason
    assert str(err.value)


def test_truncated_jpeg_and_limits(app: object) -> None:
    jpeg = _encoded(Image.new("L", (400, 600), 250), "JPEG")
    with pytest.raises(UploadError) as err:
        read_upload(jpeg[: len(jpeg) // 3], "cut.jpg")
    assert err.value.reason == "corrupt"
    with pytest.raises(UploadError) as err:
        read_upload(jpeg, "big.jpg", max_pixels=1000)
    assert err.value.reason == "page_too_large"
    frames = [Image.new("L", (50, 70), v) for v in (10, 120, 250)]
    tiff = _encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(UploadError) as err:
        read_upload(tiff, "stack.tif", max_pages=2)
    assert err.value.reason == "too_many_pages"
    with pytest.raises(UploadError) as err:
        read_upload(jpeg, "big.jpg", max_bytes=100)
    assert err.value.reason == "too_large"


def test_accepted_formats(canteen_version: FormVersion) -> None:
    _tokens, pdf = sim.print_blank(canteen_version, 2)
    pages = read_upload(pdf, "stack.pdf", first_index=5)
    assert [p.index for p in pages] == [5, 6, 7, 8]
    assert all(p.size == (1654, 2339) and p.dpi == 200 and p.source == "stack.pdf" for p in pages)
    # A colour picture with transparency: transparent is paper.
    rgba = Image.new("RGBA", (30, 20), (0, 0, 0, 0))
    (page,) = read_upload(_encoded(rgba, "PNG"), "a.png")
    assert page.pixels.shape == (20, 30) and page.pixels.min() == 255
    frames = [Image.new("L", (50, 70), v) for v in (10, 120, 250)]
    tiff = read_upload(_encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]), "s.tif")
    assert [int(p.pixels[0, 0]) for p in tiff] == [10, 120, 250]
    (jpeg,) = read_upload(_encoded(Image.new("RGB", (64, 48), (200, 10, 10)), "JPEG", dpi=(300, 300)), "c.jpg")
    assert jpeg.dpi == 300 and jpeg.pixels.shape == (48, 64)
    assert jpeg.png(max_side=32).startswith(b"\x89PNG")
