"""Checkbox states and what a group of boxes answers: shared by the page and the document reading.

A box is ``ticked`` (fill >= :data:`TICKED`), ``empty`` (fill <= :data:`EMPTY`) or ``ambiguous``
(between, or filled in completely: the form tells families to fill a box to cancel it, which
the reader never decides on its own). A question's boxes are judged together: one ticked box for
a single choice, both or neither of Yes/No, a required question with nothing ticked: a person
looks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _

from inscriptions.paper.layout import FieldInfo

# Fill ratio of the box interior (inset 0.65 mm) darker than INK_FACTOR x the local paper level.
TICKED = 0.10
EMPTY = 0.03
FILLED = 0.60  # more than this: filled in completely (a correction by the form's instructions)

TICKED_STATE, EMPTY_STATE, AMBIGUOUS_STATE = "ticked", "empty", "ambiguous"

def reason_message(code: str | None) -> str:
    """What a review or manual reason code means, for people (translated)."""
    if code is None:
        return ""
    messages = {
        "ambiguous": _("A box is neither clearly ticked nor clearly empty."),
        "filled": _("A box is filled in completely: the family may have cancelled it."),
        "faint": _("A box holds a faint mark (pencil?): is it ticked?"),
        "several_ticked": _("Several boxes are ticked where one answer is expected."),
        "yes_and_no": _("Both “Yes” and “No” are ticked."),
        "none_ticked": _("No box is ticked for a question that needs an answer."),
        "box_alignment": _("A box could not be found precisely on the scan."),
        "missing_page": _("The page holding this question is missing."),
        "file_attached": _("A document is said to be attached: add it to the registration."),
        "type": _("Handwritten: type it from the scan."),
        "manual_page": _("The page holding this question could not be read automatically: answer from the scan."),
        "no_signature": _("The form does not seem to be signed."),
        "no_qr": _("No form code (QR code) was found on this page: a blank page, a page of another document, "
                   "or a poor scan."),
        "anchors": _("The corner marks of this page were not found: the page may be cut, folded or partly "
                     "scanned."),
        "alignment": _("This page could not be aligned precisely: it may be creased, curled or distorted."),
        "duplicate": _("This page was scanned twice: the other copy is used."),
        "no_layout": _("The page layout of this printed form is missing: it cannot be read automatically."),
        "error": _("This page could not be read automatically: enter it by hand from the scan."),
    }
    return messages.get(code, code)


def box_state(fill: float) -> tuple[str, str | None]:
    """(state, review reason) of one checkbox from its fill ratio."""
    if fill > FILLED:
        return AMBIGUOUS_STATE, "filled"
    if fill >= TICKED:
        return TICKED_STATE, None
    if fill <= EMPTY:
        return EMPTY_STATE, None
    return AMBIGUOUS_STATE, "ambiguous"


def decide(info: FieldInfo, boxes: Sequence[Mapping[str, Any]], *, visible: bool | None = True,
           complete: bool = True) -> tuple[Any, str | None]:
    """The machine value of a checkbox question and why it needs review (None when it does not).

    ``boxes``: its boxes' readings (``value``, ``state``, ``reason``) in layout order. ``visible``:
    whether its condition holds (None: not known here, so an unanswered question is not flagged).
    ``complete``: False when some of its boxes are on a page not read (no "nothing ticked" then).
    Values: the ticked box's value (``select: one``), the list of ticked values (``many``), None
    when nothing (or several, for ``one``) is ticked.
    """
    ticked = [b["value"] for b in boxes if b["state"] == TICKED_STATE]
    doubtful = [b for b in boxes if b["state"] == AMBIGUOUS_STATE]
    doubt = None
    if doubtful:
        doubt = "filled" if all(b.get("reason") == "filled" for b in doubtful) else "ambiguous"
    elif any(b.get("reason") == "box_alignment" for b in boxes):
        doubt = "box_alignment"
    expected = visible is True and complete
    # Group lines are optional as a whole: an empty line is no missing answer.
    needed = info.group is None and (info.required == "always" or info.type == "yes_no")
    if info.select == "many":
        if doubt:
            return ticked, doubt
        if not ticked and needed and expected and info.type != "yes_no":
            return ticked, "none_ticked"
        return ticked, None
    if len(ticked) >= 2:
        return None, "yes_and_no" if info.type == "yes_no" else "several_ticked"
    value = ticked[0] if ticked else None
    if doubt:
        return value, doubt
    if value is None and needed and expected:
        return None, "none_ticked"
    return value, None
