"""apifree (docs/providers.md#apifree): OpenAI-style ``/v1/videos``, polling only.

apifree documents no Veo model id, so the model must come from the request or the provider
settings; a tier alone cannot choose one. Its JSON create route carries no image, seed or
negative prompt, and a remix takes only a prompt and a model and follows its source video:
an extend's aspect ratio, resolution and duration are checked against that, not sent.
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
from orchestrator.providers.errors import InvalidRequest, ProviderResponseError
from orchestrator.providers.http import HttpClient, Observer, ProviderHttp, openai_video_fields
from orchestrator.providers.openai_videos import create_video, fetch_video, remix_video
from orchestrator.providers.states import (
    choice_problems,
    choose_model,
    read_video_object,
    silent_audio_problems,
    unsupported,
)

NAME = "apifree"
_URL_PATHS = (("video_url",), ("url",), ("metadata", "url"), ("output",))
_NOT_SENT = ("first_frame_url", "last_frame_url", "seed", "negative_prompt")


class ApifreeProvider:
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
            resolutions=frozenset({"720p"}),
            durations=frozenset({8}),
            typical_task_seconds=90.0,
        )

    @property
    def name(self) -> str:
        return NAME

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def resolve_model(self, tier: Tier | None, model: str | None) -> str:
        chosen = choose_model(model, tier, self._settings.model, {})
        if chosen is None:
            raise InvalidRequest(
                "apifree documents no default Veo model: set the request's model field or "
                "REELAY_APIFREE_MODEL to a Veo model id of your apifree account "
                "(the sandbox accepts any, e.g. veo-3.1-fast)",
                provider=NAME,
            )
        return chosen

    def extend_model(self, base_model: str, requested: str | None) -> str:
        return requested or self._settings.extend_model or base_model

    def check_params(self, kind: StepKind, model: str, params: VideoParams) -> list[Problem]:
        caps = self._capabilities
        problems = choice_problems(
            NAME,
            params,
            aspect_ratios=caps.aspect_ratios,
            resolutions=caps.resolutions,
            durations=caps.durations,
        )
        message = f"apifree takes no {{field}} on a {kind}"
        return (
            problems + unsupported(params, _NOT_SENT, message) + silent_audio_problems(NAME, params)
        )

    async def generate(self, request: GenerateRequest) -> str:
        fields = openai_video_fields(request.model, request.prompt, request.params)
        return await create_video(self._http, fields, request.provider_options, NAME)

    async def extend(self, request: ExtendRequest) -> str:
        return await remix_video(self._http, request, NAME)

    async def status(self, task: TaskRef) -> TaskStatus:
        return self.read_status(await fetch_video(self._http, task.task_id), task.task_id)

    def parse_callback(self, body: bytes) -> TaskStatus:
        raise ProviderResponseError("apifree does not send callbacks", provider=NAME)

    def read_status(self, body: object, task_id: str | None = None) -> TaskStatus:
        """Normalize a decoded video object.

        apifree does not say where the URL lives; we take the first of ``video_url``, ``url``,
        ``metadata.url`` and ``output``, else the ``/content`` route, which, like OpenAI's,
        streams the file only to a request carrying our API key.
        """
        return read_video_object(
            body, provider=NAME, task_id=task_id, url_paths=_URL_PATHS, content_url=self._content
        )

    def _content(self, task_id: str) -> str:
        return self._http.url(f"/v1/videos/{quote(task_id, safe='')}/content")
