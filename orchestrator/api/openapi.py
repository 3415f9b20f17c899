"""The OpenAPI 3.1 document of the internal API, built from the route table and its models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from orchestrator.api.params import described
from orchestrator.api.routing import Answer, ApiRoute
from orchestrator.api.table import ROUTES

_REF = "#/components/schemas/{model}"


def build_openapi(routes: Sequence[ApiRoute] = ROUTES) -> dict[str, Any]:
    documented = [r for r in routes if r.documented]
    paths: dict[str, dict[str, Any]] = {}
    for r in documented:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r)
    return {
        "openapi": "3.1.0",
        "info": {"title": "reelay internal API", "version": "1"},
        "components": {
            "schemas": _schemas(documented),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _schemas(routes: Sequence[ApiRoute]) -> dict[str, Any]:
    """Every model a route reads (as validated) or answers (as serialized)."""
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for r in routes:
        if r.body is not None:
            models[(r.body, "validation")] = None
        for answer in r.all_answers().values():
            if answer.model is not None:
                models[(answer.model, "serialization")] = None
    _, defs = models_json_schema(list(models), ref_template=_REF)
    found: dict[str, Any] = defs.get("$defs", {})
    return found


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(r: ApiRoute) -> dict[str, Any]:
    found: dict[str, Any] = {"operationId": r.operation_id}
    if r.summary:
        found["summary"] = r.summary
    if r.public:
        found["security"] = []
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in r.path_params
    ] + [described(p) for p in r.params]
    if parameters:
        found["parameters"] = parameters
    if r.body is not None:
        content = {"application/json": {"schema": _ref(r.body)}}
        found["requestBody"] = {"required": not r.body_optional, "content": content}
    answers = r.all_answers()
    found["responses"] = {str(status): _answer(answers[status]) for status in sorted(answers)}
    return found


def _answer(answer: Answer) -> dict[str, Any]:
    found: dict[str, Any] = {"description": answer.description}
    if answer.model is not None:
        found["content"] = {"application/json": {"schema": _ref(answer.model)}}
    elif answer.media is not None:
        found["content"] = {answer.media: {"schema": {"type": "string"}} if answer.text else {}}
    return found
