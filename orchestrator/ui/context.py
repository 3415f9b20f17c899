"""What a dashboard request knows about itself: who is asking, and where the dashboard is."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.types import Scope

from orchestrator.ui.session import Session

CALLER = "reelay.caller"


@dataclass(frozen=True, slots=True)
class Caller:
    actor: str
    """Written to the event log with every action."""
    session: Session | None
    """The browser's session; None for a bearer-token request."""
    signed_in: bool


def caller(connection: HTTPConnection) -> Caller:
    found = connection.scope.get(CALLER)
    assert isinstance(found, Caller), "the request did not pass through the dashboard's Guard"
    return found


def base(scope: Scope) -> str:
    """The dashboard's own address, as the browser sees it (``/ui``, or under a proxy's prefix)."""
    root = scope.get("root_path", "")
    return root if isinstance(root, str) else ""


def relative_path(scope: Scope) -> str:
    """The request's path within the dashboard (``/pipelines``)."""
    path: str = scope["path"]
    root = base(scope)
    return path[len(root) :] if root and path.startswith(root) else path
