"""What one sandbox app shares between its routes: config, clock, tasks, faults, callbacks, the
client fetching first-frame images and the rendered videos.

Routes only read ``config`` (a frozen value replaced whole on change) and call ``accept``; no
lock is needed because every mutation happens between awaits on the one event loop.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.sandbox.callbacks import CallbackDispatcher, Delivery, RetryPlan
from orchestrator.sandbox.config import SandboxConfig
from orchestrator.sandbox.faults import FaultInjector
from orchestrator.sandbox.images import FirstFrame, ImageFailed, ImageFetcher
from orchestrator.sandbox.renders import RenderedVideos
from orchestrator.sandbox.tasks import Kind, Outcome, Task, TaskRegistry, frames_of
from orchestrator.sandbox.video import Picture

RenderStatus = Callable[[Task, float], bytes]
"""A provider's status body for a task at a moment, as sent on the wire."""


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """Where and how a provider pushes a task's terminal status."""

    url: str
    plan: RetryPlan
    render: RenderStatus


class SandboxState:
    def __init__(self, config: SandboxConfig, clock: Callable[[], float]) -> None:
        self.startup_config = config
        self.config = config
        self.clock = clock
        self.tasks = TaskRegistry()
        self.faults = FaultInjector(config.seed)
        self.callbacks = CallbackDispatcher(clock, lambda: self.config.time_scale)
        self.images = ImageFetcher()
        self.videos = RenderedVideos()

    def configure(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """Apply some config fields; on ``ValidationError`` the old config stays in force."""
        updated = self.config.updated(dict(changes))
        if "seed" in changes:
            self.faults.reseed(updated.seed)
        self.config = updated
        return updated

    async def reset(self) -> None:
        """Forget every task and callback, and return to the config the sandbox started with."""
        await self.callbacks.cancel_pending()
        self.callbacks.clear_log()
        self.tasks.clear()
        self.config = self.startup_config
        self.faults.reseed(self.config.seed)

    def accept(
        self,
        *,
        provider: str,
        kind: Kind,
        task_id: str,
        model: str,
        prompt: str,
        base_url: str,
        fingerprint: str,
        source: Task | None = None,
        params: Mapping[str, Any] | None = None,
        callback: CallbackRequest | None = None,
        first_frame: FirstFrame | None = None,
        raw: bool = False,
    ) -> Task:
        """Record a new task, drawing its fate now, and schedule its callback if one was asked.

        ``first_frame`` is what became of the submit's first-frame image, if it named one; an
        image that failed fails the task. ``raw`` makes an extend's video hold only its own
        frames.
        """
        config = self.config
        now = self.clock()
        fate = self.faults.task(config)
        picture = first_frame if isinstance(first_frame, Picture) else None
        failed = first_frame if isinstance(first_frame, ImageFailed) else None
        done_at = now + config.task_seconds
        task = Task(
            provider=provider,
            kind=kind,
            task_id=task_id,
            number=self.tasks.next_number(provider),
            model=model,
            prompt=prompt,
            created_at=now,
            done_at=done_at,
            expires_at=done_at + config.url_ttl_s,
            outcome=fate.outcome if failed is None else Outcome.IMAGE_FAILED,
            media_token=secrets.token_urlsafe(12),
            base_url=base_url,
            fingerprint=fingerprint,
            source_task_id=None if source is None else source.task_id,
            depth=0 if source is None else source.depth + 1,
            callback_url=None if callback is None else callback.url,
            params=params or {},
            frames=frames_of(provider, task_id, source, picture),
            raw=raw,
            image_error=None if failed is None else failed.message,
        )
        self.tasks.add(task)
        if callback is not None:
            render = callback.render
            delivery = Delivery(
                provider=provider,
                task_id=task_id,
                url=callback.url,
                plan=callback.plan,
                body=lambda: render(task, max(self.clock(), task.done_at)),
                drop=fate.drop_callback,
                duplicate=fate.duplicate_callback,
            )
            self.callbacks.schedule(delivery, config.task_seconds)
        return task
