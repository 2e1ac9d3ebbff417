"""How places are given, in plain French: the rule of a service and how it applied to a family.

French law asks both: the rules published online (CRPA L312-1-3) and, for each decision taken by
an algorithm, a mention saying so and, on request, the rules, the data used, the parameters and
their weight as applied to the person, and the operations (L311-3-1, R311-3-1-2). The service
page, the public rules page, the paper form, the family's application page, the e-mail, the
letter and the downloadable detail all take their words from here, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from inscriptions import clock
from inscriptions.allocation.draws import drawn_count
from inscriptions.definitions.registry import registry
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.registrations.windows import moment_text


def when(defn: ServiceDefinition) -> str:
    """The ranking's date in words ("" for a service decided by arrival)."""
    draw_at = defn.allocation.draw_at
    return moment_text(clock.as_local_aware(draw_at)) if draw_at is not None and defn.allocation.uses_draw else ""


def rule_summary(defn: ServiceDefinition) -> str:
    """One paragraph saying how places are given: the service page, the paper form."""
    allocation = defn.allocation
    if allocation.rule == "points" and allocation.draw_at is not None:
        return _("Places are given by priority points on %(when)s. Every application sent before then is "
                 "ranked, whether it was sent online, at the counter or on paper: most points first, and "
                 "between applications with the same points, in the order of a draw. Applications sent "
                 "after that date follow in the order they arrive.", when=when(defn))
    if allocation.rule == "draw" and allocation.draw_at is not None:
        return _("Places are given by a draw on %(when)s. Every application sent before then takes part with "
                 "the same chance, whether it was sent online, at the counter or on paper. Applications sent "
                 "after the draw follow in the order they arrive.", when=when(defn))
    return _("Places are given in the order applications are sent, whether online, at the counter or on paper.")


def criteria_lines(defn: ServiceDefinition) -> list[str]:
    """Each priority criterion with its points ("Famille domiciliée dans la commune : 10 points")."""
    return [ngettext("%(label)s: %(num)s point", "%(label)s: %(num)s points", c.points, label=c.label)
            for c in defn.allocation.criteria]


def weights_lines(defn: ServiceDefinition) -> list[str]:
    """Each weight of a weighted draw ("Famille domiciliée dans la commune : 2 chances sur une")."""
    return [_("%(label)s: %(num)s times as many chances in the draw", label=w.label, num=w.weight)
            for w in defn.allocation.weights]


def legal_mention(contact: str) -> str:
    """The mention every decision taken by an algorithm carries (CRPA L311-3-1), with how to ask
    for its detail and where to turn if refused."""
    return _("This decision was taken by an algorithm (a ranking that anyone can check), in order to give the "
             "places of this service fairly. You may ask for its rules and for how they applied to you (article "
             "L311-3-1 of the Code des relations entre le public et l'administration) from the town's services: "
             "%(contact)s. If they do not answer within a month, or refuse, you may refer the matter to the "
             "Commission d'accès aux documents administratifs (CADA).", contact=contact)


@dataclass
class Criterion:
    """One criterion as it applied to the family."""

    label: str
    points: int
    met: bool
    value: Any = None


@dataclass
class Explanation:
    """How the rule applied to one application (what the family is told)."""

    rule: str
    drawn_rank: int | None = None
    drawn_of: int | None = None
    weight: int | None = None
    points: int | None = None
    criteria: list[Criterion] = field(default_factory=list)
    # Sent after the ranking: decided in the order of arrival.
    after_ranking: bool = False
    ranking_at: str = ""

    @property
    def ranked(self) -> bool:
        return self.drawn_rank is not None

    def sentences(self) -> list[str]:
        """The explanation as sentences (e-mail, letter, downloadable detail)."""
        lines: list[str] = []
        if self.after_ranking:
            lines.append(_("Your application was sent after the ranking of %(when)s: it was decided in the order "
                           "applications arrived.", when=self.ranking_at))
            return lines
        if not self.ranked:
            return lines
        if self.rule == "points":
            lines.append(ngettext(
                "Places were given by priority points, most points first. Your application has %(num)s point.",
                "Places were given by priority points, most points first. Your application has %(num)s points.",
                self.points or 0))
            for c in self.criteria:
                lines.append(_("%(label)s: met, %(num)s points", label=c.label, num=c.points) if c.met
                              else _("%(label)s: not met (0 points)", label=c.label))
            lines.append(_("Between applications with the same points, places were given in the order of a draw: "
                           "your application was drawn at rank %(rank)s of %(total)s.",
                           rank=self.drawn_rank, total=self.drawn_of))
        else:
            lines.append(_("Places were given by a draw, then in the order of the draw: your application was drawn "
                           "at rank %(rank)s of %(total)s.", rank=self.drawn_rank, total=self.drawn_of))
        if self.weight is not None:
            lines.append(ngettext("In the draw, your application held %(num)s ticket.",
                                  "In the draw, your application held %(num)s tickets.", self.weight))
        return lines


def explanation(application: Any, defn: ServiceDefinition, drawn_of: int | None) -> Explanation | None:
    """How ``defn``'s rule applied to ``application`` (None for a service decided by arrival, or
    before the ranking)."""
    allocation = defn.allocation
    if not allocation.uses_draw:
        return None
    found = Explanation(rule=allocation.rule, ranking_at=when(defn))
    if application.draw_rank is not None:
        found.drawn_rank, found.drawn_of = application.draw_rank, drawn_of
        found.weight = application.draw_weight
        found.points = application.points
        found.criteria = [Criterion(d.get("label", ""), int(d.get("points", 0)), bool(d.get("met")), d.get("value"))
                          for d in application.points_detail or []]
        return found
    if drawn_of is not None and application.queue_number is not None:
        # Ranked already, without this application: it came after the ranking date.
        found.after_ranking = True
        return found
    return None


def explain_application(application: Any) -> Explanation | None:
    """:func:`explanation` of an application under its service's current rule and draw."""
    live = registry().get(application.service_code)
    if live is None or not live.definition.allocation.uses_draw:
        return None
    return explanation(application, live.definition, drawn_count(application.service_code))
