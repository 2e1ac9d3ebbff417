"""Generated text sent to every form field and query parameter of the URL map, on PostgreSQL.

For every endpoint of the access table (tests/security/test_authorisation.py) but the API's
(its JSON bodies and query parameters are fuzzed from the OpenAPI document by
test_api_schemathesis.py), as a role the table lets in:

* every ``<form>`` the endpoint's page shows is sent with some of its fields (names as the page
  gives them, other fields keeping the page's values) replaced by generated text;
* its URL is requested with the query parameters its module reads (``request.args...`` in the
  source) set to generated text;
* an endpoint without a page of its own (a POST action) is sent the access table's data, fuzzed.

The text mixes anything Hypothesis makes with what broke PostgreSQL before (NUL bytes, control
characters, right-to-left overrides, a 400-digit number, dates in year 1 or 9999, non-ASCII
digits). Asserted: never a 5xx, and a request refused as bad input (400) writes nothing: the row
count of every table is the same before and after.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, literal, select, union_all
from test_authorisation import ACCESS, PG_URL, World, _client, endpoints

from inscriptions.extensions import db

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not PG_URL, reason="PostgreSQL only: set INSCRIPTIONS_TEST_DATABASE_URL")]

# The role whose page shows the most (the owner of B's data, then the staff of service X).
PREFERENCE = ("parent_b", "manager_x", "admin", "dpo", "agent_x", "parent_a", "agent_y", "anonymous")
EXAMPLES = 8
NASTY = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\x01\x1f", "\u202eevil", "\u200f", "٩٩٩٩٠", "²", "9" * 400, "-1",
    "0001-01-01", "9999-12-31", "31/02/2026", "2026-13-45", "NaN", "1e309", "' OR 1=1 --",
    "<script>alert(1)</script>", "é" * 3000, "../../etc/passwd", "%00", "\ud7ff", "🙂",
])
VALUE = NASTY | st.text(max_size=20)
# Endpoints whose effect would end the test client's access (then every later request is a log-in
# page, which fuzzes nothing).
SKIP_FORMS_TO = ("/deconnexion",)


class _Forms(HTMLParser):
    """The forms of a page: method, action and fields with the values the page gives them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"method": a.get("method", "get").upper(), "action": a.get("action", ""),
                               "fields": {}})
        elif not self.forms or "name" not in a:
            if tag == "option" and self._select and self.forms:
                self.forms[-1]["fields"].setdefault(self._select, a.get("value", ""))
            return
        elif tag == "input" and a.get("type") not in ("file", "submit", "image", "button", "reset"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                self.forms[-1]["fields"].setdefault(a["name"], None)  # known, not sent as it is
            else:
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag in ("textarea", "button") and a["name"]:
            self.forms[-1]["fields"].setdefault(a["name"], a.get("value", ""))
        elif tag == "select":
            self._select = a["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def _query_names(module_name: str) -> set[str]:
    """The query parameters a view module reads: ``request.args.get("q")``, ``args["q"]``..."""
    import importlib

    source = Path(inspect.getfile(importlib.import_module(module_name))).read_text(encoding="utf-8")
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            target, arg = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript):
            target, arg = node.value, node.slice
        if target is None or not (isinstance(target, ast.Attribute) and target.attr == "args"):
            continue
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
    return names


def _role(allowed: frozenset[str]) -> str:
    return next(r for r in PREFERENCE if r in allowed)


def _counts() -> dict[str, int]:
    query = union_all(*(select(literal(t.name), func.count()).select_from(t) for t in db.metadata.sorted_tables))
    with db.engine.connect() as conn:
        return {name: count for name, count in conn.execute(query)}


def _targets(app: Flask, world: World, blueprint: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(role, method, url, fields) of everything of ``blueprint`` to fuzz."""
    methods_of = endpoints(app)
    for endpoint, rule in sorted(ACCESS.items()):
        if endpoint.split(".")[0] != blueprint or rule.api or endpoint not in methods_of:
            continue
        role, url = _role(rule.allowed), rule.url(world)
        methods = methods_of[endpoint]
        if "GET" in methods:
            module = app.view_functions[endpoint].__module__
            query = _query_names(module)
            if query:
                yield role, "GET", url, dict.fromkeys(query, "")
            page = _client(app, world, role).get(url)
            if page.status_code == 200 and page.mimetype == "text/html":
                parser = _Forms()
                parser.feed(page.get_data(as_text=True))
                for form in parser.forms:
                    action = urljoin(url, form["action"]) if form["action"] else url
                    action = urlsplit(action)._replace(scheme="", netloc="").geturl()
                    if form["fields"] and not action.startswith(SKIP_FORMS_TO):
                        yield role, form["method"], action, form["fields"]
        if "POST" in methods and not url.startswith(SKIP_FORMS_TO):
            yield role, "POST", url, dict(rule.data(world)) if rule.data else {"note": ""}


BLUEPRINTS = sorted({e.split(".")[0] for e, r in ACCESS.items() if not r.api} - {"static", "town_logo"})


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_generated_text_never_breaks_a_page(world_app: tuple[Flask, World], blueprint: str) -> None:
    app, world = world_app
    with app.app_context():
        targets = list(_targets(app, world, blueprint))
    assert targets or blueprint in ("site",), f"nothing to fuzz in {blueprint}"
    for role, method, url, fields in targets:
        if fields:
            _fuzz(app, world, role, method, url, fields)


def _fuzz(app: Flask, world: World, role: str, method: str, url: str, fields: dict[str, Any]) -> None:
    """Send ``fields`` to ``url`` with some of them replaced by generated text, several times."""

    @given(changed=st.dictionaries(st.sampled_from(sorted(fields)), VALUE | st.lists(VALUE, max_size=2),
                                   min_size=1, max_size=4))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def send(changed: dict[str, Any]) -> None:
        data = {k: v for k, v in {**fields, **changed}.items() if v is not None}
        client = _client(app, world, role)
        with app.app_context():
            before = _counts()
        if method == "GET":
            separator = "&" if "?" in url else "?"
            response = client.get(url + separator + urlencode(data, doseq=True))
        else:
            response = client.open(url, method=method, data=data)
        assert response.status_code < 500, (role, method, url, data, response.get_data(as_text=True)[:500])
        if response.status_code == 400:
            with app.app_context():
                assert _counts() == before, (role, method, url, data)

    send()


def test_the_fuzzing_reaches_forms_and_query_parameters(world_app: tuple[Flask, World]) -> None:
    """The discovery itself: the counter's search reads ``q``, and the family's household page
    shows forms whose fields are found."""
    app, world = world_app
    assert "q" in _query_names("inscriptions.counter.views")
    with app.app_context():
        family = list(_targets(app, world, "family"))
    assert any(method == "POST" and fields for _role, method, _url, fields in family)
