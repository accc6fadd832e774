"""The published contracts say what the code enforces, in keywords every tool reads.

Each committed JSON Schema is a valid draft 2020-12 schema, ``lambda/openapi.json`` a valid OpenAPI
document, neither carries pydantic's own parameter names (``ge``, ``le`` … which no validator
reads), and every constraint a model enforces on a field (bounds, lengths, patterns) appears in
that field's schema as the standard keyword.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import annotated_types
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel

from forecast_core.json_schemas import CONTRACT_SCHEMAS
from forecast_smoke.schemas import SMOKE_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = json.loads((ROOT / "lambda" / "openapi.json").read_text(encoding="utf-8"))
SCHEMA_SETS = {"contracts": CONTRACT_SCHEMAS, "smoke": SMOKE_SCHEMAS}
COMMITTED = [(set_name, name) for set_name, schemas in SCHEMA_SETS.items() for name in schemas.models]
PYDANTIC_ONLY = {"ge", "le", "gt", "lt", "min_length", "max_length", "multiple_of", "max_digits"}

Expected = tuple[str, str, Any]  # (field name, JSON Schema keyword, value)


def _keyword(constraint: object, is_list: bool) -> tuple[str, Any] | None:
    """The standard keyword for one annotated-types / pydantic constraint."""
    table: list[tuple[type, str, str]] = [
        (annotated_types.Ge, "minimum", "ge"),
        (annotated_types.Le, "maximum", "le"),
        (annotated_types.Gt, "exclusiveMinimum", "gt"),
        (annotated_types.Lt, "exclusiveMaximum", "lt"),
        (annotated_types.MinLen, "minItems" if is_list else "minLength", "min_length"),
        (annotated_types.MaxLen, "maxItems" if is_list else "maxLength", "max_length"),
    ]
    for kind, keyword, attribute in table:
        if isinstance(constraint, kind):
            return keyword, getattr(constraint, attribute)
    pattern = getattr(constraint, "pattern", None)
    return ("pattern", pattern) if isinstance(pattern, str) else None


def _inner(annotation: Any) -> list[Any]:
    """The annotation and every type nested in it (Optional, list, dict values, unions …)."""
    found = [annotation]
    for argument in get_args(annotation):
        found += _inner(argument)
    return found


def models_in(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model its fields hold, each once (the derivation vocabulary is recursive)."""
    found: list[type[BaseModel]] = []
    pending = [model]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.append(current)
        for field in current.model_fields.values():
            pending += [t for t in _inner(field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    return found


def field_constraints(model: type[BaseModel]) -> Iterator[Expected]:
    """Every constraint ``model`` enforces on its own fields."""
    for name, field in model.model_fields.items():
        is_list = get_origin(field.annotation) is list
        for constraint in field.metadata:
            found = _keyword(constraint, is_list)
            if found is not None:
                yield (field.alias or name, *found)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    reference = node.get("$ref")
    if not reference:
        return node
    name = reference.rsplit("/", 1)[-1]
    definitions = document.get("$defs") or document.get("components", {}).get("schemas", {})
    return _resolve(document, definitions[name])


def _variants(document: dict[str, Any], node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The node and the branches of its anyOf / oneOf / items, references resolved."""
    node = _resolve(document, node)
    yield node
    for branch in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
        yield from _variants(document, branch)
    if isinstance(node.get("items"), dict):
        yield from _variants(document, node["items"])


def missing_constraints(document: dict[str, Any], root: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """Constraints of ``model`` and its nested models that the document does not state."""
    definitions = document.get("$defs") or document.get("components", {}).get("schemas", {})
    missing = []
    for each in models_in(model):
        definition = root if each is model else definitions.get(each.__name__)
        if definition is None:
            continue  # a model the document does not carry (not reachable from this endpoint)
        for name, keyword, value in field_constraints(each):
            properties = _resolve(document, definition).get("properties", {})
            stated = name in properties and any(
                variant.get(keyword) == value for variant in _variants(document, properties[name])
            )
            if not stated:
                missing.append(f"{each.__name__}.{name}: {keyword}={value!r}")
    return missing


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":  # property names are data, not keywords
                for item in value.values():
                    yield from _keys(item)
                continue
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


@pytest.mark.parametrize(("set_name", "name"), COMMITTED, ids=[f"{s}:{n}" for s, n in COMMITTED])
def test_each_committed_schema_is_valid_and_states_every_model_constraint(set_name: str, name: str) -> None:
    schemas = SCHEMA_SETS[set_name]
    schema = schemas.committed(name)
    Draft202012Validator.check_schema(schema)
    assert not PYDANTIC_ONLY & set(_keys(schema)), "pydantic's parameter names are not JSON Schema keywords"
    missing = missing_constraints(schema, schema, schemas.models[name])
    assert not missing, f"enforced but not published: {missing}"


def test_the_openapi_document_is_valid_and_states_every_model_constraint() -> None:
    validate_openapi(OPENAPI)
    assert not PYDANTIC_ONLY & set(_keys(OPENAPI)), "pydantic's parameter names are not OpenAPI keywords"
    components = OPENAPI["components"]["schemas"]
    models = [model for model in CONTRACT_SCHEMAS.models.values() if model.__name__ in components]
    assert models, "the API's request and response models are in the document"
    for model in models:
        assert not missing_constraints(OPENAPI, components[model.__name__], model), model.__name__


def test_the_coordinates_are_bounded_for_every_client() -> None:
    """The issue that started this: latitude/longitude bounds were invisible to clients."""
    payload = OPENAPI["components"]["schemas"]["PointPayload"]["properties"]
    assert (payload["latitude"]["minimum"], payload["latitude"]["maximum"]) == (-90.0, 90.0)
    assert (payload["longitude"]["minimum"], payload["longitude"]["maximum"]) == (-180.0, 360.0)
    point = CONTRACT_SCHEMAS.committed("point")
    errors = list(Draft202012Validator(point).iter_errors({"latitude": 91}))
    assert any(re.search(r"91 is greater than the maximum of 90", error.message) for error in errors)
