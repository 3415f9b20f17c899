"""The one contract every provider adapter implements (its values are in ``domain.values``).

An adapter translates between these values and one provider's HTTP API. It never touches the
store or pipeline logic, and it raises only errors from ``orchestrator.providers.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.domain.values import (
    Capabilities,
    Problem,
    StepKind,
    TaskRef,
    TaskStatus,
    Tier,
    VideoParams,
)


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    prompt: str
    model: str
    params: VideoParams = field(default_factory=VideoParams)
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class ExtendRequest:
    source: TaskRef
    prompt: str
    model: str
    params: VideoParams = field(default_factory=VideoParams)
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    callback_url: str | None = None


class Provider(Protocol):
    """One aggregator API. Implementations live one per module in this package."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def resolve_model(self, tier: Tier | None, model: str | None) -> str:
        """The model for a base generation; an explicit ``model`` wins over ``tier`` (D2).

        Raises ``InvalidRequest`` when no model can be chosen.
        """
        ...

    def extend_model(self, base_model: str, requested: str | None) -> str:
        """The model for an extend of a chain whose base used ``base_model`` (D3).

        Raises ``InvalidRequest`` when that chain cannot be extended on this provider.
        """
        ...

    def check_params(self, kind: StepKind, model: str, params: VideoParams) -> list[Problem]:
        """Every reason these parameters would be refused; empty when they are fine."""
        ...

    async def generate(self, request: GenerateRequest) -> str:
        """Submit a base generation and return the provider's task id."""
        ...

    async def extend(self, request: ExtendRequest) -> str:
        """Submit an extend of a finished task and return the new task id."""
        ...

    async def status(self, task: TaskRef) -> TaskStatus:
        """Fetch a task's current status."""
        ...

    def parse_callback(self, body: bytes) -> TaskStatus:
        """Read a callback body; raises ``ProviderResponseError`` when it is not one."""
        ...
