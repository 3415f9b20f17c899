"""The dashboard mounted on the internal API's app over ASGITransport, on a real SQLite store,
a fake provider and an injected clock; and how a browser signs in and fills forms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx
from starlette.types import ASGIApp

from orchestrator.domain.models import Event
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.spending import Spending
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import drive

TOKEN = "ui-test-token-0123456789"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Board:
    client: httpx.AsyncClient
    """A browser: no Authorization header, keeps cookies."""
    ops: Operations
    engine: Engine
    clock: Clock
    fake: FakeProvider
    store: Store
    app: ASGIApp
    """The internal listener's app, to serve over loopback where a test needs streaming."""

    async def sign_in(self) -> None:
        page = await self.client.get("/ui/login")
        signed = await self.client.post(
            "/ui/login", data={"csrf": csrf_of(page.text), "token": TOKEN, "next": "/pipelines"}
        )
        assert signed.status_code == 303, signed.text

    async def csrf(self, path: str = "/ui/pipelines") -> str:
        return csrf_of((await self.client.get(path)).text)

    async def run(self, rounds: int = 30) -> None:
        await drive(self.engine, self.clock, rounds)

    async def events(self, pipeline_id: str) -> list[Event]:
        return await self.store.events(pipeline_id)


@dataclass
class PricedBoard(Board):
    """``fake`` is apixo, priced; ``octopusx`` has no price."""

    octopusx: FakeProvider
    spending: Spending


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
_INLINE = {"a", "abbr", "b", "code", "em", "i", "small", "span", "strong", "time"}


class _Text(HTMLParser):
    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id = element_id
        self.depth = 0
        self.found = False
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        if self.depth:
            self.depth += 1
            self._gap(tag)
        elif ("id", self.element_id) in attrs and not self.found:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in _VOID:
            self.depth -= 1
            self._gap(tag)

    def _gap(self, tag: str) -> None:
        if tag not in _INLINE:
            self.chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.chunks.append(data)


def text_of(html: str, element_id: str) -> str:
    """The text of the element whose id is ``element_id``, whitespace collapsed; AssertionError
    when the page has no such element."""
    parser = _Text(element_id)
    parser.feed(html)
    assert parser.found, f"the page has no element with id {element_id!r}"
    return " ".join("".join(parser.chunks).split())


def sig_of(html: str, element_id: str) -> str:
    """The ``data-sig`` of the live part ``element_id``."""
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*data-sig="([^"]*)"', html)
    assert found is not None, f"the page has no live part {element_id!r}"
    return found.group(1)
