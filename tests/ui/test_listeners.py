"""The dashboard lives on the internal listener only: the public one never serves it."""

from __future__ import annotations

import httpx

from orchestrator.runtime import open_runtime
from orchestrator.settings import Settings


async def test_only_the_internal_listener_serves_the_dashboard(settings: Settings) -> None:
    """``/ui/`` and its static files answer on the API's app and 404 on the receiver's."""
    async with open_runtime(settings) as rt:
        internal = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=rt.api_app), base_url="http://i"
        )
        public = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=rt.public_app), base_url="http://p"
        )
        async with internal, public:
            for path in ("/ui/pipelines", "/ui/static/app.js", "/ui/providers"):
                assert (await internal.get(path)).status_code == 200, path
                assert (await public.get(path)).status_code == 404, path
