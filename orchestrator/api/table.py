"""The route table: every route of the internal API, declared once.

It drives routing (``create_api_app``), the bearer token (every route not ``public``) and the
OpenAPI document (``openapi.build_openapi``). Answers that follow from a declaration (401, 503,
400/413/422 for a body, 404 for an id in the path) are added by ``routing``.
"""

from __future__ import annotations

from orchestrator.api import money_routes as m
from orchestrator.api import pipeline_routes as p
from orchestrator.api import service_routes as s
from orchestrator.api import stream
from orchestrator.api import webhook_routes as w
from orchestrator.api.action_schemas import ActionIn, ExtendIn
from orchestrator.api.batch_routes import create_batch
from orchestrator.api.batch_schemas import MAX_BATCH_BODY, MAX_ITEMS, BatchIn, BatchOut
from orchestrator.api.money_schemas import BudgetPatch, BudgetsOut, QuoteOut, SpendOut
from orchestrator.api.provider_routes import ProviderListOut, list_providers
from orchestrator.api.routing import Answer, ApiRoute, body_route, ok, problem, route
from orchestrator.api.schemas import (
    BranchVideoListOut,
    BranchVideoOut,
    EventListOut,
    HealthOut,
    PipelineCountsOut,
    PipelineListOut,
    PipelineOut,
)
from orchestrator.api.video_routes import LEAF, RANGE, branch_videos, step_video, whole_video
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
from orchestrator.plans import PipelineRequest

PIPELINE = ok(PipelineOut, "The pipeline")
ENDPOINT = "/v1/webhook-endpoints/{endpoint_id}"
MESSAGE = "/v1/webhook-messages/{message_id}"

