"""octopusx (docs/providers.md#octopusx): OpenAI-style video objects, polling only.

Resolution travels in ``metadata.output_config`` (the docs show ``"720P"``); we also allow
``1080p`` there, which Veo supports for the 8 s clips octopusx makes. A first frame
(``first_frame_url``, what a continuation sends) goes in ``input_reference`` as a URL; the
docs call that field a reference image, so the join measures whether the video really starts
with it before dropping a repeated frame.
A remix takes only a prompt and a model and follows its source video, so an extend's
aspect ratio, resolution and duration are checked against what it will produce, not sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from orchestrator.providers.errors import ProviderResponseError
from orchestrator.providers.http import (
    HttpClient,
    Observer,
    ProviderHttp,
    build_body,
    openai_video_fields,
)
from orchestrator.providers.openai_videos import create_video, fetch_video, remix_video
from orchestrator.providers.states import (
    choice_problems,
    choose_model,
    read_video_object,
    unsupported,
)

NAME = "octopusx"
_MODELS = {Tier.FAST: "veo_3_1-fast", Tier.QUALITY: "veo_3_1"}
_EXTEND_MODEL = "veo_3_1-extend"
_URL_PATHS = (("video_url",), ("metadata", "url"))
_NOT_SENT = ("last_frame_url", "seed", "negative_prompt")


class OctopusxProvider:
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
            callbacks=False,
            max_extend_depth=20 if depth is None else depth,
            aspect_ratios=frozenset({"16:9", "9:16"}),
            resolutions=frozenset({"720p", "1080p"}),
            durations=frozenset({8}),
            typical_task_seconds=90.0,
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
        return requested or self._settings.extend_model or _EXTEND_MODEL

    def check_params(self, kind: StepKind, model: str, params: VideoParams) -> list[Problem]:
        caps = self._capabilities
        extend = kind == "extend"
        problems = choice_problems(
            NAME,
            params,
            aspect_ratios=caps.aspect_ratios,
            resolutions={"720p"} if extend else caps.resolutions,
            durations=caps.durations,
        )
        if extend:
            fields = (*_NOT_SENT, "first_frame_url", "generate_audio")
            return problems + unsupported(params, fields, "octopusx remix takes no {field}")
        message = "octopusx has no {field} field; send the provider's own in provider_options"
        return problems + unsupported(params, _NOT_SENT, message)

    async def generate(self, request: GenerateRequest) -> str:
        p = request.params
        audio = (
            None if p.generate_audio is None else ("Enabled" if p.generate_audio else "Disabled")
        )
        output_config = build_body(
            {
                "aspect_ratio": p.aspect_ratio,
                "resolution": p.resolution.upper() if p.resolution else None,
                "audio_generation": audio,
            },
            {},
        )
        fields = openai_video_fields(request.model, request.prompt, p)
        fields["metadata"] = {"output_config": output_config} if output_config else None
        fields["input_reference"] = p.first_frame_url
        return await create_video(self._http, fields, request.provider_options, NAME)

    async def extend(self, request: ExtendRequest) -> str:
        return await remix_video(self._http, request, NAME)

    async def status(self, task: TaskRef) -> TaskStatus:
        return self.read_status(await fetch_video(self._http, task.task_id), task.task_id)

    def parse_callback(self, body: bytes) -> TaskStatus:
        raise ProviderResponseError("octopusx does not send callbacks", provider=NAME)

    def read_status(self, body: object, task_id: str | None = None) -> TaskStatus:
        """Normalize a decoded video object.

        A completed task without ``video_url`` or ``metadata.url`` gets the ``/content`` route
        as its URL. That route streams the file only with our API key, so whoever downloads
        it must send the same ``Authorization`` header.
        """
        return read_video_object(
            body, provider=NAME, task_id=task_id, url_paths=_URL_PATHS, content_url=self._content
        )

    def _content(self, task_id: str) -> str:
        return self._http.url(f"/v1/videos/{quote(task_id, safe='')}/content")
