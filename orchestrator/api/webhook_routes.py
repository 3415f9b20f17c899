"""Handlers of the webhook routes: endpoints, the outbox, redelivery, the pipeline secret."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.params import Bounded, Choice, Param
from orchestrator.api.schemas import json_response
from orchestrator.api.services import services
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
from orchestrator.domain.webhooks import MessageStatus
from orchestrator.webhooks.endpoints import WebhookOperations

ENDPOINT_ID = Param("endpoint_id")
PIPELINE_ID = Param("pipeline_id")
STATUS = Choice("status", MessageStatus)
CURSOR = Param("cursor")
PAGE_SIZE = Bounded("limit", default=100, low=1, high=1000)


def hooks(request: Request) -> WebhookOperations:
    return services(request).webhooks


async def create_endpoint(request: Request, body: EndpointIn) -> Response:
    endpoint, secret = await hooks(request).create(
        body.url, body.event_types, body.description, body.enabled
    )
    return json_response(endpoint_out(endpoint, secret), 201)


async def list_endpoints(request: Request) -> Response:
    endpoints = await hooks(request).list_endpoints()
    return json_response(EndpointListOut(items=[endpoint_out(e) for e in endpoints]))


async def get_endpoint(request: Request) -> Response:
    endpoint = await hooks(request).get(request.path_params["endpoint_id"])
    return json_response(endpoint_out(endpoint))


async def update_endpoint(request: Request, body: EndpointPatch) -> Response:
    endpoint = await hooks(request).update(
        request.path_params["endpoint_id"],
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        enabled=body.enabled,
    )
    return json_response(endpoint_out(endpoint))


async def delete_endpoint(request: Request) -> Response:
    await hooks(request).delete(request.path_params["endpoint_id"])
    return Response(status_code=204)


async def rotate_secret(request: Request, body: RotateIn) -> Response:
    endpoint, secret = await hooks(request).rotate_secret(
        request.path_params["endpoint_id"], body.keep_old_for_s
    )
    return json_response(endpoint_out(endpoint, secret))


async def list_messages(request: Request) -> Response:
    status = STATUS.read(request)
    limit = PAGE_SIZE.read(request)
    messages = await hooks(request).messages(
        destination=ENDPOINT_ID.read(request),
        pipeline_id=PIPELINE_ID.read(request),
        status=status,
        cursor=CURSOR.read(request),
        limit=limit,
    )
    cursor = messages[-1].id if len(messages) == limit else None
    page = MessageListOut(items=[message_out(m) for m in messages], next_cursor=cursor)
    return json_response(page)


async def get_message(request: Request) -> Response:
    message, attempts = await hooks(request).message(request.path_params["message_id"])
    return json_response(message_out(message, attempts))


async def redeliver_message(request: Request) -> Response:
    message = await hooks(request).redeliver(request.path_params["message_id"])
    return json_response(message_out(message))


async def redeliver_failed(request: Request, body: RedeliverIn) -> Response:
    count = await hooks(request).redeliver_failed_since(body.since, body.endpoint_id)
    return json_response(RedeliveredOut(redelivered=count))


async def webhook_secret(request: Request) -> Response:
    return json_response(WebhookSecretOut(secrets=list(services(request).webhook_secrets)))
