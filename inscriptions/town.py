"""The town's identity (white label): one YAML file, validated, used by every template and letter."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    address: str = ""
    email: EmailStr | None = None
    phone: str = ""
    hours: str = ""


class Colours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    primary: str = "#1d4e89"
    primary_text: str = "#ffffff"
    accent: str = "#b3261e"

    @field_validator("primary", "primary_text", "accent")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not HEX_COLOUR.match(value):
            raise ValueError("must be a colour like #1d4e89")
        return value


class Residency(BaseModel):
    """Which addresses count as residents (for residents-only services and priorities)."""

    model_config = ConfigDict(extra="forbid")
    cities: list[str] = Field(default_factory=list)
    postcodes: list[str] = Field(default_factory=list)


class Town(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    site_title: str = "Inscriptions"
    logo: str | None = None
    colours: Colours = Field(default_factory=Colours)
    contact: Contact
    dpo: Contact
    legal_notice: str
    accessibility_statement: str = ""
    residency: Residency = Field(default_factory=Residency)
    schools: list[str] = Field(default_factory=list)
    # Set when the file is loaded: where relative paths (logo) are resolved from.
    base_dir: Path | None = Field(default=None, exclude=True)

    @property
    def logo_path(self) -> Path | None:
        if not self.logo or self.base_dir is None:
            return None
        return (self.base_dir / self.logo).resolve()

    def is_resident(self, city: str | None, postcode: str | None) -> bool:
        """True when the address belongs to the town (city name compared without accents/case)."""
        if not city and not postcode:
            return False
        if self.residency.postcodes and (postcode or "") not in self.residency.postcodes:
            return False
        if self.residency.cities:
            wanted = {_fold(c) for c in self.residency.cities}
            return _fold(city or "") in wanted
        return True


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s\-']+", " ", stripped).strip().casefold()


class TownConfigError(Exception):
    """The town file is missing or invalid; the message is one line."""


def load_town(path: Path) -> Town:
    """Load and validate the town file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TownConfigError(f"{path}: town file not found") from exc
    except yaml.YAMLError as exc:
        # One line (PyYAML's own message spans several): where, then what.
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or "syntax error"
        raise TownConfigError(f"{path}: {where}not valid YAML: {reason}") from exc
    try:
        town = Town.model_validate(raw or {})
    except ValueError as exc:
        from inscriptions.definitions.errors import format_pydantic_errors

        first = format_pydantic_errors(exc)[0]
        raise TownConfigError(f"{path}: {first}") from exc
    town.base_dir = path.parent
    return town
