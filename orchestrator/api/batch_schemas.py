"""The shapes of ``POST /v1/pipelines/batch``: many creates in one request, one result each."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from orchestrator.api.schemas import PipelineOut, ProblemOut
from orchestrator.plans import PipelineRequest

MAX_ITEMS = 1000
"""The most pipelines one batch creates."""
MAX_BATCH_BODY = 16 << 20
"""The largest batch read, in bytes: 1,000 items of up to ~16 KB each."""


def _as_sent(value: object) -> object:
    return value


Unchecked = Annotated[Any, PlainValidator(_as_sent, json_schema_input_type=PipelineRequest)]
"""A pipeline body, documented as ``PipelineRequest`` but validated item by item, so that a bad
one is refused alone (its item's 422) rather than the whole batch."""


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Strongly advised: sending the batch again then creates nothing twice "
        "(as the Idempotency-Key header of POST /v1/pipelines; shared with it)",
    )
    pipeline: Unchecked = Field(description="The body of POST /v1/pipelines")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BatchItemIn] = Field(min_length=1, max_length=MAX_ITEMS)


class BatchPipelineOut(BaseModel):
    status: Literal[200, 201]
    """201: created; 200: its idempotency key already named this pipeline, for the same body."""
    pipeline: PipelineOut


class BatchProblemOut(BaseModel):
    status: Literal[409, 422]
    """409: its idempotency key was used with another body; 422: the body is refused."""
    error: ProblemOut
    """As POST /v1/pipelines would answer; ``fields`` are the item's pipeline's fields."""


class BatchOut(BaseModel):
    items: list[BatchPipelineOut | BatchProblemOut]
    """One result per item, in the items' order."""
