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
from orchestrator.api.webhook_schemas import (
    EndpointIn,
    EndpointListOut,
    EndpointOut,
    EndpointPatch,
    MessageListOut,
    MessageOut,
    RedeliveredOut,
    RedeliverIn,
    RotateIn,
    WebhookSecretOut,
)
from orchestrator.plans import ExtendSpec, PipelineRequest

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
            (ExtendSpec, "validation"),
            (EndpointIn, "validation"),
            (EndpointPatch, "validation"),
            (RotateIn, "validation"),
            (RedeliverIn, "validation"),
            (EndpointOut, "serialization"),
            (EndpointListOut, "serialization"),
            (MessageOut, "serialization"),
            (MessageListOut, "serialization"),
            (RedeliveredOut, "serialization"),
            (WebhookSecretOut, "serialization"),
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
            "/v1/pipelines/{pipeline_id}/retry": {
                "post": {
                    "operationId": "retryPipeline",
                    "summary": "Resume failed and ambiguous steps (and the steps below them)",
                    "parameters": [_ID],
                    "responses": {
                        "200": pipeline_ok,
                        "404": _problem("Unknown id"),
                        "409": _problem("Cancelled, or nothing to retry"),
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
            **_event_and_webhook_paths(),
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
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics; no token, served on the internal listener only",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format 0.0.4",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
    }


def _body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(model)}}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _event_and_webhook_paths() -> dict[str, Any]:
    endpoint_id = _path("endpoint_id")
    message_id = _path("message_id")
    missing = {"404": _problem("Unknown id"), **_AUTH}
    invalid = {"400": _problem("Malformed JSON"), "422": _problem("Invalid request")}
    return {
        "/v1/pipelines/{pipeline_id}/extends": {
            "post": {
                "operationId": "addExtend",
                "summary": "Add an extend step (a succeeded pipeline runs again)",
                "parameters": [_ID],
                "requestBody": _body(ExtendSpec),
                "responses": {
                    "201": _json(PipelineOut, "The pipeline with its new step"),
                    "409": _problem("The pipeline failed or was cancelled"),
                    **invalid,
                    **missing,
                },
            }
        },
        "/v1/pipelines/{pipeline_id}/steps/{index}/video": {
            "get": {
                "operationId": "getStepVideo",
                "summary": "The kept copy of a step's video; honours Range",
                "parameters": [
                    _ID,
                    {"name": "index", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "Range",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {"description": "The whole video", "content": {"video/mp4": {}}},
                    "206": {"description": "The requested bytes", "content": {"video/mp4": {}}},
                    "400": _problem("Bad step index"),
                    "416": {"description": "The range lies outside the video"},
                    **missing,
                },
            }
        },
        "/v1/events/stream": {
            "get": {
                "operationId": "streamEvents",
                "summary": "Server-sent events, resumable with Last-Event-ID",
                "parameters": [
                    _query("pipeline_id", {"type": "string"}),
                    _query("after", {"type": "integer", "minimum": 0}),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "An endless text/event-stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": _problem("Bad Last-Event-ID"),
                    **missing,
                },
            }
        },
        "/v1/webhook-endpoints": {
            "post": {
                "operationId": "createWebhookEndpoint",
                "requestBody": _body(EndpointIn),
                "responses": {
                    "201": _json(EndpointOut, "Created; the secret is shown only now"),
                    **invalid,
                    **_AUTH,
                },
            },
            "get": {
                "operationId": "listWebhookEndpoints",
                "responses": {"200": _json(EndpointListOut, "Every endpoint"), **_AUTH},
            },
        },
        "/v1/webhook-endpoints/{endpoint_id}": {
            "get": {
                "operationId": "getWebhookEndpoint",
                "parameters": [endpoint_id],
                "responses": {"200": _json(EndpointOut, "The endpoint"), **missing},
            },
            "patch": {
                "operationId": "updateWebhookEndpoint",
                "parameters": [endpoint_id],
                "requestBody": _body(EndpointPatch),
                "responses": {"200": _json(EndpointOut, "Updated"), **invalid, **missing},
            },
            "delete": {
                "operationId": "deleteWebhookEndpoint",
                "parameters": [endpoint_id],
                "responses": {"204": {"description": "Deleted"}, **missing},
            },
        },
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret": {
            "post": {
                "operationId": "rotateWebhookSecret",
                "parameters": [endpoint_id],
                "requestBody": _body(RotateIn, required=False),
                "responses": {
                    "200": _json(EndpointOut, "The new secret, shown only now"),
                    **invalid,
                    **missing,
                },
            }
        },
        "/v1/webhook-messages": {
            "get": {
                "operationId": "listWebhookMessages",
                "parameters": [
                    _query("endpoint_id", {"type": "string"}),
                    _query("pipeline_id", {"type": "string"}),
                    _query(
                        "status", {"type": "string", "enum": ["pending", "delivered", "failed"]}
                    ),
                    _query("cursor", {"type": "string"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                ],
                "responses": {
                    "200": _json(MessageListOut, "Messages, newest first"),
                    "400": _problem("Bad query parameter"),
                    **_AUTH,
                },
            }
        },
        "/v1/webhook-messages/redeliver": {
            "post": {
                "operationId": "redeliverFailedSince",
                "requestBody": _body(RedeliverIn),
                "responses": {
                    "200": _json(RedeliveredOut, "How many go out again"),
                    **invalid,
                    **_AUTH,
                },
            }
        },
        "/v1/webhook-messages/{message_id}": {
            "get": {
                "operationId": "getWebhookMessage",
                "parameters": [message_id],
                "responses": {"200": _json(MessageOut, "With its attempts log"), **missing},
            }
        },
        "/v1/webhook-messages/{message_id}/redeliver": {
            "post": {
                "operationId": "redeliverWebhookMessage",
                "parameters": [message_id],
                "responses": {
                    "200": _json(MessageOut, "Due again now, same webhook-id"),
                    "409": _problem("Not attempted yet"),
                    **missing,
                },
            }
        },
        "/v1/webhook-secret": {
            "get": {
                "operationId": "getWebhookSecret",
                "responses": {"200": _json(WebhookSecretOut, "Pipeline webhook secrets"), **_AUTH},
            }
        },
    }
