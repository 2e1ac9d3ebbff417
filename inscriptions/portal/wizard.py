"""A registration in progress, walked page by page, kept in a :class:`~inscriptions.models.Draft`.

The draft's ``state`` holds what the family TYPED (raw answers), never only what was valid:
going back, an error or a reload loses nothing. Clean values are recomputed from it with the one
validation function whenever they are needed::

    {"participants": ["c12", "c13"],   # c<child id> or g<guardian id>; [] for household services
     "session": "mer-14h" | None,      # the one session chosen (services taking one session)
     "wishes": [["juil-1"], ["juil-2", "juil-3"]],  # every session chosen, each with its ranked
                                        # alternatives (absent in drafts made before wishes)
     "shared": {...raw answers of pages asked once...},
     "each": {"c12": {...raw answers of pages asked per participant...}},
     "reached": 2}                      # how many pages were validated, in order
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import FileStorage

from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import version_definition
from inscriptions.forms import web
from inscriptions.forms.validation import ValidationResult, validate_answers
from inscriptions.models import Draft, Household
from inscriptions.plugin_api import ParticipantView
from inscriptions.privacy.sealing import seal_answers, unsealed
from inscriptions.privacy.sensitive import sensitive_names
from inscriptions.registrations.create import ParticipantInput
from inscriptions.registrations.participants import adult_view, child_view, file_lookup

CHANNEL = "web"


@dataclass(frozen=True)
class Participant:
    """A person the family may register: a child (``c12``) or a guardian (``g5``)."""

    key: str
    first_name: str
    full_name: str
    view: ParticipantView
    child_id: int | None = None
    guardian_id: int | None = None

    def as_input(self, answers: Mapping[str, Any]) -> ParticipantInput:
        return ParticipantInput(child_id=self.child_id, guardian_id=self.guardian_id, answers=dict(answers))


def candidates(defn: s.ServiceDefinition, household: Household) -> list[Participant]:
    """Who in the household this service registers (nobody to choose for household services)."""
    if defn.audience == "child":
        return [
            Participant(f"c{c.id}", c.first_name, c.full_name, child_view(c), child_id=c.id)
            for c in household.children
        ]
    if defn.audience == "adult":
        return [
            Participant(f"g{g.id}", g.first_name, g.full_name, adult_view(g), guardian_id=g.id)
            for g in household.guardians
        ]
    return []


def new_state(
    participants: list[str], session: str | None, wishes: list[list[str]] | None = None
) -> dict[str, Any]:
    """A draft's first state: who, which sessions (see the module docstring), no answers yet."""
    if wishes is None:
        wishes = [[session]] if session else []
    return {"participants": participants, "session": session, "wishes": wishes,
            "shared": {}, "each": {}, "reached": 0}


def state_wishes(state: Mapping[str, Any]) -> list[list[str]]:
    """The sessions chosen in a draft's state, each a ranked list of codes (first choice first).

    Drafts saved before several sessions could be chosen only have ``session``.
    """
    wishes = state.get("wishes")
    if isinstance(wishes, list) and wishes:
        return [[str(code) for code in wish] for wish in wishes if isinstance(wish, list) and wish]
    session = state.get("session")
    return [[session]] if isinstance(session, str) and session else []


@dataclass
class Block:
    """The part of a page for one participant (or the part asked once, ``participant`` None)."""

    participant: Participant | None
    form: web.PageForm
    shown: list[str]
    other_errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.participant.key if self.participant else ""

    @property
    def heading(self) -> str:
        return self.participant.full_name if self.participant else ""

    def error_links(self) -> list[web.ErrorLink]:
        return web.error_links(self.form, self.heading)