PIPELINE_ROUTES = (
    body_route(
        "POST",
        "/v1/pipelines",
        p.create_pipeline,
        "createPipeline",
        {
            201: ok(PipelineOut, "Created"),
            200: ok(PipelineOut, "Same Idempotency-Key and body: the pipeline"),
            409: problem("Idempotency-Key reused with another body"),
        },
        body=PipelineRequest,
        params=(p.IDEMPOTENCY_KEY,),
        summary="Create a pipeline: a base generation and its extends; audited as action.created",
    ),
    body_route(
        "POST",
        "/v1/pipelines/batch",
        create_batch,
        "createPipelines",
        {200: ok(BatchOut, "One result per item, in order: 201, 200 (key replayed), 409 or 422")},
        body=BatchIn,
        max_body=MAX_BATCH_BODY,
        summary=f"Create up to {MAX_ITEMS} pipelines in one transaction, each as POST "
        "/v1/pipelines would (with its own idempotency_key); a refused item stops no other",
    ),
    route(
        "GET",
        "/v1/pipelines",
        p.list_pipelines,
        "listPipelines",
        {200: ok(PipelineListOut, "A page of pipelines")},
        params=(
            p.STATUS,
            p.PROVIDER,
            p.CREATED_FROM,
            p.CREATED_TO,
            p.TEXT,
            p.PAGE_SIZE,
            p.CURSOR,
        ),
        summary="List pipelines, newest first; filter by status, provider, creation, text",
    ),
    route(
        "GET",
        "/v1/pipelines/counts",
        p.count_pipelines,
        "countPipelines",
        {200: ok(PipelineCountsOut, "Pipelines of each status")},
        params=(p.PROVIDER, p.CREATED_FROM, p.CREATED_TO, p.TEXT),
        summary="Count pipelines by status, under the list's filters",
    ),
    route("GET", "/v1/pipelines/{pipeline_id}", p.get_pipeline, "getPipeline", {200: PIPELINE}),
    body_route(
        "POST",
        "/v1/pipelines/{pipeline_id}/cancel",
        p.cancel_pipeline,
        "cancelPipeline",
        {200: PIPELINE, 409: problem("Already finished")},
        body=ActionIn,
        optional=True,
        summary="Cancel every unfinished step; audited as action.cancelled, with the reason",
    ),
    body_route(
        "POST",
        "/v1/pipelines/{pipeline_id}/retry",
        p.retry_pipeline,
        "retryPipeline",
        {200: PIPELINE, 409: problem("Cancelled, or nothing to retry")},
        body=ActionIn,
        optional=True,
        summary="Resume failed and ambiguous steps (and the steps below them); audited as "
        "action.retried",
    ),
    route(
        "GET",
        "/v1/pipelines/{pipeline_id}/events",
        p.list_events,
        "listPipelineEvents",
        {200: ok(EventListOut, "Events in sequence order")},
        params=(p.AFTER, p.EVENT_LIMIT),
    ),
    body_route(
        "POST",
        "/v1/pipelines/{pipeline_id}/extends",
        p.add_extend,
        "addExtend",
        {
            201: ok(PipelineOut, "The pipeline with its new step"),
            409: problem("The pipeline failed or was cancelled"),
        },
        body=ExtendIn,
        summary="Add an extend step (a succeeded pipeline runs again); audited as action.extended",
    ),
    route(
        "GET",
        "/v1/pipelines/{pipeline_id}/steps/{index}/video",
        step_video,
        "getStepVideo",
        {
            200: Answer("The whole video", media="video/mp4"),
            206: Answer("The requested bytes", media="video/mp4"),
            400: problem("Bad step index"),
            416: Answer("The range lies outside the video"),
        },
        params=(RANGE,),
        summary="The kept copy of a step's video; honours Range",
    ),
    route(
        "GET",
        "/v1/pipelines/{pipeline_id}/video",
        whole_video,
        "getWholeVideo",
        {
            200: Answer("The whole video of the branch", media="video/mp4"),
            202: ok(BranchVideoOut, "Being made: ask again after Retry-After"),
            206: Answer("The requested bytes", media="video/mp4"),
            400: problem("Bad leaf"),
            409: problem("The branch has not finished, or its video cannot be made"),
            416: Answer("The range lies outside the video"),
        },
        params=(LEAF, RANGE),
        summary="One MP4 from the base to a leaf (default: the last step); honours Range",
    ),
    route(
        "GET",
        "/v1/pipelines/{pipeline_id}/videos",
        branch_videos,
        "listWholeVideos",
        {200: ok(BranchVideoListOut, "Each branch's whole video: made, being made, or why not")},
        summary="What each branch's whole video is",
    ),
    route(
        "GET",
        "/v1/events/stream",
        stream.stream_events,
        "streamEvents",
        {
            200: Answer("An endless text/event-stream", media="text/event-stream", text=True),
            400: problem("Bad Last-Event-ID or after"),
            404: problem("Unknown pipeline_id"),
        },
        params=(stream.PIPELINE_ID, stream.AFTER, stream.LAST_EVENT_ID),
        summary="Server-sent events, resumable with Last-Event-ID",
    ),
)

