"""The dashboard's parts, typed: one object per mount, read by handlers with ``dashboard``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from orchestrator.providers.base import Provider
from orchestrator.ui.render import Pages
from orchestrator.ui.session import Sessions

BOARD = "reelay.dashboard"


@dataclass(frozen=True, slots=True)
class Dashboard:
    sessions: Sessions
    tokens: Mapping[str, str]
    """Token name -> token; empty when the API needs no token."""
    providers: Mapping[str, Provider]
    clock: Callable[[], float] = time.time
    pages: Pages = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", Pages(self.sessions, token_required=bool(self.tokens)))


def dashboard(connection: HTTPConnection) -> Dashboard:
    found = connection.scope.get(BOARD)
    assert isinstance(found, Dashboard), "the request did not pass through the dashboard's Guard"
    return found
