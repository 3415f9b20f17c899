"""The adapters as the runtime builds them: each on its own client, each measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain.values import TaskRef, Tier
from orchestrator.providers.errors import RequestNotSent
from orchestrator.providers.http import CallKind
from orchestrator.providers.registry import build_providers
from orchestrator.settings import PROVIDER_NAMES, load_settings
from tests.loopback import free_port


async def test_every_built_adapter_tells_the_observer_of_its_requests(tmp_path: Path) -> None:
    """A status request from each adapter, over real HTTP to a closed loopback port, reaches
    ``observe`` as a ConnectError of that provider."""
    base_url = f"http://127.0.0.1:{free_port()}"
    overrides = {name: {"base_url": base_url, "api_key": "k"} for name in PROVIDER_NAMES}
    overrides["apifree"]["model"] = "veo-3.1-fast"  # apifree has no default model
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
        data_dir=tmp_path / "data",
        _env_file=None,
        **overrides,
    )
    heard: list[tuple[str, CallKind, str]] = []

    def observe(provider: str, kind: CallKind, outcome: str, seconds: float) -> None:
        heard.append((provider, kind, outcome))

    providers, clients = build_providers(settings.providers(), observe=observe)
    try:
        for provider in providers.values():
            model = provider.resolve_model(Tier.FAST, None)
            with pytest.raises(RequestNotSent):
                await provider.status(TaskRef("task_1", "generate", model))
    finally:
        for client in clients:
            await client.aclose()
    assert heard == [(name, "status", "ConnectError") for name in PROVIDER_NAMES]
