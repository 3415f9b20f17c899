"""Real waits in the sandbox, recorded and skipped.

Two parts of the sandbox wait with ``asyncio.sleep`` and take no clock: the callback
dispatcher (between a task's end and each retry) and the guard (a slow answer's delay).
``skip_waits(monkeypatch, module)`` hands such a module a stand-in ``asyncio`` whose ``sleep``
records the wait and returns at once, so a test sees every wait as a number, in order, and
never depends on how fast the machine is. Every other ``asyncio`` name (timeouts included) is
the real one.
"""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest


class SkippedWaits:
    def __init__(self) -> None:
        self.waits: list[float] = []
        """Every wait asked for, in seconds, in the order asked."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def skip_waits(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> SkippedWaits:
    """Until the test ends, ``module``'s ``asyncio.sleep`` calls are recorded and skipped."""
    skipped = SkippedWaits()
    monkeypatch.setattr(module, "asyncio", skipped)
    return skipped
