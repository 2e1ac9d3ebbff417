"""Find, read and validate service definitions in the plugins folder.

This module needs no application: ``inscriptions services check`` uses it on a broken folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pluggy
import yaml
from pydantic import ValidationError

from inscriptions.definitions.errors import DefinitionProblem, format_pydantic_errors
from inscriptions.definitions.schema import ServiceDefinition, semantic_problems
from inscriptions.plugin_api import PROJECT_NAME, ServiceHooks

DEFINITION_FILE = "service.yaml"
HOOKS_FILE = "hooks.py"
ENTRY_POINT_GROUP = "inscriptions.plugins"


@dataclass
class LoadedService:
    """A validated definition with its folder, rules and fingerprint."""

    definition: ServiceDefinition
    folder: Path
    hooks: pluggy.PluginManager
    content_hash: str

    @property
    def code(self) -> str:
        return self.definition.code


def definition_hash(defn: ServiceDefinition) -> str:
    """Fingerprint of a definition: a new fingerprint means a new form version.

    Settings left at their defaults are not part of it, so a new optional setting in the engine
    does not give every service a new form version (and every paper layout a new print).
    """
    canonical = json.dumps(
        defn.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_definition(path: Path) -> tuple[ServiceDefinition | None, list[DefinitionProblem]]:
    """Read and validate one definition file."""
    shown = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [DefinitionProblem(shown, "", "file not found")]
    except UnicodeDecodeError:
        return None, [DefinitionProblem(shown, "", "not UTF-8 text")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or "syntax error"
        # The mistake is often where the construct began (an unclosed bracket or quote).
        context, started = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and started is not None and started.line != getattr(mark, "line", None):
            reason += f" ({context} started at line {started.line + 1})"
        return None, [DefinitionProblem(shown, where, f"not valid YAML: {reason}")]
    if not isinstance(raw, dict):
        return None, [DefinitionProblem(shown, "", "must be a mapping of settings (name: value)")]
    try:
        defn = ServiceDefinition.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for line in format_pydantic_errors(exc, raw):
            loc, _, message = line.partition(": ")
            problems.append(DefinitionProblem(shown, loc, message) if message else DefinitionProblem(shown, "", loc))
        return None, problems
    problems = [DefinitionProblem(shown, p, m) for p, m in semantic_problems(defn)]
    if path.parent.name != defn.code and path.name == DEFINITION_FILE:
        problems.append(DefinitionProblem(shown, "code", f"must equal its folder name {path.parent.name!r}"))
    return (None if problems else defn), problems


def _load_hooks_module(folder: Path, code: str) -> ModuleType:
    module_name = f"inscriptions_plugins.{code.replace('-', '_')}.hooks"
    spec = importlib.util.spec_from_file_location(module_name, folder / HOOKS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


KNOWN_HOOKS = sorted(name for name in vars(ServiceHooks) if not name.startswith("_"))


def build_hooks(folder: Path, code: str) -> pluggy.PluginManager:
    """A plugin manager holding only this service's rules, so hooks never see other services.

    A misspelt hook name would otherwise be ignored silently (the rule would never run), so
    every implementation must match a documented hook.
    """
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(ServiceHooks)
    if (folder / HOOKS_FILE).exists():
        manager.register(_load_hooks_module(folder, code), name=f"{code}.hooks")
    manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=code)
    unknown = sorted(
        name for name, caller in vars(manager.hook).items()
        if isinstance(caller, pluggy.HookCaller) and not caller.has_spec() and caller.get_hookimpls()
    )
    if unknown:
        raise pluggy.PluginValidationError(
            None, f"unknown hook {unknown[0]!r}; the hooks are {', '.join(KNOWN_HOOKS)}"
        )
    return manager


def _hooks_problem(exc: BaseException) -> str:
    """One readable line for a hooks module that cannot be used."""
    if isinstance(exc, SyntaxError):
        return f"cannot be loaded: syntax error at line {exc.lineno}: {exc.msg}"
    text = str(exc) if isinstance(exc, pluggy.PluginValidationError) else f"{type(exc).__name__}: {exc}"
    return "cannot be loaded: " + " ".join(text.split())


def load_services(plugins_dir: Path) -> tuple[dict[str, LoadedService], list[DefinitionProblem]]:
    """Load every ``<plugins_dir>/<code>/service.yaml``; return the valid ones and all problems."""
    services: dict[str, LoadedService] = {}
    problems: list[DefinitionProblem] = []
    if not plugins_dir.is_dir():
        return services, [DefinitionProblem(str(plugins_dir), "", "plugins folder not found")]
    prefixes: dict[str, str] = {}
    for folder in sorted(p for p in plugins_dir.iterdir() if p.is_dir()):
        path = folder / DEFINITION_FILE
        if not path.exists():
            if not folder.name.startswith((".", "_")):
                problems.append(DefinitionProblem(str(folder), "", f"no {DEFINITION_FILE} in this service folder"))
            continue
        defn, found = read_definition(path)
        problems += found
        if defn is None:
            continue
        if defn.reference_prefix in prefixes:
            problems.append(DefinitionProblem(
                str(path), "reference_prefix",
                f"{defn.reference_prefix!r} is already used by service {prefixes[defn.reference_prefix]!r}",
            ))
            continue
        try:
            hooks = build_hooks(folder, defn.code)
        except Exception as exc:  # a broken hooks.py must be reported, whatever it raised
            problems.append(DefinitionProblem(str(folder / HOOKS_FILE), "", _hooks_problem(exc)))
            continue
        prefixes[defn.reference_prefix] = defn.code
        services[defn.code] = LoadedService(defn, folder, hooks, definition_hash(defn))
    return services, problems
