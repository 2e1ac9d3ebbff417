"""Readable errors for service definition files."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem in one definition file: where, and a plain explanation."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ServiceDefinitionError(Exception):
    """Raised when one or more service definitions are invalid."""

    def __init__(self, problems: list[DefinitionProblem]):
        self.problems = problems
        # One line whatever the problem says: it is what the person starting the app sees.
        first = " ".join(str(problems[0]).split())
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"invalid service definition: {first}{more}; "
            "run 'inscriptions services check' for the full list"
        )


def _loc_to_path(loc: tuple[object, ...], data: object) -> str:
    """Turn pydantic's location into ``form.pages[0].fields[2].type``, naming fields when known."""
    parts: list[str] = []
    node = data
    if loc and loc[0] == "workflow_rules" and isinstance(data, dict) and isinstance(data.get("workflow"), dict):
        # The long form of ``workflow`` is read into ``workflow_rules``: report it where it was written.
        loc = ("workflow", *loc[1:])
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("name"), str):
                    label = f"[{item}] ({node['name']})"
            parts.append(label)
        else:
            key = str(item)
            # Discriminated unions (fields by ``type``, pricing by ``kind``) add the tag as a
            # location part; it adds nothing for a reader.
            if isinstance(node, dict) and key not in node and key in {str(node.get("type")), str(node.get("kind"))}:
                continue
            parts.append(("." if parts else "") + key)
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)


def format_pydantic_errors(exc: ValidationError, data: object = None) -> list[str]:
    """Render each pydantic error as ``path: message`` in plain English."""
    lines = []
    for err in exc.errors():
        path = _loc_to_path(tuple(err["loc"]), data)
        message = _plain(err)
        lines.append(f"{path}: {message}" if path else message)
    return lines


# Patterns of the schema, explained in words a town's staff can act on.
PATTERN_HINTS = {
    r"^[a-z][a-z0-9_]*$": "use lower-case letters, digits and '_' only, starting with a letter (e.g. 'pickup_time')",
    r"^[a-z][a-z0-9_-]{1,39}$": "use 2 to 40 lower-case letters, digits, '_' or '-', starting with a letter",
    r"^[A-Z]{2,5}$": "use 2 to 5 capital letters (e.g. 'CAN')",
    r"^[a-z0-9][a-z0-9_-]*$": "use lower-case letters, digits, '_' or '-' (e.g. 'wed-14h')",
}


def _plain(err: dict) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(str(ctx.get("pattern")))
        if hint:
            return f"{err.get('input')!r} is not allowed here: {hint}"
    if kind.startswith("datetime_"):
        return f"{err.get('input')!r} is not a date and time; write it like 2026-09-01T08:30:00"
    if kind.startswith("date_"):
        return f"{err.get('input')!r} is not a date; write it like 2026-09-01"
    if kind == "missing":
        return "this setting is required"
    if kind == "extra_forbidden":
        return "unknown setting (check its spelling against the reference in README.md)"
    if kind == "union_tag_invalid":
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind in {"value_error", "assertion_error"}:
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"]).replace("Value error, ", "")
