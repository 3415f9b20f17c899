"""Benchmark: the CPU the sandbox spends making one result video.

    python -m bench.sandbox_video [--runs 50]

Renders an 8 s base (64 frames) and a 15 s extend (the base's 64 frames, then 56 new ones)
``--runs`` times each, after one render of each that is not counted (it encodes the AAC tone
every later video copies), and prints the mean CPU milliseconds per video of this process
(``time.process_time``: user + system, every thread). Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from orchestrator.sandbox.tasks import BASE_FRAMES, EXTEND_FRAMES
from orchestrator.sandbox.video import Part, Synthetic, render

BASE: tuple[Part, ...] = (Synthetic(0x1234, 0, BASE_FRAMES),)
EXTEND: tuple[Part, ...] = (*BASE, Synthetic(0x4321, 0, EXTEND_FRAMES))


def cpu_ms(parts: Sequence[Part], runs: int) -> float:
    render(parts)
    start = time.process_time()
    for _ in range(runs):
        render(parts)
    return (time.process_time() - start) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    print(f"base 8 s video     {cpu_ms(BASE, runs):5.1f} ms CPU")
    print(f"extend 15 s video  {cpu_ms(EXTEND, runs):5.1f} ms CPU")


if __name__ == "__main__":
    main()
