"""The one test clock: epoch seconds that move only when the test moves them.

Pass it wherever production code takes a ``clock`` (a callable returning epoch seconds):
``Engine``, ``Operations``, the downloader, the sandbox app, callback tokens. A test then says
how much time passes instead of sleeping, so a loaded machine cannot change what it sees.
"""

from __future__ import annotations

START = 1_700_000_000.0
"""2023-11-14: a plausible epoch second, far from zero and from the real now."""


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
