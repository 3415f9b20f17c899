"""Downloading a branch's whole video, waiting while reelay makes it (``fetch``, the demo)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from orchestrator.cli.client import ApiClient, ApiError, WholeVideo


async def save_whole_video(
    client: ApiClient, pipeline_id: str, leaf: int, target: Path, *, wait_s: float
) -> WholeVideo:
    """The whole video from the base to ``leaf``, written to ``target``; waits up to
    ``wait_s`` while it is being made."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        video = await client.whole_video(pipeline_id, leaf, target)
        if video.retry_after is None:
            return video
        if asyncio.get_running_loop().time() + video.retry_after > deadline:
            raise ApiError(
                f"the whole video of {pipeline_id} to step {leaf} is still being made after "
                f"{wait_s:g} s; try again later"
            )
        await asyncio.sleep(video.retry_after)


def describe_whole(video: WholeVideo) -> str:
    """``812345 bytes  23.0 s  joined (copy)``, and what a partial video ends at."""
    h = video.headers
    how = {"whole": "one file", "copy": "joined (copy)", "reencode": "joined (re-encoded)"}
    parts = [f"{video.size} bytes", f"{h.get('reelay-duration', '?')} s"]
    parts.append(how.get(h.get("reelay-method", ""), h.get("reelay-method", "")))
    if h.get("reelay-partial") == "true":
        parts.append(f"PARTIAL: ends at step {h.get('reelay-upto')}, the last that succeeded")
    return "  ".join(parts)
