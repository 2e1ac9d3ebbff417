"""The OpenAPI document: valid OpenAPI 3.1, every API route described, public."""

from __future__ import annotations

from openapi_spec_validator import validate

from inscriptions.api.schemas import RegistrationIn


def test_openapi_document_is_valid_and_public(api) -> None:  # type: ignore[no-untyped-def]
    response = api("GET", "/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_api_route_is_documented(api, app) -> None:  # type: ignore[no-untyped-def]
    document = api("GET", "/openapi.json").get_json()
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = rule.rule.replace("<", "{").replace(">", "}")
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented
    assert ("/api/v1/registrations", "post") in documented


def test_request_schema_is_the_validating_model(api) -> None:  # type: ignore[no-untyped-def]
    document = api("GET", "/openapi.json").get_json()
    schema = document["components"]["schemas"]["RegistrationIn"]
    expected = RegistrationIn.model_json_schema(ref_template="#/components/schemas/{model}")
    expected.pop("$defs", None)
    assert schema == expected
    assert set(schema["required"]) == {"service", "participants"}
    assert schema["additionalProperties"] is False
