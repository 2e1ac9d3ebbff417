"""Files sent with a form: checked by content, kept outside the static folder, private."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from werkzeug.datastructures import FileStorage

from inscriptions.extensions import db
from inscriptions.models import Upload
from inscriptions.privacy.sealing import FILE_MAGIC, unsealed
from inscriptions.uploads import UploadError, read_upload, store_upload


def _pdf() -> bytes:
    """A real one-page PDF, as a scanner or a phone would make."""
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Certificat médical")
    page.showPage()
    page.save()
    return out.getvalue()


def _image(fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, fmt)
    return out.getvalue()


def _pdf_text(data: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    return "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


PDF = _pdf()
PNG = _image("PNG")
JPEG = _image("JPEG")


def _file(data: bytes, name: str) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def test_a_real_pdf_is_stored_outside_static(app, family):
    upload = store_upload(family.id, _file(PDF, "../../certificat médical.pdf"), accept=["pdf"])
    db.session.commit()
    assert upload.content_type == "application/pdf"
    assert upload.filename == "certificat médical.pdf"  # no folder part kept
    stored = app.config["UPLOAD_DIR"] / str(family.id) / upload.token
    # Encrypted on disk (a certificate is health data): nothing of the PDF shows.
    assert stored.read_bytes().startswith(FILE_MAGIC) and b"%PDF" not in stored.read_bytes()
    # A copy rewritten by PDFium (not the bytes sent), still the same one-page document.
    content = read_upload(upload)
    assert upload.size == len(content) and content.startswith(b"%PDF")
    assert _pdf_text(content).strip() == "Certificat médical"
    assert "static" not in str(stored)
    assert len(upload.sha256) == 64


def test_a_text_file_named_pdf_is_refused(app, family):
    with pytest.raises(UploadError, match="n'est pas accepté"):
        store_upload(family.id, _file(b"just some text, not a PDF at all", "certificat.pdf"))
    folder = app.config["UPLOAD_DIR"] / str(family.id)
    assert list(folder.iterdir()) == []  # nothing left behind
    assert db.session.scalar(db.select(db.func.count(Upload.id))) == 0


def test_type_size_and_empty_checks(app, family):
    assert store_upload(family.id, _file(PNG, "photo.png")).content_type == "image/png"
    with pytest.raises(UploadError, match="PDF"):
        store_upload(family.id, _file(PNG, "photo.png"), accept=["pdf"])
    with pytest.raises(UploadError, match="trop lourd"):
        store_upload(family.id, _file(PDF + b"x" * (1024 * 1024), "big.pdf"), max_size_mb=1)
    with pytest.raises(UploadError, match="vide"):
        store_upload(family.id, _file(b"", "empty.pdf"))


def test_forged_or_truncated_files_are_refused(app, family):
    # Right first bytes, wrong rest: what a type check on the header alone would let through.
    forged = {
        "header only.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "cut.pdf": PDF[: len(PDF) // 3],
        "cut.png": PNG[: len(PNG) - 20],
        "header only.png": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64,
        "cut.jpg": JPEG[: len(JPEG) // 2],
    }
    for name, data in forged.items():
        with pytest.raises(UploadError, match="abîmé"):
            store_upload(family.id, _file(data, name))
    assert list((app.config["UPLOAD_DIR"] / str(family.id)).iterdir()) == []  # nothing left behind
    assert db.session.scalar(db.select(db.func.count(Upload.id))) == 0
    # The whole files are accepted.
    for data, mime in ((PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg")):
        assert store_upload(family.id, _file(data, "ok")).content_type == mime


def _natation_page1(client, portal, household, data):  # type: ignore[no-untyped-def]
    child = household.children[0]
    token = portal.start("natation", participant=[f"c{child.id}"], session="sam")
    return token, portal.page(token, 1, {f"c{child.id}-level": "nageur", **data(f"c{child.id}")})


def test_form_refuses_a_fake_pdf_and_keeps_the_other_answers(client, portal, logged_in):
    _token, response = _natation_page1(client, portal, logged_in, lambda p: {
        f"{p}-certificate": (io.BytesIO(b"hello, I am text"), "certificat.pdf"),
    })
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Ce fichier n'est pas accepté" in html
    p = f"c{logged_in.children[0].id}"
    assert re.search(rf'checked[^>]*id="{p}-level-1"|id="{p}-level-1"[^>]*checked', html)
    assert f'href="#{p}-certificate"' in html


def test_form_keeps_a_good_file_across_pages(client, portal, logged_in):
    token, response = _natation_page1(client, portal, logged_in, lambda p: {
        f"{p}-certificate": (io.BytesIO(PDF), "certificat.pdf"),
    })
    assert response.status_code == 302
    p = f"c{logged_in.children[0].id}"
    upload_token = portal.draft_state(token)["each"][p]["certificate"]
    page1 = client.get(f"/inscription/{token}/etape/1").get_data(as_text=True)
    assert "Fichier déjà envoyé" in page1 and "certificat.pdf" in page1
    assert f'value="{upload_token}"' in page1
    # Posting the page again without a new file keeps the one already sent.
    portal.page(token, 1, {f"{p}-level": "nageur", f"{p}-certificate-kept": upload_token})
    portal.page(token, 2, {"rules": "y"})
    review = client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True)
    assert "certificat.pdf" in review
    portal.confirm(token)
    (reg,) = portal.registrations(logged_in)
    assert unsealed(reg.answers)["certificate"] == upload_token

    download = client.get(f"/mes-documents/{upload_token}")
    assert download.status_code == 200 and _pdf_text(download.data).strip() == "Certificat médical"
    assert download.headers["Content-Type"] == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]


def test_a_token_of_another_household_is_not_accepted(client, portal, logged_in, make_household):
    other = make_household(last_name="Durand")
    theirs = store_upload(other.id, _file(PDF, "theirs.pdf"))
    db.session.commit()
    assert client.get(f"/mes-documents/{theirs.token}").status_code == 404
    _token, response = _natation_page1(client, portal, logged_in, lambda p: {f"{p}-certificate-kept": theirs.token})
    assert response.status_code == 200
    assert "Fichier introuvable" in response.get_data(as_text=True)


def _png_of(width: int, height: int) -> bytes:
    """A PNG of ``width`` x ``height`` pixels, one colour: a few hundred kilobytes at most,
    whatever its size in pixels (what a "decompression bomb" is)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


