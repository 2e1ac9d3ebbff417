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
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"invalid service definition: {first}{more}; "
            "run 'inscriptions services check' for the full list"
        )


def _loc_to_path(loc: tuple[object, ...], data: object) -> str:
    """Turn pydantic's location into ``form.pages[0].fields[2].type``, naming fields when known."""
    parts: list[str] = []
    node = data
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
            # Discriminated unions add the tag as a location part; it adds nothing for a reader.
            if isinstance(node, dict) and key not in node and key == str(node.get("type")):
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


def _plain(err: dict) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
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
