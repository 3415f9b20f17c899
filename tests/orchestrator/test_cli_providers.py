"""``reelay providers``: the providers report as a compact table, or as JSON."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest

from orchestrator.api import create_api_app
from orchestrator.cli import main
from orchestrator.cli.providers import COLUMNS, provider_table
from orchestrator.providers import errors as pe
from orchestrator.settings import Settings
from orchestrator.store import open_store
from tests.fakes import FakeProvider
from tests.loopback import serve_app
from tests.orchestrator.helpers import CHAIN, rig


@pytest.fixture
def api_url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An API whose fake provider has one task in flight, ten requests in the last hour (one
    a 503) and a 429 cooldown running, served on loopback from a background thread."""
    ready, stop = threading.Event(), threading.Event()
    holder: dict[str, str] = {}

    async def serve() -> None:
        store = await open_store(settings.database_url)
        fake = FakeProvider()
        engine, ops, _ = rig(settings, store, fake)
        await ops.create(CHAIN)
        await engine.run_once()  # its base step is submitted
        fake.poll_errors.append(pe.RateLimited("slow down", provider="fake", retry_after=30))
        await engine.run_once()  # its first poll is refused
        for outcome in ["200"] * 9 + ["503"]:
            engine.request_stats.observe("fake", "status", outcome, 0.2)
        app = create_api_app(ops, store, api_token="tok", provider_report=engine.provider_report)
        async with serve_app(app, lifespan="off") as url:
            holder["url"] = url
            ready.set()
            await asyncio.to_thread(stop.wait)
        await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    ready.wait(10)
    monkeypatch.setenv("REELAY_API_URL", holder["url"])
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    yield holder["url"]
    stop.set()
    thread.join(10)


def test_the_table(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A header, one row per provider with its numbers, then why it is degraded."""
    assert main(["providers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [w for column in COLUMNS for w in column.split()]
    row = lines[1].split()
    assert row[:7] == ["fake", "no", "cooldown", "1", "32", "10", "10.0%"]
    assert row[7:] == ["198", "ms", "198", "ms"]  # 200 ms, read from its latency bin
    assert lines[2:] == ["  fake: rate-limited (429): cooling down for 30 s"]


def test_the_json(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the route's answer as it is."""
    assert main(["providers", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [fake] = report["items"]
    assert (fake["name"], fake["in_flight"], fake["requests_last_hour"]) == ("fake", 1, 10)
    assert [e["outcome"] for e in fake["recent_errors"]] == ["429"]


def test_a_paused_provider_shows_its_last_probe() -> None:
    """A paused provider's state says so, and a line says what its last probe found."""
    reason = "insufficient balance (402): submissions paused until a probe passes"
    item = {
        "name": "apixo",
        "configured": True,
        "degraded": True,
        "reasons": [reason],
        "in_flight": 0,
        "window": 64,
        "cooldown_until": None,
        "paused": True,
        "paused_at": "2026-01-01T10:00:00Z",
        "last_probe_at": "2026-01-01T10:01:00Z",
        "last_probe_result": "insufficient_balance",
        "requests_last_hour": 2,
        "error_rate": 0.0,
        "latency_p50_ms": 1500.0,
        "latency_p95_ms": None,
        "recent_errors": [],
    }
    lines = provider_table([item])
    assert len(lines) == 4
    assert lines[1].split() == ["apixo", "yes", "paused", "0", "64", "2", "0.0%", "1.5", "s", "-"]
    assert lines[2] == f"  apixo: {reason}"
    assert lines[3] == "  apixo: last probe 2026-01-01T10:01:00Z: insufficient_balance"
    assert provider_table([]) == ["no providers (is the engine running?)"]
