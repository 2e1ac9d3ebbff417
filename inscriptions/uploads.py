"""Files given with a form (medical certificate, proof of address...), kept outside the static folder.

A file is stored under ``UPLOAD_DIR/<household id>/<token>`` with no extension and no part of the
name the family gave, so a stored file can never be served or executed by accident. Its type is
decided by its CONTENT (``filetype``), never by its name or the type the browser announced: a text
file renamed ``certificat.pdf`` is refused. The file must then really open as that type (PDFium for
a PDF, Pillow decoding every pixel of an image, after checking its size in pixels from the header),
and what is kept is a fresh copy written from what was decoded (:func:`_rewrite`), never the bytes
sent: a forged, truncated or polyglot file, or a decompression bomb, never reaches an agent. The
answer stored in a form is the upload's token;
:func:`inscriptions.registrations.participants.file_lookup` checks it belongs to the household.
The kept copy is encrypted (:mod:`inscriptions.privacy.sealing`): :func:`read_upload` opens it
for the readers allowed to (the family, the staff who check it).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tempfile
import warnings
from pathlib import Path
from typing import IO

import filetype
from flask import Response, abort, current_app, send_file
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from inscriptions import files
from inscriptions.extensions import db
from inscriptions.models import Upload
from inscriptions.privacy.sealing import seal_bytes, unseal_bytes

# The kinds a definition may accept (FileField.accept), by the MIME type filetype detects.
KINDS = {"application/pdf": "pdf", "image/jpeg": "jpeg", "image/png": "png"}
KIND_LABELS = {"pdf": "PDF", "jpeg": "JPEG", "png": "PNG"}
# filetype needs the first 261 bytes to recognise every type it knows.
HEAD_SIZE = 261
CHUNK = 64 * 1024
MAX_NAME = 200


class UploadError(Exception):
    """The file was refused; ``str(exc)`` is a plain message for the family."""


def has_file(storage: FileStorage | None) -> bool:
    """True when the browser sent a real file (an empty file input sends a nameless part)."""
    return isinstance(storage, FileStorage) and bool(storage.filename)


def accepted_label(accept: list[str]) -> str:
    """``"PDF, JPEG or PNG"``-style list of accepted kinds for help texts and errors."""
    labels = [KIND_LABELS.get(kind, kind.upper()) for kind in accept]
    if len(labels) == 1:
        return labels[0]
    return _("%(first)s or %(last)s", first=", ".join(labels[:-1]), last=labels[-1])


def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def _path_of(upload: Upload) -> Path:
    return upload_dir() / str(upload.household_id) / upload.token


def _clean_name(name: str) -> str:
    # Keep the family's own name for display and download (accents included), minus any folder.
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())
    return (base or "document")[:MAX_NAME]


def _copy_limited(stream: IO[bytes], target: IO[bytes], limit: int) -> tuple[bytes, int, str]:
    """Copy at most ``limit`` bytes; returns (head, size, sha256). Raises when the file is larger."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise UploadError("too large")
        if len(head) < HEAD_SIZE:
            head += chunk[: HEAD_SIZE - len(head)]
        digest.update(chunk)
        target.write(chunk)
    return head, size, digest.hexdigest()


# An image larger than this is refused from its header, before any pixel is decoded: a phone
# photo is 12 to 50 Mpx, a scanned A4 page at 600 dpi 35 Mpx; a "decompression bomb" (a small
# file of huge dimensions) would otherwise take gigabytes to decode.
MAX_PIXELS = 60_000_000
# Re-encoded photos keep this JPEG quality: no visible loss on a certificate, a third of the size.
JPEG_QUALITY = 90


