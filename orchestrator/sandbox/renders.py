"""Rendered result videos: each made on its first download, then kept (least recently used
goes first).

A description always renders to the same bytes, so the cache is keyed by the description.
Rendering runs in a worker thread, so polls go on being answered meanwhile, and downloads that
arrive while a video is rendering wait for that one render.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from orchestrator.sandbox.video import Frames, render

CACHE_SIZE = 256


class RenderedVideos:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._videos: OrderedDict[Frames, asyncio.Future[bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._videos)

    async def get(self, frames: Frames) -> bytes:
        """The MP4 of ``frames``."""
        video = self._videos.get(frames)
        if video is None:
            video = asyncio.ensure_future(asyncio.to_thread(render, frames))
            video.add_done_callback(lambda done: self._forget_failure(frames, done))
            self._videos[frames] = video
            while len(self._videos) > self._size:
                self._videos.popitem(last=False)
        else:
            self._videos.move_to_end(frames)
        # A download given up on must not cancel the render others wait for.
        return await asyncio.shield(video)

    def _forget_failure(self, frames: Frames, video: asyncio.Future[bytes]) -> None:
        if (video.cancelled() or video.exception() is not None) and self._videos.get(
            frames
        ) is video:
            del self._videos[frames]
