"""Schemathesis against /api/v1/openapi.json, through the WSGI app: no server error, for valid
requests the document describes and for the negative ones it derives from it.

Schemathesis' own pytest plugin (``from_fixture``) does not run under pytest 9 yet, so each
operation's Hypothesis strategy is driven here directly.
"""

from __future__ import annotations

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from test_authorisation import World

# Modest example counts: the whole module runs in well under a minute.
EXAMPLES = 15
ROLES = ("manager_x", "parent_b")  # a staff token (every rule of a service) and a parent's


def test_api_has_no_server_error(world_app: tuple[Flask, World]) -> None:
    app, world = world_app
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    calls = {"n": 0}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case) -> None:  # type: ignore[no-untyped-def]
                for role in ROLES:
                    response = case.call(headers={"Authorization": f"Bearer {world.api_tokens[role]}"})
                    calls["n"] += 1
                    assert response.status_code < 500, (role, case.method, case.formatted_path,
                                                        response.status_code, response.text[:300])
                    case.validate_response(response, checks=[not_a_server_error])

            run()
    assert calls["n"] >= len(operations) * 2
