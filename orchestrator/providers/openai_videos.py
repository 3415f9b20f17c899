"""The OpenAI-Videos-style calls octopusx and apifree share: create, remix, fetch a video."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from orchestrator.providers.base import ExtendRequest
from orchestrator.providers.http import ProviderHttp, build_body
from orchestrator.providers.states import video_id


async def create_video(
    http: ProviderHttp, fields: Mapping[str, object], options: Mapping[str, Any], provider: str
) -> str:
    answer = await http.call("POST", "/v1/videos", "submit", body=build_body(fields, options))
    return video_id(answer, provider)


async def remix_video(http: ProviderHttp, request: ExtendRequest, provider: str) -> str:
    fields = {"prompt": request.prompt, "model": request.model}
    path = f"/v1/videos/{quote(request.source.task_id, safe='')}/remix"
    answer = await http.call(
        "POST", path, "extend", body=build_body(fields, request.provider_options)
    )
    return video_id(answer, provider)


async def fetch_video(http: ProviderHttp, task_id: str) -> object:
    return await http.call("GET", f"/v1/videos/{quote(task_id, safe='')}", "status")
