"""One page holding every question of a service's form, for an agent keying it in.

The parents' wizard asks one page at a time; an agent copying a paper form wants all of it at
once, in the paper's order. The fields are the same WTForms fields the wizard uses
(:mod:`inscriptions.forms.web`), in one form per participant (questions asked for each child)
plus one shared form (questions asked once). Keeping all of a participant's pages in one form
keeps conditions between its pages live on the page ("answer 5 only if you ticked Yes in 4").

Nothing is validated here: the raw answers go to
:func:`inscriptions.registrations.create.create_registrations`, whose refusal is put back on the
fields with :func:`inscriptions.forms.web.apply_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import FileStorage
from wtforms.fields import FieldList

from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import definition_of
from inscriptions.forms import web
from inscriptions.forms.validation import validate_answers
from inscriptions.models import FormVersion, Household
from inscriptions.portal.wizard import Participant
from inscriptions.registrations.create import ParticipantInput, RegistrationRefused

Store = Callable[[s.FileField, FileStorage], str]


@dataclass
class Block:
    """The questions of one page for one participant (or asked once, ``participant`` None)."""

    participant: Participant | None
    form: web.PageForm
    names: list[str]

    @property
    def key(self) -> str:
        return self.participant.key if self.participant else "shared"

    @property
    def heading(self) -> str:
        return self.participant.full_name if self.participant else ""


@dataclass
class Section:
    """One page of the paper form."""

    number: int
    page: s.Page
    blocks: list[Block]


@dataclass
class CounterEntry:
    """The whole form of ``version`` for ``participants`` of ``household``, on one page."""

    service: LoadedService
    version: FormVersion
    household: Household
    participants: list[Participant]
    channel: str
    formdata: Any = None
    general: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.defn = definition_of(self.version)
        pages = self.defn.form.pages
        self.has_people = self.defn.audience != "household"
        self.own_pages = [i for i, p in enumerate(pages) if self.has_people and self.defn.page_is_per_participant(p)]
        own_fields = [f for i in self.own_pages for f in pages[i].fields]
        shared_fields = [f for i, p in enumerate(pages) if i not in self.own_pages for f in p.fields]
        self.lookup = {f.name: f for _, f in self.defn.iter_fields()}
        self.shared_form = web.build_form(web.form_class(shared_fields, name="SharedForm"), formdata=self.formdata)
        own_class = web.form_class(own_fields, name="ParticipantForm")
        self.own_forms = {
            p.key: web.build_form(own_class, prefix=p.key, formdata=self.formdata) for p in self.participants
        }
        self._decorate()

    # -- rendering -------------------------------------------------------------------------------
    def _decorate(self) -> None:
        shown_shared = set(web.decorate(self.shared_form, lookup=self.lookup, channel=self.channel))
        # Questions for each child may depend on an answer asked once (never the reverse).
        known: Mapping[str, Any] = {}
        if self.formdata is not None and self.own_forms:
            shared_raw, _errors = web.form_to_raw(self.shared_form)
            shared_pages = [i for i in range(len(self.defn.form.pages)) if i not in self.own_pages]
            known = validate_answers(self.defn, shared_raw, channel=self.channel, pages=shared_pages).values
        shown_own = {
            key: set(web.decorate(form, lookup=self.lookup, known=known, channel=self.channel))
            for key, form in self.own_forms.items()
        }
        self.sections: list[Section] = []
        for i, page in enumerate(self.defn.form.pages):
            names = [f.name for f in page.fields]
            if i in self.own_pages:
                blocks = [
                    Block(p, self.own_forms[p.key], [n for n in names if n in shown_own[p.key]])
                    for p in self.participants
                ]
            else:
                blocks = [Block(None, self.shared_form, [n for n in names if n in shown_shared])]
            self.sections.append(Section(i + 1, page, blocks))

    @property
    def has_files(self) -> bool:
        return any(isinstance(f, s.FileField | s.GroupField) for _, f in self.defn.iter_fields())

    @property
    def first_field_id(self) -> str | None:
        """The input that gets the focus when the page opens."""
        for section in self.sections:
            for block in section.blocks:
                for name in block.names:
                    return web.anchor_id(block.form[name])
        return None

    # -- answers ---------------------------------------------------------------------------------
    def collect(self, store: Store | None) -> dict[str, dict[str, str]]:
        """Read the raw answers typed; returns upload errors per block key ("shared" or "c12")."""
        problems: dict[str, dict[str, str]] = {}
        self.shared_raw, errors = web.form_to_raw(self.shared_form, store=store)
        if errors:
            problems["shared"] = errors
        self.own_raw: dict[str, dict[str, Any]] = {}
        for key, form in self.own_forms.items():
            self.own_raw[key], errors = web.form_to_raw(form, store=store)
            if errors:
                problems[key] = errors
        return problems

    def inputs(self) -> list[ParticipantInput]:
        """What :func:`create_registrations` needs: each participant's answers, shared ones merged."""
        if not self.has_people:
            return [ParticipantInput(answers=dict(self.shared_raw))]
        return [p.as_input({**self.shared_raw, **self.own_raw[p.key]}) for p in self.participants]

    # -- errors ----------------------------------------------------------------------------------
    def _form_for(self, owner_key: str | None, name: str) -> web.PageForm:
        top = name.partition(".")[0]
        if owner_key in self.own_forms and top in self.own_forms[owner_key].specs:
            return self.own_forms[owner_key]
        return self.shared_form

    def apply_upload_errors(self, problems: Mapping[str, Mapping[str, str]]) -> None:
        for key, errors in problems.items():
            form = self.own_forms.get(key, self.shared_form)
            self.general += web.apply_errors(form, errors).values()

    def apply_refusal(self, refused: RegistrationRefused) -> None:
        """Put the booking's refusal on the fields (and the rest in the general messages)."""
        self.general += [m for m in refused.general if m not in self.general]
        by_input = {f"child:{p.child_id}": p.key for p in self.participants if p.child_id is not None}
        by_input |= {f"adult:{p.guardian_id}": p.key for p in self.participants if p.guardian_id is not None}
        for input_key, errors in refused.errors.items():
            owner = by_input.get(input_key)
            for name, message in errors.items():
                form = self._form_for(owner, name)
                for left in web.apply_errors(form, {name: message}).values():
                    if left not in self.general:
                        self.general.append(left)
        # Decorations (required marks, conditions) survive apply_errors; sections are unchanged.

    def error_links(self) -> list[web.ErrorLink]:
        """Every field error, in the order of the page (the paper's order)."""
        order: dict[str, int] = {}
        for section in self.sections:
            for block in section.blocks:
                for name in block.names:
                    for anchor in _anchors(block.form[name]):
                        order.setdefault(anchor, len(order))
        links: list[web.ErrorLink] = []
        seen: set[tuple[str, str]] = set()
        forms = [(self.shared_form, "")] + [
            (self.own_forms[p.key], p.full_name) for p in self.participants
        ]
        for form, heading in forms:
            for link in web.error_links(form, heading):
                if (link.target, link.text) not in seen:
                    seen.add((link.target, link.text))
                    links.append(link)
        return sorted(links, key=lambda link: order.get(link.target, len(order)))


def _anchors(bound: Any) -> list[str]:
    if isinstance(bound, FieldList):
        return [web.anchor_id(sub) for entry in bound.entries for sub in entry.form]
    return [web.anchor_id(bound)]
