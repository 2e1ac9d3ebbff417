"""The sessions a family chooses on the first step of the form, and what became of them.

A service takes one session (a radio list, today's page), several (``sessions_choice.max > 1``:
checkboxes, e.g. weeks of a holiday centre), and may let each choice carry ranked alternatives
(``alternatives: N``: "2nd choice, if the 1st is full" lists). What is chosen is a list of
**wishes**, each a ranked list of session codes, exactly what ``RegistrationInput.wishes`` takes.

The checks here only give the family clear messages before anything is saved; the booking
(``create_registrations``) checks the same rules again, under its locks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from inscriptions.allocation.status import ApplicationState
from inscriptions.definitions import schema as s
from inscriptions.models import Outcome, Status
from inscriptions.portal.catalogue import SessionInfo

# The form field holding the first choices (radio or checkboxes), as on today's single-session page.
FIRST = "session"
# Codes are at most 40 characters (schema); anything longer is not a session of the service.
CODE_MAX = 40


@dataclass(frozen=True)
class ChoiceMode:
    """How the first step asks for sessions, from the definition."""

    multiple: bool  # checkboxes (several wishes) rather than one radio list
    min: int
    max: int
    alternatives: int

    @property
    def simple(self) -> bool:
        """One session, no alternative: today's page, unchanged."""
        return not self.multiple and not self.alternatives

    @property
    def ranks(self) -> range:
        """The ranks of the alternatives (2 = the second choice)."""
        return range(2, self.alternatives + 2)


def mode_of(defn: s.ServiceDefinition) -> ChoiceMode:
    """The way ``defn`` asks for sessions (meaningful only for services with sessions)."""
    choice = defn.sessions_choice
    return ChoiceMode(multiple=choice.max > 1, min=choice.min, max=choice.max, alternatives=defn.alternatives)


def alternative_name(first: str | None, rank: int) -> str:
    """The form field (and element id) of the alternative of rank ``rank``.

    With one session (``first`` None) there is one list per rank; with several, each ticked
    session has its own lists, named after it.
    """
    return f"alternative-{rank}" if first is None else f"alternative-{first}-{rank}"


def rank_label(rank: int) -> str:
    """"2nd choice (if the 1st is full)" as the family reads it."""
    if rank == 2:
        return _("Second choice (if the first one is full)")
    return _("Choice %(rank)s (if the earlier ones are full)", rank=rank)


def read_wishes(mode: ChoiceMode, form: Any) -> list[list[str]]:
    """The wishes posted on the first step, in the order of the form (no check made)."""
    firsts = form.getlist(FIRST) if mode.multiple else [form.get(FIRST, "")]
    # A code ticked twice (a replayed or forged form) counts once; blanks are "nothing chosen".
    unique = [code[:CODE_MAX + 1] for code in dict.fromkeys(c.strip() for c in firsts) if code]
    wishes = []
    for first in unique[:mode.max + 1]:  # one more than allowed is enough to say "too many"
        wish = [first]
        for rank in mode.ranks:
            code = (form.get(alternative_name(first if mode.multiple else None, rank)) or "").strip()
            if code:
                wish.append(code[:CODE_MAX + 1])
        wishes.append(wish)
    return wishes


def alternative_values(mode: ChoiceMode, wishes: Sequence[Sequence[str]]) -> dict[str, str]:
    """What each alternative list shows as chosen, by field name (to fill the page again)."""
    values = {}
    for wish in wishes:
        for rank, code in enumerate(wish[1:], start=2):
            values[alternative_name(wish[0] if mode.multiple else None, rank)] = code
    return values


