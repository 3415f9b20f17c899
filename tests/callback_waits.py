"""The sandbox's callback retries without their real waits.

The sandbox's callback dispatcher waits with ``asyncio.sleep`` between a task's end and each
retry; it takes no clock. ``skip_callback_waits`` hands the dispatcher module a stand-in
``asyncio`` whose ``sleep`` records the wait and returns at once, so a test sees the whole
retry schedule as numbers, in order, and never depends on how fast the machine is. Every
other ``asyncio`` name (timeouts included) is the real one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.sandbox import callbacks


class SkippedWaits:
    def __init__(self) -> None:
        self.waits: list[float] = []
        """Every wait the dispatcher asked for, in seconds, in the order asked."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def skip_callback_waits(monkeypatch: pytest.MonkeyPatch) -> SkippedWaits:
    """Until the test ends, the sandbox's callback waits are recorded and skipped."""
    skipped = SkippedWaits()
    monkeypatch.setattr(callbacks, "asyncio", skipped)
    return skipped
