"""Handlers of the webhook routes: endpoints, the outbox, redelivery, the pipeline secret."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.errors import BadRequest
from orchestrator.api.routes import _int_param, _json, check_token, read_json
from orchestrator.api.webhook_schemas import (
    EndpointIn,
    EndpointListOut,
    EndpointPatch,
    MessageListOut,
    RedeliveredOut,
    RedeliverIn,
    RotateIn,
    WebhookSecretOut,
    endpoint_out,
    message_out,
)
from orchestrator.webhooks.endpoints import WebhookOperations
from orchestrator.webhooks.models import MessageStatus


def hooks(request: Request) -> WebhookOperations:
    operations: WebhookOperations = request.app.state.webhooks
    return operations


async def create_endpoint(request: Request) -> Response:
    check_token(request)
    body = EndpointIn.model_validate(await read_json(request))
    endpoint, secret = await hooks(request).create(
        body.url, body.event_types, body.description, body.enabled
    )
    return _json(endpoint_out(endpoint, secret), 201)


async def list_endpoints(request: Request) -> Response:
    check_token(request)
    endpoints = await hooks(request).list_endpoints()
    return _json(EndpointListOut(items=[endpoint_out(e) for e in endpoints]))


async def get_endpoint(request: Request) -> Response:
    check_token(request)
    return _json(endpoint_out(await hooks(request).get(request.path_params["endpoint_id"])))


async def update_endpoint(request: Request) -> Response:
    check_token(request)
    body = EndpointPatch.model_validate(await read_json(request))
    endpoint = await hooks(request).update(
        request.path_params["endpoint_id"],
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        enabled=body.enabled,
    )
    return _json(endpoint_out(endpoint))


async def delete_endpoint(request: Request) -> Response:
    check_token(request)
    await hooks(request).delete(request.path_params["endpoint_id"])
    return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    check_token(request)
    raw = await request.body()
    body = RotateIn.model_validate(await read_json(request) if raw.strip() else {})
    endpoint, secret = await hooks(request).rotate_secret(
        request.path_params["endpoint_id"], body.keep_old_for_s
    )
    return _json(endpoint_out(endpoint, secret))


async def list_messages(request: Request) -> Response:
    check_token(request)
    status = request.query_params.get("status")
    if status is not None and status not in set(MessageStatus):
        raise BadRequest(f"status must be one of {', '.join(MessageStatus)}", field="status")
    limit = _int_param(request, "limit", 100, 1, 1000)
    messages = await hooks(request).messages(
        destination=request.query_params.get("endpoint_id"),
        pipeline_id=request.query_params.get("pipeline_id"),
        status=status,
        cursor=request.query_params.get("cursor"),
        limit=limit,
    )
    cursor = messages[-1].id if len(messages) == limit else None
    return _json(MessageListOut(items=[message_out(m) for m in messages], next_cursor=cursor))


async def get_message(request: Request) -> Response:
    check_token(request)
    message, attempts = await hooks(request).message(request.path_params["message_id"])
    return _json(message_out(message, attempts))


async def redeliver_message(request: Request) -> Response:
    check_token(request)
    message = await hooks(request).redeliver(request.path_params["message_id"])
    return _json(message_out(message))


async def redeliver_failed(request: Request) -> Response:
    check_token(request)
    body = RedeliverIn.model_validate(await read_json(request))
    count = await hooks(request).redeliver_failed_since(body.since, body.endpoint_id)
    return _json(RedeliveredOut(redelivered=count))


async def webhook_secret(request: Request) -> Response:
    check_token(request)
    return _json(WebhookSecretOut(secrets=list(request.app.state.webhook_secrets)))
