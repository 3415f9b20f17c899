"""The one way a test waits for something another task or process does.

``eventually(probe)`` calls ``probe`` (plain or async) until it returns something true (not
``None``, ``False``, zero or empty) and hands that back. The deadline only bounds a failure:
a test never asserts how long the wait took, so a slow machine makes it wait longer, never
fail. The default is generous for that reason; pass ``within`` only where a process has more
to do.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast, overload

T = TypeVar("T")

WITHIN_S = 15.0
EVERY_S = 0.02


@overload
async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float = ...,
    every: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T | None],
    *,
    within: float = ...,
    every: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], object],
    *,
    within: float = WITHIN_S,
    every: float = EVERY_S,
    what: str = "the condition",
) -> object:
    """The first true result of ``probe``; an ``AssertionError`` naming ``what`` if none came
    within ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await cast(Awaitable[object], result)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)
