"""Priority points and draw weights (``allocation: points``, ``weights``), in memory.

What a criterion or a weight tests is a :class:`~inscriptions.definitions.schema.FactTest`: one
fact of the household or of a participant (:data:`~inscriptions.definitions.schema.ALLOCATION_FACTS`),
or one answer of the form, with ``equals``, ``in`` or ``at_least`` / ``at_most``. A participant
fact or a per-participant answer holds for the application when it holds for at least one of
its participants: siblings are ranked together, as they are decided together.

Pure (no database, no Flask): :mod:`inscriptions.allocation.facts` gathers the facts, this module
says what they are worth, so each rule can be read and tested on hand-built cases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inscriptions.definitions.schema import Criterion, DrawWeight, FactTest

ALGORITHM = "points/1"


@dataclass(frozen=True)
class ApplicationFacts:
    """Everything a test may read of one application.

    ``household``: ``{"household.resident": True, "household.qf": 640, ...}``; ``participants``:
    per participant, its facts (``participant.age``...) merged with its answers (by field name).
    """

    household: Mapping[str, Any]
    participants: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


def holds(test: FactTest, facts: ApplicationFacts) -> bool:
    """Whether the application meets ``test`` (for a participant fact or an answer: whether at
    least one participant does)."""
    if test.fact is not None and test.fact.startswith("household."):
        return _matches(test, facts.household.get(test.fact))
    name = test.fact if test.fact is not None else test.answer
    return any(_matches(test, person.get(name)) for person in facts.participants)


def _matches(test: FactTest, value: Any) -> bool:
    if value is None or value == "" or value == []:
        return False  # unknown (no QF given, no school, question not answered): never meets a test
    if test.at_least is not None or test.at_most is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return (test.at_least is None or value >= test.at_least) and (test.at_most is None or value <= test.at_most)
    wanted = [test.equals] if test.equals is not None else list(test.in_ or [])
    values = value if isinstance(value, list | tuple) else [value]
    # Exact types: True must not equal 1, nor "1" equal 1.
    return any(type(v) is type(w) and v == w for v in values for w in wanted)


@dataclass(frozen=True)
class Score:
    """An application's points, and every criterion with whether it was met."""

    points: int
    detail: list[dict[str, Any]]


def score(criteria: Sequence[Criterion], facts: ApplicationFacts) -> Score:
    """The sum of the points of the criteria the application meets, with the detail of each
    criterion (``code``, ``label``, ``points``, ``met``, and the ``value`` read) in the
    definition's order."""
    detail = [{"code": c.code, "label": c.label, "points": c.points, "met": holds(c, facts), "value": seen(c, facts)}
              for c in criteria]
    return Score(sum(d["points"] for d in detail if d["met"]), detail)


def seen(test: FactTest, facts: ApplicationFacts) -> Any:
    """The value a test read (for a participant fact or answer, one per participant): the data
    the family is told was used (CRPA R311-3-1-2)."""
    if test.fact is not None and test.fact.startswith("household."):
        return facts.household.get(test.fact)
    name = test.fact if test.fact is not None else test.answer
    return [person.get(name) for person in facts.participants]


def weight(weights: Sequence[DrawWeight], facts: ApplicationFacts) -> int:
    """The application's tickets in the draw: the largest weight of the tests it meets, else 1."""
    return max((w.weight for w in weights if holds(w, facts)), default=1)
