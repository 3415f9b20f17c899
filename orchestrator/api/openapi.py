"""The OpenAPI 3.1 document of the internal API, built from the same pydantic models it uses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from orchestrator.api.schemas import (
    EventListOut,
    HealthOut,
    PipelineListOut,
    PipelineOut,
    ProblemEnvelope,
)
from orchestrator.plans import PipelineRequest

_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _problem(description: str) -> dict[str, Any]:
    return _json(ProblemEnvelope, description)


_ID = {"name": "pipeline_id", "in": "path", "required": True, "schema": {"type": "string"}}
_AUTH = {"401": _problem("Missing or invalid bearer token")}


def build_openapi() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (PipelineRequest, "validation"),
            (PipelineOut, "serialization"),
            (PipelineListOut, "serialization"),
            (EventListOut, "serialization"),
            (HealthOut, "serialization"),
            (ProblemEnvelope, "serialization"),
        ],
        ref_template=_REF,
    )
    pipeline_ok = _json(PipelineOut, "The pipeline")
    return {
        "openapi": "3.1.0",
        "info": {"title": "reelay internal API", "version": "1"},
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/pipelines": {
                "post": {
                    "operationId": "createPipeline",
                    "summary": "Create a pipeline: a base generation and its extends",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(PipelineRequest)}},
                    },
                    "responses": {
                        "201": _json(PipelineOut, "Created"),
                        "200": _json(PipelineOut, "Same Idempotency-Key and body: the pipeline"),
                        "400": _problem("Malformed JSON"),
                        "409": _problem("Idempotency-Key reused with another body"),
                        "422": _problem("Invalid request; every bad field is named"),
                        **_AUTH,
                    },
                },
                "get": {
                    "operationId": "listPipelines",
                    "summary": "List pipelines, newest first",
                    "parameters": [
                        {"name": n, "in": "query", "required": False, "schema": s}
                        for n, s in (
                            (
                                "status",
                                {
                                    "type": "string",
                                    "enum": [
                                        "pending",
                                        "running",
                                        "succeeded",
                                        "failed",
                                        "cancelled",
                                    ],
                                },
                            ),
                            ("provider", {"type": "string"}),
                            ("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                            ("cursor", {"type": "string"}),
                        )
                    ],
                    "responses": {
                        "200": _json(PipelineListOut, "A page of pipelines"),
                        "400": _problem("Bad query parameter"),
                        **_AUTH,
                    },
                },
            },
            "/v1/pipelines/{pipeline_id}": {
                "get": {
                    "operationId": "getPipeline",
                    "parameters": [_ID],
                    "responses": {"200": pipeline_ok, "404": _problem("Unknown id"), **_AUTH},
                }
            },
            "/v1/pipelines/{pipeline_id}/cancel": {
                "post": {
                    "operationId": "cancelPipeline",
                    "parameters": [_ID],
                    "responses": {
                        "200": pipeline_ok,
                        "404": _problem("Unknown id"),
                        "409": _problem("Already finished"),
                        **_AUTH,
                    },
                }
            },
            "/v1/pipelines/{pipeline_id}/events": {
                "get": {
                    "operationId": "listPipelineEvents",
                    "parameters": [
                        _ID,
                        {
                            "name": "after",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
                        },
                    ],
                    "responses": {
                        "200": _json(EventListOut, "Events in sequence order"),
                        "400": _problem("Bad query parameter"),
                        "404": _problem("Unknown id"),
                        **_AUTH,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "security": [],
                    "responses": {"200": _json(HealthOut, "Alive")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "security": [],
                    "responses": {
                        "200": _json(HealthOut, "Ready"),
                        "503": _json(HealthOut, "Not ready"),
                    },
                }
            },
        },
    }
