"""A recording fake of a provider's HTTP API, shared by the adapter tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

NOW = 1_700_000_000.0


def clock() -> float:
    return NOW


class FakeApi:
    """Answers requests in order from queued replies and records every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._replies: list[httpx.Response | type[Exception]] = []

    def reply(
        self,
        status: int = 200,
        body: Any = None,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if content is None:
            self._replies.append(httpx.Response(status, json=body, headers=headers))
        else:
            self._replies.append(httpx.Response(status, content=content, headers=headers))

    def fail(self, error: type[Exception]) -> None:
        self._replies.append(error)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self._replies.pop(0)
        if isinstance(reply, httpx.Response):
            return reply
        raise reply("simulated", request=request)  # type: ignore[call-arg]

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def sent_json(self) -> Any:
        return json.loads(self.last.content)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(api.handle)) as http:
        yield http
