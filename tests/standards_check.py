"""Validating responses against the standards' own schema documents (vendored in tests/standards)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

STANDARDS = Path(__file__).parent / "standards"
OGC = STANDARDS / "ogcapi-processes-1.0" / "schemas"
WES = STANDARDS / "wes-1.1.0"


@functools.cache
def _ogc_registry() -> Registry:
    resources = [(path.resolve().as_uri(), Resource.from_contents(yaml.safe_load(path.read_text()),
                                                                 default_specification=DRAFT4))
                 for path in OGC.glob("*.yaml")]
    return Registry().with_resources(resources)


def ogc_errors(schema_name: str, instance: Any) -> list[str]:
    """What is wrong with `instance` by the OGC 1.0 schema `schema_name` (e.g. "statusInfo")."""
    uri = (OGC / f"{schema_name}.yaml").resolve().as_uri()
    validator = OAS30Validator({"$ref": uri}, registry=_ogc_registry(), format_checker=OAS30Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def assert_ogc(schema_name: str, instance: Any) -> None:
    errors = ogc_errors(schema_name, instance)
    assert not errors, f"not a valid OGC {schema_name}: {errors[:5]}"


_SERVICE_INFO = "https://raw.githubusercontent.com/ga4gh-discovery/ga4gh-service-info/v1.0.0/service-info.yaml"


@functools.cache
def _wes() -> tuple[dict, Registry, str]:
    """The WES 1.1.0 OpenAPI document (its service-info reference pointed at the vendored copy)."""
    main = WES / "workflow_execution_service.openapi.yaml"
    document = _string_keys(yaml.safe_load(main.read_text().replace(_SERVICE_INFO, "service-info.yaml")))
    info = WES / "service-info.yaml"
    registry = Registry().with_resources([
        (main.resolve().as_uri(), Resource.from_contents(document, default_specification=DRAFT4)),
        (info.resolve().as_uri(), Resource.from_contents(yaml.safe_load(info.read_text()),
                                                         default_specification=DRAFT4))])
    return document, registry, main.resolve().as_uri()


def wes_errors(path: str, method: str, status: int, instance: Any) -> list[str]:
    """What is wrong with a response by the WES 1.1.0 OpenAPI document: its status must be declared
    for the operation, and its body valid by the declared schema."""
    document, registry, uri = _wes()
    responses = document["paths"][path][method]["responses"]
    if str(status) not in responses:
        return [f"status {status} is not declared for {method.upper()} {path}"]
    pointer = f"/paths/{path.replace('~', '~0').replace('/', '~1')}/{method}/responses/{status}"
    schema = {"$ref": f"{uri}#{pointer}/content/application~1json/schema"}
    validator = OAS30Validator(schema, registry=registry, format_checker=OAS30Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def assert_wes(path: str, method: str, response: Any) -> Any:
    """The response's JSON body, once checked against the WES OpenAPI document."""
    body = response.get_json(force=True)
    errors = wes_errors(path, method, response.status_code, body)
    assert not errors, f"not a valid WES response for {method.upper()} {path}: {errors[:5]}"
    return body


def _string_keys(value: Any) -> Any:
    """YAML reads the response codes (`200:`) as integers; OpenAPI wants strings."""
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value
