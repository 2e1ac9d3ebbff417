"""From read pages to documents, and from a document to the answers the entry form starts from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from inscriptions.digits import is_digits
from inscriptions.paper.layout import FieldInfo, FormLayout
from inscriptions.paper.reader.decisions import decide, reason_message
from inscriptions.paper.reader.page import PageReading

# Paths the engine asks on every form (not definition fields: validate_answers does not take them).
ENGINE_PREFIXES = ("household.", "participant.", "signature", "session")


@dataclass
class Document:
    """The pages of one printed document (one print token) found in a stack.

    ``pages``: the reading used for each page number; ``duplicates``: other copies of a page
    (flagged ``duplicate``, not used); ``missing``: page numbers not found.
    """

    token: str
    total: int
    form_version_id: int | None = None
    service_code: str | None = None
    version: int | None = None
    household_id: int | None = None
    child_id: int | None = None
    pages: dict[int, PageReading] = field(default_factory=dict)
    duplicates: list[PageReading] = field(default_factory=list)

    @property
    def missing(self) -> list[int]:
        return [n for n in range(1, self.total + 1) if n not in self.pages]

    @property
    def complete(self) -> bool:
        """Every page is there (some may still need manual entry)."""
        return not self.missing

    @property
    def readings(self) -> list[PageReading]:
        """The pages used, in page order."""
        return [self.pages[n] for n in sorted(self.pages)]

    @property
    def order(self) -> list[int]:
        """Upload indices of the pages used, in page order (to rebuild the document from the stack)."""
        return [r.index for r in self.readings]

    @property
    def status(self) -> str:
        """``manual`` (a page missing or unread), ``review`` (something to check) or ``ok``."""
        readings = self.readings
        if self.missing or any(r.status == "manual" for r in readings):
            return "manual"
        return "review" if any(r.status == "review" for r in readings) else "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token, "total": self.total, "form_version_id": self.form_version_id,
            "service_code": self.service_code, "version": self.version, "household_id": self.household_id,
            "child_id": self.child_id, "status": self.status, "complete": self.complete, "missing": self.missing,
            "order": self.order, "pages": {str(n): r.index for n, r in sorted(self.pages.items())},
            "duplicates": [r.index for r in self.duplicates],
        }


@dataclass
class Stack:
    """A scanned stack sorted out: documents in order of first appearance, and the pages no
    document claims (no QR code, another town's, forged or unknown codes)."""

    documents: list[Document] = field(default_factory=list)
    unidentified: list[PageReading] = field(default_factory=list)


def group_pages(readings: Iterable[PageReading]) -> Stack:
    """Group read pages by document (print token), in any order, with duplicates and gaps found.

    Of two copies of the same page, the first that could be read is used; the other is marked
    ``duplicate_of`` (upload index of the one used), status ``manual``, reason ``duplicate``.
    """
    stack = Stack()
    by_token: dict[str, Document] = {}
    copies: dict[tuple[str, int], list[PageReading]] = {}
    for reading in readings:
        if not reading.identified:
            stack.unidentified.append(reading)
            continue
        assert reading.token is not None and reading.page is not None
        doc = by_token.get(reading.token)
        if doc is None:
            doc = Document(reading.token, reading.total or reading.page, reading.form_version_id,
                           reading.service_code, reading.version, reading.household_id, reading.child_id)
            by_token[reading.token] = doc
            stack.documents.append(doc)
        copies.setdefault((reading.token, reading.page), []).append(reading)
    for (token, page), found in copies.items():
        doc = by_token[token]
        used = next((r for r in found if r.status != "manual"), found[0])
        doc.pages[page] = used
        for other in found:
            if other is not used:
                other.duplicate_of = used.index
                other.status = "manual"
                other.reason = "duplicate"
                other.message = reason_message("duplicate")
                doc.duplicates.append(other)
    return stack


def _readings(document: Document | Sequence[PageReading]) -> tuple[list[PageReading], int | None]:
    if isinstance(document, Document):
        return document.readings, document.total
    used: dict[int, PageReading] = {}
    total = None
    for reading in document:
        if reading.page is not None and reading.duplicate_of is None:
            used.setdefault(reading.page, reading)
            total = reading.total
    return [used[n] for n in sorted(used)], total


def _raw(info: FieldInfo, value: Any) -> Any:
    """A machine value in the raw form ``validate_answers`` and the web form use."""
    if info.type == "yes_no":
        return None if value is None else ("yes" if value is True else "no")
    if info.type == "consent":
        return "y" if value is True else None
    if info.type == "file":
        return None  # the paper copy must be scanned and attached by the agent
    if info.select == "many":
        return [str(v) for v in value] if value else []
    return value


def _visible(info: FieldInfo, values: dict[str, Any], machine: set[str], prefix: str = "") -> bool | None:
    """Whether a question's condition holds on the machine-read answers (None: depends on handwriting)."""
    cond = info.show_if
    if not cond:
        return True
    target = f"{prefix}{cond['field']}"
    if target not in machine:
        return None
    current = values.get(target)
    if "equals" in cond and cond["equals"] is not None:
        return current == cond["equals"] and type(current) is type(cond["equals"])
    if cond.get("in") is not None:
        return current in cond["in"]
    return isinstance(current, list) and cond.get("contains") in current


def answers_from(document: Document | Sequence[PageReading], layout: FormLayout
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The answers read on a document, in the shape ``validate_answers`` takes for its definition,
    and what a person must check.

    Answers hold the definition's fields only (not ``household.*``, ``participant.*``,
    ``session``, ``signature``: see :func:`document_values`): single choices as their value,
    multiple choices and weekdays as lists, yes/no as ``"yes"``/``"no"``, a ticked consent as
    ``"y"``, groups as lists of ``max_items`` row dicts (``pickup.0.name`` is row 0's ``name``);
    handwritten answers, files and unreadable ones are None. Review items:
    ``{"path", "reason", "message", "page", "ink"}`` with reasons ``ambiguous``, ``filled``,
    ``faint``, ``several_ticked``, ``yes_and_no``, ``none_ticked``, ``box_alignment``,
    ``missing_page``, ``manual_page``, ``file_attached``, ``type`` (handwriting to type),
    ``no_signature``.
    """
    readings, _total = _readings(document)
    values, review = _read_document(readings, layout)
    answers: dict[str, Any] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for info in layout.fields:
        if info.path.startswith(ENGINE_PREFIXES):
            continue
        if info.type == "group":
            groups[info.path] = [{} for _i in range(info.max_items or 0)]
            answers[info.path] = groups[info.path]
            continue
        value = _raw(info, values.get(info.path)) if info.select else None
        if info.group is not None and info.item is not None:
            rows = groups.setdefault(info.group, [])
            while len(rows) <= info.item:
                rows.append({})
            rows[info.item][info.path.rsplit(".", 1)[1]] = value
        else:
            answers[info.path] = value
    return answers, review


def session_cells(values: Mapping[str, Any]) -> dict[tuple[int, int], str]:
    """The sessions ticked on a form, from :func:`document_values`: ``(wish, rank) -> code``,
    both from 1. ``session`` (one session, or a list for several) gives ``(n, 1)`` in the order
    of the form; the ranked grid's columns ``session.<wish>.<rank>`` give their own place.
    Columns left empty or ticked twice (None) are left out: the agent checks them on the scan."""
    cells: dict[tuple[int, int], str] = {}
    single = values.get("session")
    firsts = single if isinstance(single, list) else [single]
    for n, code in enumerate((c for c in firsts if isinstance(c, str) and c), start=1):
        cells[(n, 1)] = code
    for path, code in values.items():
        parts = path.split(".")
        if len(parts) == 3 and parts[0] == "session" and is_digits(parts[1]) and is_digits(parts[2]) \
                and isinstance(code, str) and code:
            cells[(int(parts[1]), int(parts[2]))] = code
    return dict(sorted(cells.items()))


def document_values(document: Document | Sequence[PageReading], layout: FormLayout) -> dict[str, Any]:
    """Every path's machine value (checkbox questions; None for handwriting), engine paths included
    (``session``: the session code ticked). Values as read (yes/no as True/False)."""
    readings, _total = _readings(document)
    values, _review = _read_document(readings, layout)
    return values


def _read_document(readings: list[PageReading], layout: FormLayout) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    by_page = {r.page: r for r in readings}
    boxes: dict[str, list[dict[str, Any]]] = {}
    for reading in readings:
        if reading.status != "manual":
            for box in reading.boxes:
                boxes.setdefault(box.path, []).append(asdict(box))
    pages_of: dict[str, set[int]] = {}
    for number, box in layout.boxes():
        pages_of.setdefault(box.field, set()).add(number)

    def page_state(path: str) -> tuple[bool, str | None, int | None]:
        """(all its pages read, why not, first such page)."""
        for number in sorted(pages_of.get(path, ())):
            found = by_page.get(number)
            if found is None:
                return False, "missing_page", number
            if found.status == "manual":
                return False, "manual_page", number
        return True, None, None

    values: dict[str, Any] = {}
    machine: set[str] = set()
    review: list[dict[str, Any]] = []

    def flag(path: str, reason: str, page: int | None, ink: bool | None = None) -> None:
        review.append({"path": path, "reason": reason, "message": reason_message(reason), "page": page, "ink": ink})

    choice = [info for info in layout.fields if info.select and info.type != "group"]
    # Choice questions first (conditions look at them), in layout order.
    for info in choice:
        read, why, page = page_state(info.path)
        if not read:
            values[info.path] = [] if info.select == "many" else None
            flag(info.path, why or "missing_page", page)
            continue
        machine.add(info.path)
        values[info.path] = None
    for info in choice:
        if info.path in machine:
            values[info.path], _why = decide(info, boxes.get(info.path, []), visible=None)
    for info in choice:
        if info.path not in machine:
            continue
        prefix = f"{info.group}.{info.item}." if info.group is not None else ""
        visible = _visible(info, values, machine, prefix)
        value, why = decide(info, boxes.get(info.path, []), visible=visible)
        values[info.path] = value
        page = info.page
        if why is not None:
            flag(info.path, why, _page_of(boxes.get(info.path, []), page))
        elif info.type == "file" and value == "attached":
            flag(info.path, "file_attached", page)
    for info in layout.fields:
        if info.select or info.type == "group" or info.path in values:
            continue
        values[info.path] = None
        read, why, page = page_state(info.path)
        if not read:
            flag(info.path, why or "missing_page", page)
            continue
        reading = by_page.get(info.page)
        ink = bool(reading.ink.get(info.path)) if reading is not None else False
        if info.type == "signature":
            if not ink:
                flag(info.path, "no_signature", info.page, ink)
        elif ink:
            flag(info.path, "type", info.page, ink)
    return values, review


def _page_of(boxes: list[dict[str, Any]], default: int) -> int:
    for box in boxes:
        if box.get("state") != "empty" or box.get("reason"):
            return int(box["page"])
    return default
