"""Builds the provider adapters from settings, each with its own HTTP client."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from orchestrator.providers.apifree import ApifreeProvider
from orchestrator.providers.apimart import ApimartProvider
from orchestrator.providers.apixo import ApixoProvider
from orchestrator.providers.base import Provider
from orchestrator.providers.config import ProviderSettings
from orchestrator.providers.octopusx import OctopusxProvider
from orchestrator.settings import PROVIDER_NAMES, Settings
from orchestrator.transport import provider_client

Factory = Callable[[ProviderSettings, httpx.AsyncClient], Provider]

ADAPTERS: dict[str, Factory] = {
    "apimart": ApimartProvider,
    "octopusx": OctopusxProvider,
    "apixo": ApixoProvider,
    "apifree": ApifreeProvider,
}


def build_providers(settings: Settings) -> tuple[dict[str, Provider], list[httpx.AsyncClient]]:
    """One adapter per provider, and the clients to close when reelay stops."""
    providers: dict[str, Provider] = {}
    clients: list[httpx.AsyncClient] = []
    for name in PROVIDER_NAMES:
        config = settings.provider(name)
        client = provider_client(
            max_connections=config.max_concurrent_requests, timeout_s=config.timeout_s
        )
        clients.append(client)
        providers[name] = ADAPTERS[name](config, client)
    return providers, clients
