"""The OpenAPI contract: its schemas are the stream schemas, and the emulator never breaks it (Schemathesis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "schemas" / "andsend-api.openapi.yaml"
COMPONENT_FOR_STREAM = {
    "users": "User",
    "campaigns": "Campaign",
    "prospects": "Prospect",
    "search_results": "SearchResult",
    "touchpoints": "Touchpoint",
    "badges": "Badge",
    "crm_status": "CrmStatus",
}
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]


def _strip_docs(schema: object) -> object:
    """The schema without prose (description/title/$schema), for comparing shapes."""
    if isinstance(schema, dict):
        return {k: _strip_docs(v) for k, v in schema.items() if k not in ("description", "title", "$schema")}
    if isinstance(schema, list):
        return [_strip_docs(v) for v in schema]
    return schema


@pytest.mark.parametrize("stream", sorted(COMPONENT_FOR_STREAM))
def test_component_schema_is_exactly_the_stream_schema(stream):
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    component = document["components"]["schemas"][COMPONENT_FOR_STREAM[stream]]
    stream_schema = json.loads((REPO / "schemas" / f"{stream}.json").read_text(encoding="utf-8"))
    assert _strip_docs(component) == _strip_docs(stream_schema)
    # Every field is documented.
    assert all(prop.get("description") for prop in component["properties"].values())


def test_every_response_record_validates_against_its_stream_schema(andsend_emulator):
    from jsonschema import Draft202012Validator, FormatChecker

    paths = {
        "users": "/v1/users",
        "campaigns": "/v1/campaigns",
        "prospects": "/v1/prospects",
        "search_results": "/v1/search-results",
        "touchpoints": "/v1/touchpoints",
    }
    for stream, path in paths.items():
        schema = json.loads((REPO / "schemas" / f"{stream}.json").read_text(encoding="utf-8"))
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        records = andsend_emulator.get(path, limit=1000).json()["data"]
        assert records
        for record in records:
            errors = list(validator.iter_errors(record))
            assert not errors, (stream, record["id"], errors[0].message)
            assert set(record) <= set(schema["properties"]), stream


def test_served_document_is_the_repository_document(andsend_emulator):
    import requests

    served = requests.get(f"{andsend_emulator.base_url}/openapi.yaml", timeout=10)
    assert served.status_code == 200
    assert served.text == OPENAPI.read_text(encoding="utf-8")


def test_schemathesis_finds_no_contract_violation(andsend_emulator):
    """Positive and negative cases for every operation; every response must conform to the document."""
    schema = schemathesis.openapi.from_url(f"{andsend_emulator.base_url}/openapi.yaml")
    auth = {"Authorization": f"Bearer {andsend_emulator.api_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    calls = 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=20,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(base_url=andsend_emulator.base_url, headers=auth, checks=CHECKS)

            run()
    assert calls >= 9 * 2
    stats = andsend_emulator.stats()
    assert stats["api_requests"] >= calls
    assert not any(code.startswith("5") for code in stats["by_status"])


def test_document_is_valid_openapi_3_1_and_documents_every_field():
    from jsonschema import Draft202012Validator
    from schemathesis.specs.openapi.definitions import OPENAPI_31  # the OAS 3.1 meta-schema

    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    errors = [e.message for e in Draft202012Validator(OPENAPI_31).iter_errors(document)]
    assert not errors, errors[:3]
    assert document["openapi"].startswith("3.1")
    for name, schema in document["components"]["schemas"].items():
        for prop, spec in (schema.get("properties") or {}).items():
            assert spec.get("description") or "$ref" in spec, f"{name}.{prop} is undocumented"
    for name, param in document["components"]["parameters"].items():
        assert param.get("description"), name
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary") and operation.get("operationId"), (method, path)
            for param in operation.get("parameters", []):
                assert "$ref" in param or param.get("description"), (method, path, param)