class Wizard:
    """One draft of one household, with the definition version it was started under."""

    def __init__(self, draft: Draft, household: Household, service: LoadedService):
        self.draft = draft
        self.household = household
        self.service = service
        found = version_definition(draft.form_version_id)
        if found is None:  # the foreign key makes this impossible
            raise LookupError(f"form version {draft.form_version_id} of draft {draft.id} not found")
        self.defn = found[1]
        # The family's own unsent answers: sealed at rest (save), opened here for the family.
        self.state: dict[str, Any] = unsealed(copy.deepcopy(draft.state or {}))
        for key, default in new_state([], None).items():
            self.state.setdefault(key, default)
        by_key = {p.key: p for p in candidates(self.defn, household)}
        # A child removed from the household since the draft began is simply left out.
        self.participants = [by_key[k] for k in self.state["participants"] if k in by_key]
        self.files = file_lookup(household.id)
        self.lookup = {f.name: f for _, f in self.defn.iter_fields()}

    # -- shape ------------------------------------------------------------------------------------
    @property
    def pages(self) -> list[s.Page]:
        return self.defn.form.pages

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def reached(self) -> int:
        return int(self.state.get("reached") or 0)

    @property
    def session_code(self) -> str | None:
        return self.state.get("session")

    @property
    def wishes(self) -> list[list[str]]:
        """Every session chosen, each a ranked list of codes (see :func:`state_wishes`)."""
        return state_wishes(self.state)

    @property
    def has_people(self) -> bool:
        return self.defn.audience != "household"

    def per_participant(self, index: int) -> bool:
        return self.has_people and self.defn.page_is_per_participant(self.pages[index])

    def page_of(self, name: str) -> int:
        """The index of the page holding the (top-level) field ``name``."""
        top = name.partition(".")[0]
        for i, fld in self.defn.iter_fields():
            if fld.name == top:
                return i
        return 0

    # -- raw answers ----------------------------------------------------------------------------
    def raw(self, participant: Participant | None) -> dict[str, Any]:
        if participant is None:
            return self.state["shared"]
        return self.state["each"].setdefault(participant.key, {})

    def merged_raw(self, participant: Participant | None) -> dict[str, Any]:
        """Shared and own raw answers together, as one participant's answers."""
        if participant is None:
            return dict(self.state["shared"])
        return {**self.state["shared"], **self.raw(participant)}

    def known(self, index: int, participant: Participant | None) -> dict[str, Any]:
        """Clean answers of the pages before ``index`` (conditions may look back at them)."""
        if participant is None:
            earlier = [j for j in range(index) if not self.per_participant(j)]
        else:
            earlier = list(range(index))
        if not earlier:
            return {}
        return validate_answers(
            self.defn, self.merged_raw(participant), channel=CHANNEL, pages=earlier, files=self.files
        ).values

    def _owners(self, index: int) -> list[Participant | None]:
        return list(self.participants) if self.per_participant(index) else [None]

    # -- pages ------------------------------------------------------------------------------------
    def blocks(self, index: int, formdata: Any = None) -> list[Block]:
        """The page's forms, filled from the request or from the saved raw answers."""
        cls = web.page_form_class(self.defn, index)
        blocks = []
        for owner in self._owners(index):
            prefix = owner.key if owner else ""
            form = web.build_form(cls, prefix=prefix, formdata=formdata, raw=self.raw(owner))
            shown = web.decorate(form, lookup=self.lookup, known=self.known(index, owner))
            blocks.append(Block(owner, form, shown))
        return blocks

    def collect(
        self, index: int, formdata: Any, store: Callable[[s.FileField, FileStorage], str]
    ) -> dict[str, dict[str, str]]:
        """Save what was typed on page ``index`` into the state; returns upload errors per block."""
        upload_errors: dict[str, dict[str, str]] = {}
        for block in self.blocks(index, formdata):
            typed, problems = web.form_to_raw(block.form, store=store, only=block.shown)
            self.raw(block.participant).update(typed)
            if problems:
                upload_errors[block.key] = problems
        return upload_errors

    def check(self, index: int, blocks: list[Block], upload_errors: Mapping[str, Mapping[str, str]]) -> bool:
        """Validate page ``index`` for each block and put the errors on the forms."""
        names = {f.name for f in self.pages[index].fields}
        ok = True
        for block in blocks:
            result = validate_answers(
                self.defn, self.raw(block.participant), channel=CHANNEL, pages=[index],
                known=self.known(index, block.participant), files=self.files, hooks=self.service.hooks,
            )
            # A service rule may speak of a field of a later page: the review will show it there.
            errors = {k: v for k, v in result.errors.items() if k.partition(".")[0] in names}
            errors.update(upload_errors.get(block.key, {}))
            if errors:
                ok = False
                block.other_errors = list(web.apply_errors(block.form, errors).values())
        return ok

    def copy_first(self, index: int) -> None:
        """Give every participant the first one's answers on this page (files excepted)."""
        if not self.per_participant(index) or len(self.participants) < 2:
            return
        source = self.raw(self.participants[0])
        for fld in self.pages[index].fields:
            if isinstance(fld, s.FileField) or fld.name not in source:
                continue
            for other in self.participants[1:]:
                self.raw(other)[fld.name] = copy.deepcopy(source[fld.name])

    def mark_reached(self, index: int) -> None:
        """Page ``index`` was validated: the family may go on to the next one."""
        self.state["reached"] = max(self.reached, index + 1)

    def save(self) -> None:
        # A new object, so SQLAlchemy sees the JSON column changed; an unsent allergy is health
        # data as much as a sent one: sealed (inscriptions.privacy.sealing).
        state = copy.deepcopy(self.state)
        names = sensitive_names(self.defn)
        state["shared"] = seal_answers(state.get("shared") or {}, names)
        state["each"] = {key: seal_answers(raw, names) for key, raw in (state.get("each") or {}).items()}
        self.draft.state = state

    # -- the whole form ---------------------------------------------------------------------------
    def owners(self) -> list[Participant | None]:
        """Who gets a registration: each participant, or the household (None)."""
        return list(self.participants) if self.has_people else [None]

    def validate_all(self) -> list[tuple[Participant | None, ValidationResult]]:
        """Every page checked at once, as ``create_registrations`` will check it."""
        return [
            (owner, validate_answers(self.defn, self.merged_raw(owner), channel=CHANNEL,
                                     files=self.files, hooks=self.service.hooks))
            for owner in self.owners()
        ]

    def inputs(self) -> list[ParticipantInput]:
        if not self.has_people:
            return [ParticipantInput(answers=self.merged_raw(None))]
        return [p.as_input(self.merged_raw(p)) for p in self.participants]

    def participant_by_input_key(self, key: str) -> Participant | None:
        """Map ``child:12`` / ``adult:5`` (RegistrationRefused keys) back to a participant."""
        kind, _sep, ident = key.partition(":")
        prefix = {"child": "c", "adult": "g"}.get(kind)
        return next((p for p in self.participants if prefix and p.key == f"{prefix}{ident}"), None)