def check_wishes(
    mode: ChoiceMode,
    sessions: Sequence[SessionInfo],
    wishes: Sequence[Sequence[str]],
    *,
    registered: Callable[[str], set[str]],
    selected: Sequence[str],
    names: Mapping[str, str],
    household: bool,
) -> dict[str, str]:
    """Errors of the sessions chosen, by field (:data:`FIRST` or an alternative's name).

    ``registered(code)`` gives the keys (``c12``, ``g5``, ``household``) already holding or
    waiting for a place in that session; ``names`` the first names of the ``selected`` keys.
    """
    if not sessions:
        return {FIRST: _("This service has no sessions to choose.")} if wishes else {}
    errors: dict[str, list[str]] = {}
    if not wishes:
        if mode.multiple:
            errors[FIRST] = [ngettext("Choose at least %(num)s session.", "Choose at least %(num)s sessions.",
                                      mode.min)]
        else:
            errors[FIRST] = [_("Choose a session.")]
    elif len(wishes) < mode.min:
        errors[FIRST] = [ngettext("Choose at least %(num)s session.", "Choose at least %(num)s sessions.", mode.min)]
    elif len(wishes) > mode.max:
        errors[FIRST] = [ngettext("Choose at most %(num)s session.", "Choose at most %(num)s sessions.", mode.max)]
    by_code = {info.code: info for info in sessions}
    # First choices are told first: an alternative repeating one of them is the one in error.
    seen: set[str] = set()
    firsts = {wish[0] for wish in wishes}
    for wish in wishes:
        for rank, code in enumerate(wish, start=1):
            key = FIRST if rank == 1 else alternative_name(wish[0] if mode.multiple else None, rank)
            info = by_code.get(code)
            if info is None:
                problem = _("This session is not offered: choose another one.")
            elif rank > 1 and code == wish[0]:
                problem = _("This choice must be different from your first choice.")
            elif code in seen or (rank > 1 and code in firsts):
                problem = _("This session is already among your choices: choose another one.")
            elif info.started:
                problem = _("This session has already started: choose another one.")
            else:
                problem = _registered_problem(mode, info, registered(code), selected, names, household,
                                              named=mode.multiple and rank == 1)
            seen.add(code)
            if problem:
                errors.setdefault(key, []).append(problem)
    return {key: " ".join(dict.fromkeys(messages)) for key, messages in errors.items()}


def _registered_problem(mode: ChoiceMode, info: SessionInfo, done: set[str], selected: Sequence[str],
                        names: Mapping[str, str], household: bool, *, named: bool) -> str | None:
    """Someone chosen already holds or waits for a place in this session (one message)."""
    if household:
        if "household" not in done:
            return None
        if named:
            return _("Your household is already registered for the session “%(session)s”.", session=info.label)
        return _("Your household is already registered for this session.")
    who = [names[key] for key in selected if key in done and key in names]
    if not who:
        return None
    if named:
        # Several sessions share one message area: say which one.
        return _("%(names)s already registered for the session “%(session)s”.",
                 names=", ".join(who), session=info.label)
    return _("%(names)s already registered for this session.", names=", ".join(who))


# -- the review page --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChosenWish:
    """One session chosen and its alternatives, as the review page lists them."""

    first: SessionInfo
    alternatives: tuple[tuple[int, SessionInfo], ...] = ()  # (rank, session)

    @property
    def waits(self) -> bool:
        """Every session of the wish looks full now: confirming puts the family on a list."""
        return self.first.full and all(alt.full for _rank, alt in self.alternatives)


def chosen(sessions: Sequence[SessionInfo], wishes: Sequence[Sequence[str]]) -> list[ChosenWish]:
    """The wishes with their sessions' current places (unknown codes left out)."""
    by_code = {info.code: info for info in sessions}
    result = []
    for wish in wishes:
        if wish[0] not in by_code:
            continue
        alts = tuple((rank, by_code[code]) for rank, code in enumerate(wish[1:], start=2) if code in by_code)
        result.append(ChosenWish(by_code[wish[0]], alts))
    return result


# -- the confirmation page ------------------------------------------------------------------------------

@dataclass
class SessionOutcome:
    """What one wish became, in words, for the confirmation page."""

    session: str
    kind: str  # "accepted", "submitted", "waitlisted" or "refused"
    text: str
    details: list[str] = field(default_factory=list)


def outcomes(state: ApplicationState) -> list[SessionOutcome]:
    """Per wish of a decided application: place, request under review, waiting list, or refusal."""
    result = []
    for wish in state.results:
        session = wish.session or _("Session")
        details = []
        if wish.outcome == Outcome.REFUSED:
            result.append(SessionOutcome(session, "refused", _("Not registered."), [wish.reason_text]))
            continue
        if wish.rank is not None and wish.rank > 1 and wish.outcome == Outcome.ACCEPTED:
            details.append(_("Your first choice was full: you have your choice number %(rank)s.", rank=wish.rank))
        if wish.outcome == Outcome.WAITLISTED:
            positions = [line.waitlist_position for line in wish.lines if line.waitlist_position]
            text = (_("Waiting list: you are number %(position)s.", position=min(positions)) if positions
                    else _("Waiting list."))
            details.append(_("If a place becomes free, we will offer it to you."))
            result.append(SessionOutcome(session, "waitlisted", text, details))
            continue
        if any(line.status == Status.SUBMITTED for line in wish.lines):
            result.append(SessionOutcome(session, "submitted",
                                         _("Request sent: the service will review it."), details))
        else:
            result.append(SessionOutcome(session, "accepted", _("Place confirmed."), details))
    return result
