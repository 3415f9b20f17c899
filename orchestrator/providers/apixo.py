"""apixo (docs/providers.md#apixo): one model, ``veo-3-1``, whose ``mode`` is what we call a model.

Our model names for apixo are the modes ``fast`` and ``quality``; ``veo-3-1-fast`` and
``veo-3-1-quality`` are accepted as spellings of them. Every request is an envelope
``{request_type, callback_url?, input}``, and ``provider_options`` are merged into ``input``,
where all of apixo's model fields live. Only a base task can be extended (depth 1); an extend
follows its source, so its aspect ratio and resolution are checked but not sent.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

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
from orchestrator.providers.errors import (
    ContentPolicy,
    InvalidRequest,
    ProviderError,
    ProviderResponseError,
)
from orchestrator.providers.http import (
    CallKind,
    Failure,
    HttpClient,
    Observer,
    ProviderHttp,
    build_body,
    error_for,
)
from orchestrator.providers.states import (
    choice_problems,
    choose_model,
    dig,
    epoch_s,
    loads,
    mapping,
    pick_code,
    raw_status,
    require_mapping,
    require_text,
    silent_audio_problems,
    task_status,
    text,
    unsupported,
    url_list,
)

NAME = "apixo"
_MODES = {
    "fast": "fast",
    "quality": "quality",
    "veo-3-1-fast": "fast",
    "veo-3-1-quality": "quality",
}

_BY_TIER = {Tier.FAST: "fast", Tier.QUALITY: "quality"}


def _mode(model: str) -> str | None:
    return _MODES.get(model.strip().lower())


def _classify(failure: Failure, provider: str, call: CallKind) -> ProviderError:
    """apixo's 403 is a content-policy refusal.

    The older errors page called 403 "key lacks permission"; the newer one, which we follow,
    says content policy. Both are permanent, so a wrong guess never causes a retry.
    """
    if failure.status != 403:
        return error_for(failure, provider, call)
    return ContentPolicy(
        failure.message, provider=provider, status_code=failure.status, code=failure.code
    )


class ApixoProvider:
    def __init__(
        self,
        settings: ProviderSettings,
        client: HttpClient,
        *,
        clock: Callable[[], float] = time.time,
        observe: Observer | None = None,
    ) -> None:
        self._settings = settings
        self._http = ProviderHttp(
            NAME, settings, client, clock=clock, classify=_classify, observe=observe
        )
        depth = settings.max_extend_depth
        self._capabilities = Capabilities(
            callbacks=True,
            max_extend_depth=1 if depth is None else depth,
            aspect_ratios=frozenset({"16:9", "9:16", "auto"}),
            resolutions=frozenset({"720p"}),
            durations=frozenset({8}),
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
        chosen = choose_model(model, tier, self._settings.model, _BY_TIER)
        return self._require_mode(chosen or _BY_TIER[Tier.FAST])

    def extend_model(self, base_model: str, requested: str | None) -> str:
        return self._require_mode(requested or base_model)

    def check_params(self, kind: StepKind, model: str, params: VideoParams) -> list[Problem]:
        caps = self._capabilities
        problems = choice_problems(
            NAME,
            params,
            aspect_ratios=caps.aspect_ratios,
            resolutions=caps.resolutions,
            durations=caps.durations,
        )
        if _mode(model) is None:
            problems.append(Problem("model", f"apixo models are fast and quality; got {model}"))
        fields = ["negative_prompt"]
        if kind == "extend":
            fields += ["first_frame_url", "last_frame_url"]
        problems += unsupported(params, fields, f"apixo takes no {{field}} on a {kind}")
        return problems + silent_audio_problems(NAME, params)

    async def generate(self, request: GenerateRequest) -> str:
        p = request.params
        images = [url for url in (p.first_frame_url, p.last_frame_url) if url]
        fields = {
            "mode": self._require_mode(request.model),
            "prompt": request.prompt,
            "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO" if images else "TEXT_2_VIDEO",
            "aspect_ratio": p.aspect_ratio,
            "image_urls": images or None,
            "seed": p.seed,
        }
        body = self._envelope(build_body(fields, request.provider_options), request.callback_url)
        answer = await self._http.call("POST", "/generateTask/veo-3-1", "submit", body=body)
        return self._submitted_id(answer)

    async def extend(self, request: ExtendRequest) -> str:
        fields = {
            "taskId": request.source.task_id,
            "mode": self._require_mode(request.model),
            "prompt": request.prompt,
            "seed": request.params.seed,
        }
        body = self._envelope(build_body(fields, request.provider_options), request.callback_url)
        answer = await self._http.call("POST", "/generateTask/veo-3-1-extend", "extend", body=body)
        return self._submitted_id(answer)

    async def status(self, task: TaskRef) -> TaskStatus:
        path = "/statusTask/veo-3-1-extend" if task.kind == "extend" else "/statusTask/veo-3-1"
        answer = await self._http.call("GET", path, "status", params={"taskId": task.task_id})
        return self.read_status(answer, task.task_id)

    def parse_callback(self, body: bytes) -> TaskStatus:
        """The callback body is the status answer itself (D7)."""
        return self.read_status(loads(body, NAME, "the callback body"))

    def read_status(self, body: object, task_id: str | None = None) -> TaskStatus:
        """Normalize a decoded status answer; ``task_id`` defaults to ``data.taskId``.

        apixo reports no progress: it is None while running and 100 once terminal.
        """
        data = require_mapping(require_mapping(body, NAME, "answer").get("data"), NAME, "data")
        task_id = task_id or require_text(data.get("taskId"), NAME, "taskId")
        status = task_status(
            task_id,
            raw_status(data.get("state"), NAME),
            urls=_result_urls(data.get("resultJson")),
            error_code=pick_code(data.get("failCode")),
            error_message=text(data.get("failMsg")),
            created_at=epoch_s(data.get("createTime"), millis=True),
            completed_at=epoch_s(data.get("completeTime"), millis=True),
        )
        return dataclasses.replace(status, progress=100 if status.state.terminal else None)

    def _require_mode(self, model: str) -> str:
        mode = _mode(model)
        if mode is None:
            raise InvalidRequest(
                f"apixo model must be fast or quality (or veo-3-1-fast, veo-3-1-quality); "
                f"got model {model!r}",
                provider=NAME,
            )
        return mode

    @staticmethod
    def _envelope(fields: Mapping[str, Any], callback_url: str | None) -> dict[str, Any]:
        if callback_url is None:
            return {"request_type": "async", "input": fields}
        return {"request_type": "callback", "callback_url": callback_url, "input": fields}

    @staticmethod
    def _submitted_id(answer: Any) -> str:
        return require_text(dig(answer, ["data", "taskId"]), NAME, "taskId")


def _result_urls(value: object) -> tuple[str, ...]:
    """``resultJson`` is a JSON document inside a string; tolerate it arriving decoded."""
    if value is None or value == "":
        return ()
    parsed = loads(value, NAME, "resultJson") if isinstance(value, str) else value
    if mapping(parsed) is None:
        raise ProviderResponseError("resultJson is not an object", provider=NAME)
    return url_list(dig(parsed, ["resultUrls"]))
