"""Rendered result videos: each made on its first download, then kept (least recently used
goes first).

A description always renders to the same bytes, so the cache is keyed by the description. An
extend's video copies its source's encoded pictures (``render``'s ``prefix``), so it costs what
its own new seconds cost.
Rendering runs in a worker thread, so polls go on being answered meanwhile, and downloads that
arrive while a video is rendering wait for that one render.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from orchestrator.sandbox.video import Frames, frame_count, render

CACHE_SIZE = 256
MIN_PREFIX_FRAMES = 8
"""A source shorter than one group of pictures (an image-to-video's first frame alone) is
encoded again rather than copied."""


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
            video = asyncio.ensure_future(self._render(frames))
            video.add_done_callback(lambda done: self._forget_failure(frames, done))
            self._videos[frames] = video
            while len(self._videos) > self._size:
                self._videos.popitem(last=False)
        else:
            self._videos.move_to_end(frames)
        # A download given up on must not cancel the render others wait for.
        return await asyncio.shield(video)

    async def _render(self, frames: Frames) -> bytes:
        """An extend's video reuses its source's (rendered, or taken from here): only its own
        frames are encoded. Which videos are split this way depends on the description
        alone, so a description still renders to the same bytes every time."""
        if len(frames) > 1 and frame_count(frames[:-1]) >= MIN_PREFIX_FRAMES:
            prefix = await self.get(frames[:-1])
            return await asyncio.to_thread(render, frames, prefix)
        return await asyncio.to_thread(render, frames)

    def _forget_failure(self, frames: Frames, video: asyncio.Future[bytes]) -> None:
        if (video.cancelled() or video.exception() is not None) and self._videos.get(
            frames
        ) is video:
            del self._videos[frames]