def _rewrite(source: Path, target: Path, kind: str) -> None:
    """Decode the file and write it again as a fresh ``kind`` file: whatever was hidden in it
    (a polyglot, a script after the image data, metadata such as GPS) is not kept, and a file
    that does not really open as ``kind`` is refused (its first bytes, all ``filetype`` reads,
    are easy to forge). Raises :class:`UploadError`."""
    damaged = UploadError(_("This file is damaged or cannot be opened. Choose another file."))
    if kind == "pdf":
        import pypdfium2 as pdfium

        try:
            document = pdfium.PdfDocument(str(source))
        except Exception:
            raise damaged from None
        try:
            if len(document) == 0:
                raise damaged
            # A full rewrite (not incremental): only the objects PDFium reads are written out.
            with target.open("wb") as out:
                document.save(out)
        except UploadError:
            raise
        except Exception:
            raise damaged from None
        finally:
            document.close()
        return
    from PIL import Image

    def too_large() -> UploadError:
        return UploadError(_("This image is too large: %(max)s million pixels at most. Take the photo again at a "
                             "lower resolution, or scan at 300 dpi.", max=MAX_PIXELS // 1_000_000))

    try:
        with warnings.catch_warnings():
            # Pillow warns about big images; their size is checked just below, from the header.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(source)
        with opened as image:
            if image.format != kind.upper():  # "JPEG", "PNG"
                raise damaged
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise too_large()
            image.verify()  # structure and checksums (a PNG cut before its end fails here)
        with Image.open(source) as image:
            image.load()  # every pixel decoded: a truncated photo fails here
            clean = image.convert("RGB") if kind == "jpeg" and image.mode not in ("RGB", "L") else image
            if kind == "jpeg":
                clean.save(target, "JPEG", quality=JPEG_QUALITY)
            else:
                clean.save(target, "PNG")
    except UploadError:
        raise
    except Image.DecompressionBombError:  # Pillow's own limit, beyond ours: refused from the header too
        raise too_large() from None
    except Exception:  # any failure to open is the same answer for the family: not usable
        raise damaged from None


def store_upload(
    household_id: int,
    storage: FileStorage,
    *,
    accept: list[str] | tuple[str, ...] = ("pdf", "jpeg", "png"),
    max_size_mb: int = 5,
) -> Upload:
    """Check and store one uploaded file for ``household_id``; returns the (flushed) Upload row.

    Raises :class:`UploadError` with a message for the family when the file is empty, too large
    or of a type that is not accepted. The caller commits.
    """
    if not has_file(storage):
        raise UploadError(_("Choose a file."))
    accept = list(accept)
    limit = max_size_mb * 1024 * 1024
    folder = upload_dir() / str(household_id)
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    # Written to a temporary name first: a refused or interrupted upload leaves nothing behind.
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as target:
            try:
                head, size, sha256 = _copy_limited(storage.stream, target, limit)
            except UploadError:
                raise UploadError(
                    _("This file is too large: %(n)s MB at most. Take a smaller photo or scan "
                      "fewer pages.", n=max_size_mb)
                ) from None
        if size == 0:
            raise UploadError(_("This file is empty. Choose another file."))
        kind = KINDS.get(getattr(filetype.guess(head), "mime", ""))
        if kind is None or kind not in accept:
            raise UploadError(
                _("This file is not accepted: send a %(kinds)s file (a photo or a scan).",
                  kinds=accepted_label(accept))
            )
        clean_name = f"{tmp_name}.clean"
        try:
            _rewrite(Path(tmp_name), Path(clean_name), kind)
            clean = Path(clean_name).read_bytes()
            size, sha256 = len(clean), hashlib.sha256(clean).hexdigest()
            # Kept encrypted (a certificate is health data): inscriptions.privacy.sealing.
            Path(clean_name).write_bytes(seal_bytes(clean))
            os.replace(clean_name, folder / token)
        finally:
            Path(clean_name).unlink(missing_ok=True)
        Path(tmp_name).unlink(missing_ok=True)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    upload = Upload(
        household_id=household_id,
        token=token,
        filename=_clean_name(storage.filename or ""),
        content_type=next(mime for mime, k in KINDS.items() if k == kind),
        size=size,
        sha256=sha256,
    )
    db.session.add(upload)
    db.session.flush()
    # In the register of files, with its household: erasing the household reaches it.
    files.record(folder / token, files.UPLOAD, households=[household_id])
    return upload


def find_upload(token: str, household_id: int) -> Upload | None:
    """The household's upload with this token, or None (another household's token included)."""
    if not token or len(token) > 32:
        return None
    return db.session.scalar(select(Upload).filter_by(token=token, household_id=household_id))


def uploads_by_token(tokens: list[str], household_id: int) -> dict[str, Upload]:
    """Several of the household's uploads at once (to show file names in a summary)."""
    wanted = [t for t in tokens if t and len(t) <= 32]
    if not wanted:
        return {}
    rows = db.session.scalars(
        select(Upload).where(Upload.household_id == household_id, Upload.token.in_(wanted))
    )
    return {row.token: row for row in rows}


def download_response(upload: Upload) -> Response:
    """The kept file as a download under the name the family gave it, never cached (a certificate
    must not stay in a shared cache or the browser's); 404 when the file is gone from the disk."""
    try:
        content = read_upload(upload)
    except FileNotFoundError:
        abort(404)
    response = send_file(io.BytesIO(content), mimetype=upload.content_type, as_attachment=True,
                         download_name=upload.filename, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def open_upload(upload: Upload) -> Path:
    """The stored (encrypted) file's path; raises FileNotFoundError when it is gone (purged)."""
    path = _path_of(upload)
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def read_upload(upload: Upload) -> bytes:
    """The file's content, decrypted: for a reader allowed to open it (the callers check).
    Raises FileNotFoundError when it is gone (purged)."""
    return unseal_bytes(open_upload(upload).read_bytes())
