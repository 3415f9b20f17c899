"""Benchmark: the CPU the sandbox spends making one result video.

    python -m bench.sandbox_video [--runs 50]

Renders an 8 s base (64 frames), a 15 s extend and a 148 s one (the deepest chain Veo allows:
the base and 20 extends) ``--runs`` times each, after one render of each that is not counted
(it encodes the AAC tone every later video copies), and prints the mean CPU milliseconds per
video of this process (``time.process_time``: user + system, every thread). Each extend is
made the way the sandbox makes it, from its source's video (only its own 7 s are encoded),
and, for comparison, encoded whole. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from orchestrator.sandbox.tasks import BASE_FRAMES, EXTEND_FRAMES, MAX_EXTEND_HOPS
from orchestrator.sandbox.video import Part, Synthetic, render

BASE: tuple[Part, ...] = (Synthetic(0x1234, 0, BASE_FRAMES),)
EXTEND: tuple[Part, ...] = (*BASE, Synthetic(0x4321, 0, EXTEND_FRAMES))
DEEPEST: tuple[Part, ...] = (
    *BASE,
    *(Synthetic(0x100 + n, 0, EXTEND_FRAMES) for n in range(MAX_EXTEND_HOPS)),
)


def cpu_ms(parts: Sequence[Part], runs: int, prefix: bytes | None = None) -> float:
    render(parts, prefix)
    start = time.process_time()
    for _ in range(runs):
        render(parts, prefix)
    return (time.process_time() - start) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    print(f"base 8 s video                       {cpu_ms(BASE, runs):6.1f} ms CPU")
    for name, parts in (("15 s", EXTEND), ("148 s", DEEPEST)):
        source = render(parts[:-1])
        copied = cpu_ms(parts, runs, source)
        whole = cpu_ms(parts, max(1, runs // 5))
        print(f"extend, {name + ' video':<10} from its source {copied:6.1f} ms CPU", end="")
        print(f"   (encoded whole: {whole:.1f} ms)")


if __name__ == "__main__":
    main()
