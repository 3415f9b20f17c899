"""Kept videos with Range support: ``GET /v1/pipelines/{id}/steps/{index}/video`` (one step's
file) and ``GET /v1/pipelines/{id}/video`` (a branch's whole video); and
``GET /v1/pipelines/{id}/videos``, what each branch's whole video is."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from orchestrator.api.params import Param
from orchestrator.api.pipeline_routes import ops
from orchestrator.api.ranges import Unsatisfiable, byte_range
from orchestrator.api.services import services
from orchestrator.artifacts.storage import ArtifactMissing, ArtifactStorage
from orchestrator.branch_videos import RETRY_AFTER_S, BranchVideo, VideoState
from orchestrator.domain.artifacts import Artifact, DownloadStatus
from orchestrator.errors import BadRequest, Conflict, NotFound

RANGE = Param("Range", where="header")
LEAF = Param(
    "leaf",
    check=lambda v: v.isdecimal() and len(v) <= 6,
    hint="must be a step number: the branch from the base to that step (default: the last step)",
)


async def step_video(request: Request) -> Response:
    pipeline_id = request.path_params["pipeline_id"]
    raw_index = request.path_params["index"]
    if not raw_index.isdecimal():
        raise BadRequest("index must be a step number", field="index")
    index = int(raw_index)
    view = await ops(request).get(pipeline_id)
    if index >= len(view.steps):
        raise NotFound(f"pipeline {pipeline_id} has no step {index}")
    serving = services(request)
    kept = [
        a
        for a in await serving.store.step_artifacts([pipeline_id])
        if a.step == index and a.status is DownloadStatus.STORED and a.artifact is not None
    ]
    if not kept or kept[0].artifact is None or serving.storage is None:
        raise NotFound(f"step {index} of {pipeline_id} has no kept video (yet)")
    return _serve(request, serving.storage, kept[0].artifact)


def _serve(
    request: Request,
    storage: ArtifactStorage,
    artifact: Artifact,
    extra: dict[str, str] | None = None,
) -> Response:
    size = artifact.size
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{artifact.sha256}"',
        "Cache-Control": "private, max-age=31536000, immutable",
        **(extra or {}),
    }
    try:
        wanted = byte_range(RANGE.raw(request), size)
    except Unsatisfiable:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if wanted is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = wanted, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=artifact.content_type)
    return StreamingResponse(
        storage.read(artifact.storage_key, start, end),
        status_code=status,
        headers=headers,
        media_type=artifact.content_type,
    )


def whole_video_url(pipeline_id: str, leaf: int) -> str:
    return f"/v1/pipelines/{pipeline_id}/video?leaf={leaf}"


async def branch_videos(request: Request) -> Response:
    view = await ops(request).get(request.path_params["pipeline_id"])
    videos = await services(request).videos.all(view)
    pid = view.pipeline.id
    return JSONResponse({"videos": [v.as_json(whole_video_url(pid, v.leaf)) for v in videos]})


async def whole_video(request: Request) -> Response:
    """200/206 with the file once made; 202 while it is being made (ask again after
    ``Retry-After``); 409 when it cannot be made (yet), saying why."""
    view = await ops(request).get(request.path_params["pipeline_id"])
    raw = LEAF.read(request)
    leaf = len(view.steps) - 1 if raw is None else int(raw)
    if not 0 <= leaf < len(view.steps):
        raise BadRequest(
            f"leaf must be a step of {view.pipeline.id}: 0..{len(view.steps) - 1}", field="leaf"
        )
    serving = services(request)
    video = await serving.videos.one(view, leaf)
    if video.state is VideoState.MAKING:
        return JSONResponse(
            video.as_json(whole_video_url(view.pipeline.id, leaf)),
            status_code=202,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    if video.state is not VideoState.READY:
        raise Conflict(f"step {leaf}'s whole video: {video.message}")
    if serving.storage is None:
        raise NotFound("videos are not kept here")
    artifact = _artifact(video)
    try:
        await serving.storage.size(artifact.storage_key)
    except ArtifactMissing:
        raise NotFound(
            f"step {leaf}'s whole video was deleted by the retention policy "
            "(REELAY_ARTIFACT_RETENTION_DAYS)"
        ) from None
    return _serve(request, serving.storage, artifact, _headers(video))


def _artifact(video: BranchVideo) -> Artifact:
    r = video.result
    return Artifact(r["sha256"], r["size"], r["content_type"], r["key"], r["probe"])


def _headers(video: BranchVideo) -> dict[str, str]:
    r: dict[str, Any] = video.result
    probe = r.get("probe") or {}
    return {
        "Reelay-Leaf": str(video.leaf),
        "Reelay-Upto": str(r["upto"]),
        "Reelay-Partial": "true" if r["partial"] else "false",
        "Reelay-Method": str(r["method"]),
        "Reelay-Duration": str(probe.get("duration_s", "")),
        "Content-Disposition": f'inline; filename="whole-step{r["upto"]}.mp4"',
    }
