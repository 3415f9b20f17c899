"""A pipeline's steps as the tree the pipeline page draws: each node with what it shows, and
whether (and why not) it can be extended. Pure: everything it needs is passed in."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.models import PipelineView, Step, StepStatus
from orchestrator.errors import Rejected
from orchestrator.plans import ExtendSpec, plan_extend
from orchestrator.providers.base import Provider
from orchestrator.ui.money import Money


@dataclass(slots=True)
class Node:
    step: Step
    depth: int
    completion: str | None
    """How the step's end was learned: "callback" (then confirmed by a status request),
    "polling", or None while it runs."""
    video: str | None
    """The dashboard's address of the kept video, once downloaded."""
    extend_refusal: str | None
    """Why this step cannot be extended now; None when it can."""
    continue_refusal: str | None = None
    """Why no continuation can start from this step's last frame now; None when one can."""
    money: Money | None = None
    """The step's money: its estimate, and what its submits reserved, charged and refunded."""
    video_facts: str | None = None
    """What the kept video is, measured: ``1.0 s · 160x90 · 24 fps · h264 + aac``."""
    children: list[Node] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        s = self.step
        if s.submitted_at is None:
            return None
        end = s.completed_at if s.completed_at is not None else s.updated_at
        return max(0.0, end - s.submitted_at)

    @property
    def sig(self) -> str:
        """Changes whenever anything the node shows changes (the live page swaps it then)."""
        s = self.step
        parts = (s.status, s.progress, s.attempts, s.error, s.provider_task_id, s.updated_at)
        refusals = (self.extend_refusal, self.continue_refusal)
        shown = (parts, self.completion, self.video, refusals, self.money, self.video_facts)
        return _digest(repr(shown))


@dataclass(frozen=True, slots=True)
class Tree:
    roots: list[Node]
    nodes: list[Node]
    """Every node, by step index."""

    @property
    def sig(self) -> str:
        """Changes when a step is added (the live page redraws the whole tree then)."""
        return _digest(repr([(n.step.index, n.step.parent) for n in self.nodes]))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def build(
    view: PipelineView,
    provider: Provider | None,
    *,
    now: float,
    callbacks: Mapping[tuple[int, str], float],
    videos: Mapping[int, str],
    money: Mapping[int, Money],
    probes: Mapping[int, Mapping[str, Any]] | None = None,
) -> Tree:
    """``callbacks``: when a callback said (step, task) finished; ``videos``: kept videos by
    step index; ``money``: each step's, by index; ``probes``: each kept video's measures;
    ``provider``: the pipeline's, None if it is no longer configured."""
    measured = probes or {}
    nodes: list[Node] = []
    for step in view.steps:
        depth = 0 if step.parent is None else nodes[step.parent].depth + 1
        nodes.append(
            Node(
                step=step,
                depth=depth,
                completion=_completion(step, callbacks),
                video=videos.get(step.index),
                extend_refusal=_extend_refusal(view, step, provider, now),
                continue_refusal=_extend_refusal(view, step, provider, now, mode="continue"),
                money=money.get(step.index),
                video_facts=_facts(measured.get(step.index)),
            )
        )
    roots: list[Node] = []
    for node in nodes:
        parent = node.step.parent
        (roots if parent is None else nodes[parent].children).append(node)
    return Tree(roots, nodes)


def _facts(probe: Mapping[str, Any] | None) -> str | None:
    if probe is None:
        return None
    parts = [f"{probe['duration_s']:g} s", f"{probe['width']}x{probe['height']}"]
    if probe.get("fps"):
        parts.append(f"{probe['fps']:g} fps")
    codecs = probe["video_codec"] + (f" + {probe['audio_codec']}" if probe["audio_codec"] else "")
    return " · ".join([*parts, codecs])


def _completion(step: Step, callbacks: Mapping[tuple[int, str], float]) -> str | None:
    if not step.status.finished or step.provider_task_id is None:
        return None
    heard = callbacks.get((step.index, step.provider_task_id))
    if heard is not None and (step.completed_at is None or heard <= step.completed_at):
        return "callback"
    return "polling"


def _extend_refusal(
    view: PipelineView, step: Step, provider: Provider | None, now: float, mode: str = "extend"
) -> str | None:
    if provider is None:
        return f"provider {view.pipeline.provider} is not configured"
    if view.pipeline.status.finished and view.pipeline.status.value != "succeeded":
        return f"the pipeline {view.pipeline.status}"
    if step.status is not StepStatus.SUCCEEDED:
        return f"step {step.index} has not succeeded yet"
    try:
        spec = ExtendSpec.model_validate({"prompt": "?", "from": step.index, "mode": mode})
        plan_extend(view, spec, provider, now)
    except Rejected as exc:
        return "; ".join(p.message for p in exc.problems) or str(exc)
    return None
