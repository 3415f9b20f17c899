"""``GET /v1/pipelines/{id}/steps/{index}/video``: a kept result video, with Range support."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from orchestrator.api.params import Param
from orchestrator.api.pipeline_routes import ops
from orchestrator.api.ranges import Unsatisfiable, byte_range
from orchestrator.api.services import services
from orchestrator.domain.artifacts import DownloadStatus
from orchestrator.errors import BadRequest, NotFound

RANGE = Param("Range", where="header")


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
    artifact = kept[0].artifact
    size = artifact.size
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{artifact.sha256}"',
        "Cache-Control": "private, max-age=31536000, immutable",
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
        serving.storage.read(artifact.storage_key, start, end),
        status_code=status,
        headers=headers,
        media_type=artifact.content_type,
    )