def test_a_decompression_bomb_is_refused_from_its_header(app, family):
    import tracemalloc

    bomb = _png_of(13_000, 13_000)  # 169 million pixels in a small file
    assert len(bomb) < 2 * 1024 * 1024
    tracemalloc.start()
    with pytest.raises(UploadError, match="trop grande"):
        store_upload(family.id, _file(bomb, "certificat.png"))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Refused before decoding: no image buffer was ever allocated (169 MB in mode "L").
    assert peak < 20 * 1024 * 1024
    big = _png_of(9_000, 7_000)  # 63 Mpx: under Pillow's own warning, over ours
    with pytest.raises(UploadError, match="60 millions de pixels"):
        store_upload(family.id, _file(big, "scan.png"))
    assert list((app.config["UPLOAD_DIR"] / str(family.id)).iterdir()) == []


def test_what_is_kept_is_a_fresh_copy_not_the_bytes_sent(app, family):
    """A polyglot (an image with something else after its end) and metadata are not kept."""
    from PIL import Image

    photo = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    Image.new("RGB", (64, 48), (10, 200, 30)).save(photo, "JPEG", exif=exif)
    payload = b"<script>alert(1)</script>%PDF-1.4 hidden"
    upload = store_upload(family.id, _file(photo.getvalue() + payload, "photo.jpg"), accept=["jpeg"])
    stored = read_upload(upload)
    assert payload not in stored and b"PhoneMaker" not in stored
    with Image.open(io.BytesIO(stored)) as kept:
        assert kept.size == (64, 48) and kept.format == "JPEG"
    tail = b"%%EOF\n<html><script>alert(1)</script></html>"
    pdf = store_upload(family.id, _file(PDF + tail, "certificat.pdf"), accept=["pdf"])
    kept_pdf = read_upload(pdf)
    assert b"<script>" not in kept_pdf and _pdf_text(kept_pdf).strip() == "Certificat médical"
