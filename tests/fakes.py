"""A recording fake provider: tasks finish after a set number of polls, errors can be queued."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field

from orchestrator.domain.values import (
    Capabilities,
    Problem,
    StepKind,
    TaskRef,
    TaskState,
    TaskStatus,
    Tier,
    VideoParams,
)
from orchestrator.providers.base import ExtendRequest, GenerateRequest
from orchestrator.providers.errors import InvalidRequest, ProviderError, ProviderResponseError


@dataclass
class FakeTask:
    task_id: str
    kind: StepKind
    prompt: str
    model: str
    source: str | None
    callback_url: str | None
    polls: int = 0


@dataclass
class FakeProvider:
    name: str = "fake"
    polls_to_finish: int = 1
    max_extend_depth: int = 20
    callbacks: bool = False
    fail_prompts: set[str] = field(default_factory=set)
    submit_errors: list[ProviderError] = field(default_factory=list)
    poll_errors: list[ProviderError] = field(default_factory=list)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    submits: list[str] = field(default_factory=list)
    video_url: str = "https://videos.example/{task_id}.mp4"
    """Where the fake says a finished task's video is ({task_id} is filled in)."""
    urls_expire_in: float | None = None
    cost_micros: int | None = None
    """The cost a finished task reports (micro-USD); None: it reports none, like the four."""
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            callbacks=self.callbacks,
            max_extend_depth=self.max_extend_depth,
            aspect_ratios=frozenset({"16:9", "9:16"}),
            resolutions=frozenset({"720p"}),
            durations=frozenset({8}),
            typical_task_seconds=0.0,
        )

    def resolve_model(self, tier: Tier | None, model: str | None) -> str:
        if model == "nope":
            raise InvalidRequest("model 'nope' does not exist", provider=self.name)
        return model or f"fake-{tier or 'fast'}"

    def extend_model(self, base_model: str, requested: str | None) -> str:
        return requested or base_model

    def check_params(self, kind: StepKind, model: str, params: VideoParams) -> list[Problem]:
        if params.aspect_ratio not in (None, "16:9", "9:16"):
            return [Problem("aspect_ratio", f"fake supports 16:9, 9:16; got {params.aspect_ratio}")]
        return []

    def _new(
        self, kind: StepKind, prompt: str, model: str, source: str | None, cb: str | None
    ) -> str:
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        task_id = f"{kind}-{next(self._ids)}"
        self.tasks[task_id] = FakeTask(task_id, kind, prompt, model, source, cb)
        self.submits.append(task_id)
        return task_id

    async def generate(self, request: GenerateRequest) -> str:
        return self._new("generate", request.prompt, request.model, None, request.callback_url)

    async def extend(self, request: ExtendRequest) -> str:
        return self._new(
            "extend", request.prompt, request.model, request.source.task_id, request.callback_url
        )

    def status_of(self, task: FakeTask) -> TaskStatus:
        if task.polls < self.polls_to_finish:
            return TaskStatus(task.task_id, TaskState.RUNNING, "running", progress=50)
        if task.prompt in self.fail_prompts:
            return TaskStatus(
                task.task_id,
                TaskState.FAILED,
                "failed",
                error_code="CONTENT_POLICY",
                error_message="refused",
            )
        return TaskStatus(
            task.task_id,
            TaskState.SUCCEEDED,
            "succeeded",
            progress=100,
            video_urls=(self.video_url.format(task_id=task.task_id),),
            urls_expire_at=None
            if self.urls_expire_in is None
            else time.time() + self.urls_expire_in,
            cost_micros=self.cost_micros,
        )

    async def status(self, task: TaskRef) -> TaskStatus:
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        fake = self.tasks[task.task_id]
        fake.polls += 1
        return self.status_of(fake)

    def parse_callback(self, body: bytes) -> TaskStatus:
        """Callbacks of the fake look like {"task_id": ..., "state": ...}."""
        try:
            data = json.loads(body)
            return TaskStatus(data["task_id"], TaskState(data["state"]), data["state"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderResponseError(f"not a fake callback: {exc}", provider=self.name) from exc
