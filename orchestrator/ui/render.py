"""Pages from templates: one Jinja2 environment, autoescaping everything, and the helpers every
page uses (times, durations, status badges)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from orchestrator.ui.context import base, caller
from orchestrator.ui.money import dollars, used_percent
from orchestrator.ui.session import CSRF_FIELD, Sessions

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

STATUS_GLYPHS = {
    "pending": "○",
    "submitting": "↑",
    "submitted": "↑",
    "running": "◐",
    "succeeded": "✓",
    "failed": "✕",
    "cancelled": "⊘",
    "ambiguous": "?",
    "delivered": "✓",
}
"""Each status has a glyph and its word beside its colour, so it reads without colour too."""


def when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes} m {secs:02d} s" if minutes else f"{secs} s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} m"


def slug(name: str) -> str:
    """A field path (``extends[1].from``) as an HTML id (``extends-1-from``)."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


def glyph(status: str) -> str:
    return STATUS_GLYPHS.get(status, "•")


def _static_versions() -> dict[str, str]:
    """A content hash per static file, added to its URL so a new release is never stale."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        for p in STATIC.iterdir()
        if p.is_file()
    }


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(when=when, iso=iso, duration=duration, glyph=glyph, slug=slug)
    env.filters["dollars"] = dollars
    env.globals["used_percent"] = used_percent
    env.globals["static_version"] = _static_versions()
    return env


class Pages:
    """Renders a template with what every page needs: where the dashboard is, who is looking,
    and the CSRF token for its forms."""

    def __init__(self, sessions: Sessions, *, token_required: bool) -> None:
        self.env = environment()
        self._sessions = sessions
        self._token_required = token_required

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
        nav: str = "",
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(self.common(request, nav) | dict(context))
        return HTMLResponse(html, status_code=status)

    def common(self, request: Request, nav: str) -> dict[str, Any]:
        who = caller(request)
        return {
            "base": base(request.scope),
            "caller": who,
            "csrf": self._sessions.csrf(who.session) if who.session is not None else "",
            "csrf_field": CSRF_FIELD,
            "nav": nav,
            "request": request,
            "token_required": self._token_required,
        }
