"""Reading scanned paper forms: the library the scan intake screens are built on.

Pipeline (``docs/paper.md``, "Reading scans")::

    pages = read_upload(data, filename)              # PDF (200 dpi), JPEG, PNG, TIFF -> PageImage
    lookup = DatabaseLookup()                        # one per upload: caches frozen layouts
    readings = [read_page(p, lookup=lookup) for p in pages]
    stack = group_pages(readings)                    # documents by print token, duplicates, gaps
    for doc in stack.documents:
        layout = stored_layout(doc.form_version_id)  # inscriptions.paper.layout
        answers, review = answers_from(doc, layout)  # raw answers for validate_answers + what to check

Nothing here writes to the database; pages that cannot be identified or aligned come back with
status ``manual`` and a reason, never an exception (:class:`UploadError` only for unusable files).
"""

from inscriptions.paper.reader.decisions import reason_message
from inscriptions.paper.reader.documents import (
    Document,
    Stack,
    answers_from,
    document_values,
    group_pages,
    session_cells,
)
from inscriptions.paper.reader.lookup import DatabaseLookup, Lookup, PageTarget
from inscriptions.paper.reader.page import READER_VERSION, BoxReading, PageReading, read_page
from inscriptions.paper.reader.upload import PageImage, UploadError, count_pages, iter_upload, read_upload

__all__ = [
    "READER_VERSION",
    "BoxReading",
    "DatabaseLookup",
    "Document",
    "Lookup",
    "PageImage",
    "PageReading",
    "PageTarget",
    "Stack",
    "UploadError",
    "answers_from",
    "count_pages",
    "document_values",
    "group_pages",
    "iter_upload",
    "read_page",
    "read_upload",
    "reason_message",
    "session_cells",
]