WEBHOOK_ROUTES = (
    body_route(
        "POST",
        "/v1/webhook-endpoints",
        w.create_endpoint,
        "createWebhookEndpoint",
        {201: ok(EndpointOut, "Created; the secret is shown only now")},
        body=EndpointIn,
    ),
    route(
        "GET",
        "/v1/webhook-endpoints",
        w.list_endpoints,
        "listWebhookEndpoints",
        {200: ok(EndpointListOut, "Every endpoint")},
    ),
    route(
        "GET",
        ENDPOINT,
        w.get_endpoint,
        "getWebhookEndpoint",
        {200: ok(EndpointOut, "The endpoint")},
    ),
    body_route(
        "PATCH",
        ENDPOINT,
        w.update_endpoint,
        "updateWebhookEndpoint",
        {200: ok(EndpointOut, "Updated")},
        body=EndpointPatch,
    ),
    route("DELETE", ENDPOINT, w.delete_endpoint, "deleteWebhookEndpoint", {204: Answer("Deleted")}),
    body_route(
        "POST",
        f"{ENDPOINT}/rotate-secret",
        w.rotate_secret,
        "rotateWebhookSecret",
        {200: ok(EndpointOut, "The new secret, shown only now")},
        body=RotateIn,
        optional=True,
    ),
    route(
        "GET",
        "/v1/webhook-messages",
        w.list_messages,
        "listWebhookMessages",
        {200: ok(MessageListOut, "Messages, newest first")},
        params=(w.ENDPOINT_ID, w.PIPELINE_ID, w.STATUS, w.CURSOR, w.PAGE_SIZE),
    ),
    body_route(
        "POST",
        "/v1/webhook-messages/redeliver",
        w.redeliver_failed,
        "redeliverFailedSince",
        {200: ok(RedeliveredOut, "How many go out again")},
        body=RedeliverIn,
    ),
    route(
        "GET",
        MESSAGE,
        w.get_message,
        "getWebhookMessage",
        {200: ok(MessageOut, "With its attempts log")},
    ),
    route(
        "POST",
        f"{MESSAGE}/redeliver",
        w.redeliver_message,
        "redeliverWebhookMessage",
        {200: ok(MessageOut, "Due again now, same webhook-id"), 409: problem("Not attempted yet")},
    ),
    route(
        "GET",
        "/v1/webhook-secret",
        w.webhook_secret,
        "getWebhookSecret",
        {200: ok(WebhookSecretOut, "Pipeline webhook secrets")},
    ),
)

PROVIDER_ROUTES = (
    route(
        "GET",
        "/v1/providers",
        list_providers,
        "listProviders",
        {200: ok(ProviderListOut, "Every provider's state")},
        summary="What each provider is doing: in flight, back-pressure, last hour's requests",
    ),
)

MONEY_ROUTES = (
    body_route(
        "POST",
        "/v1/quotes",
        m.quote,
        "createQuote",
        {200: ok(QuoteOut, "The estimate of each step and the total; nothing is created")},
        body=PipelineRequest,
        summary="What a pipeline would cost: takes the body of POST /v1/pipelines",
    ),
    route(
        "GET",
        "/v1/budgets",
        m.get_budgets,
        "getBudgets",
        {200: ok(BudgetsOut, "Every cap, what it has used and when it resets")},
        summary="Budget caps per UTC day and month, over every provider and per provider",
    ),
    body_route(
        "PATCH",
        "/v1/budgets",
        m.patch_budgets,
        "patchBudgets",
        {200: ok(BudgetsOut, "The caps now in force")},
        body=BudgetPatch,
        summary="Change one scope's caps at run time; steps waiting for a cap look again",
    ),
    route(
        "GET",
        "/v1/spend",
        m.get_spend,
        "getSpend",
        {200: ok(SpendOut, "Charged, refunded, net and reserved, grouped")},
        params=(m.FROM, m.TO, m.GROUP_BY, m.PROVIDER),
        summary="Spend by provider, model, day or pipeline over UTC days (default: this month)",
    ),
)

SERVICE_ROUTES = (
    route("GET", "/healthz", s.healthz, "healthz", {200: ok(HealthOut, "Alive")}, public=True),
    route(
        "GET",
        "/readyz",
        s.readyz,
        "readyz",
        {200: ok(HealthOut, "Ready"), 503: ok(HealthOut, "Not ready")},
        public=True,
    ),
    route("GET", "/openapi.json", s.openapi, "openapi", {}, public=True, documented=False),
    route(
        "GET",
        "/metrics",
        s.metrics,
        "metrics",
        {200: Answer("Prometheus text exposition format 0.0.4", media="text/plain", text=True)},
        public=True,
        summary="Prometheus metrics; no token, served on the internal listener only",
    ),
)

ROUTES: tuple[ApiRoute, ...] = (
    PIPELINE_ROUTES + WEBHOOK_ROUTES + PROVIDER_ROUTES + MONEY_ROUTES + SERVICE_ROUTES
)
