"""apimart (docs/providers.md#apimart): two model channels behind one submit route.

The ``-official`` models take the full Veo parameter set and 4/6/8 s but cannot be extended;
the standard models are fixed at 8 s and extend through ``/remix`` with the same model.
A remix of an unknown or expired source answers 404 "Video not found" (``SourceInvalid``); one
whose source has not succeeded yet is refused with a 400 we read as ``SourceNotReady``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from orchestrator.domain.values import (
    Capabilities,
    Problem,
    StepKind,
    TaskRef,
    TaskStatus,
    Tier,
    VideoParams,
)
from orchestrator.providers.base import ExtendRequest, GenerateRequest
from orchestrator.providers.config import ProviderSettings
from orchestrator.providers.errors import InvalidRequest, ProviderResponseError
from orchestrator.providers.http import HttpClient, Observer, ProviderHttp, build_body
from orchestrator.providers.states import (
    choice_problems,
    choose_model,
    dig,
    epoch_s,
    error_fields,
    first_item,
    loads,
    mapping,
    percent,
    raw_status,
    require_mapping,
    require_text,
    silent_audio_problems,
    task_status,
    text,
    unsupported,
    url_list,
)

NAME = "apimart"
_MODELS = {Tier.FAST: "veo3.1-fast", Tier.QUALITY: "veo3.1-quality"}
_HIGH_RES = frozenset({"1080p", "4k"})
_OFFICIAL_ONLY = ("negative_prompt", "seed", "last_frame_url")
_NOT_ON_REMIX = ("negative_prompt", "seed", "first_frame_url", "last_frame_url")


def _official(model: str) -> bool:
    return model.endswith("-official")


class ApimartProvider:
    def __init__(
        self,
        settings: ProviderSettings,
        client: HttpClient,
        *,
        clock: Callable[[], float] = time.time,
        observe: Observer | None = None,
    ) -> None:
        self._settings = settings
        self._http = ProviderHttp(NAME, settings, client, clock=clock, observe=observe)
        depth = settings.max_extend_depth
        self._capabilities = Capabilities(
            callbacks=True,
            max_extend_depth=20 if depth is None else depth,
            aspect_ratios=frozenset({"16:9", "9:16"}),
            resolutions=frozenset({"720p", "1080p", "4k"}),
            durations=frozenset({4, 6, 8}),
            typical_task_seconds=120.0,
            first_frame=True,
        )

    @property
    def name(self) -> str:
        return NAME

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def resolve_model(self, tier: Tier | None, model: str | None) -> str:
        return choose_model(model, tier, self._settings.model, _MODELS) or _MODELS[Tier.FAST]

    def extend_model(self, base_model: str, requested: str | None) -> str:
        if _official(base_model):
            raise InvalidRequest(
                f"apimart cannot extend {base_model}: the -official models are generate-only",
                provider=NAME,
            )
        if requested is not None and requested != base_model:
            raise InvalidRequest(
                f"apimart extends must use the base model {base_model}; got model {requested}",
                provider=NAME,
            )
        return base_model

    def check_params(self, kind: StepKind, model: str, params: VideoParams) -> list[Problem]:
        caps = self._capabilities
        official = _official(model)
        problems = choice_problems(
            NAME,
            params,
            aspect_ratios=caps.aspect_ratios,
            resolutions=caps.resolutions,
            durations=caps.durations if official and kind == "generate" else {8},
        )
        high_res = (params.resolution or "").lower() in _HIGH_RES
        if kind == "extend":
            if official:
                problems.append(Problem("model", f"apimart cannot extend {model}"))
            problems += unsupported(params, _NOT_ON_REMIX, "apimart remix takes no {field}")
        elif not official:
            message = "apimart takes {field} only with the -official models"
            problems += unsupported(params, _OFFICIAL_ONLY, message)
        elif (high_res or params.last_frame_url) and params.duration not in (None, 8):
            message = "apimart needs duration 8 with 1080p, 4k or a last frame"
            problems.append(Problem("duration", message))
        if kind == "extend" or not official:
            problems += silent_audio_problems(NAME, params)
        return problems

    async def generate(self, request: GenerateRequest) -> str:
        p = request.params
        resolution = p.resolution.lower() if p.resolution else None
        fields: dict[str, object] = {
            "model": request.model,
            "prompt": request.prompt,
            "duration": p.duration,
            "aspect_ratio": p.aspect_ratio,
            "webhook": request.callback_url,
        }
        if _official(request.model):
            fields |= {
                # The official page spells it "4K"; enhance_prompt is never sent (false is refused).
                "resolution": "4K" if resolution == "4k" else resolution,
                "first_frame_image": p.first_frame_url,
                "last_frame_image": p.last_frame_url,
                "seed": p.seed,
                "negative_prompt": p.negative_prompt,
                "generate_audio": p.generate_audio,
            }
        else:
            images = [p.first_frame_url] if p.first_frame_url else None
            fields |= {"resolution": resolution, "image_urls": images}
        answer = await self._http.call(
            "POST",
            "/v1/videos/generations",
            "submit",
            body=build_body(fields, request.provider_options),
        )
        return self._submitted_id(answer)

    async def extend(self, request: ExtendRequest) -> str:
        p = request.params
        fields: dict[str, object] = {
            "model": request.model,
            "prompt": request.prompt,
            "aspect_ratio": p.aspect_ratio,
            "resolution": p.resolution.lower() if p.resolution else None,
            "webhook": request.callback_url,
        }
        path = f"/v1/videos/{quote(request.source.task_id, safe='')}/remix"
        answer = await self._http.call(
            "POST", path, "extend", body=build_body(fields, request.provider_options)
        )
        return self._submitted_id(answer)

    async def status(self, task: TaskRef) -> TaskStatus:
        answer = await self._http.call("GET", f"/v1/tasks/{quote(task.task_id, safe='')}", "status")
        return self.read_status(answer, task.task_id)

    def parse_callback(self, body: bytes) -> TaskStatus:
        """The webhook body is the status answer itself (D7)."""
        return self.read_status(loads(body, NAME, "the callback body"))

    def read_status(self, body: object, task_id: str | None = None) -> TaskStatus:
        """Normalize a decoded status answer; ``task_id`` defaults to ``data.id``."""
        data = require_mapping(
            first_item(require_mapping(body, NAME, "answer").get("data")), NAME, "data"
        )
        task_id = task_id or require_text(data.get("id") or data.get("task_id"), NAME, "task id")
        listed = dig(data, ["result", "videos"])
        videos = [v for v in map(mapping, listed if isinstance(listed, list) else []) if v]
        urls = tuple(url for video in videos for url in url_list(video.get("url")))
        expiries = [e for e in (epoch_s(v.get("expires_at")) for v in videos) if e is not None]
        code, message = error_fields(data.get("error"))
        return task_status(
            task_id,
            raw_status(data.get("status"), NAME),
            urls=urls,
            progress=percent(data.get("progress")),
            error_code=code,
            error_message=message,
            created_at=epoch_s(data.get("created")),
            completed_at=epoch_s(data.get("completed")),
            expires_at=min(expiries, default=None),
        )

    def _submitted_id(self, answer: Any) -> str:
        """``data`` is a list of one ``{status, task_id}``, or (older page) one ``{id, ...}``."""
        data = mapping(first_item(require_mapping(answer, NAME, "answer").get("data"))) or {}
        task_id = text(data.get("task_id")) or text(data.get("id"))
        if task_id is None:
            raise ProviderResponseError("submit answer has no task id", provider=NAME)
        return task_id
