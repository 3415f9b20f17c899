"""Where a py-spy profile's time went: self and cumulative samples by function.

    python bench/pyspy_top.py PROFILE.raw [--top 25] [--rate 200]

Reads py-spy's ``raw`` output (``record -f raw``: one ``frame;frame;... count`` line per
distinct stack, root first) and prints the samples per thread kind (the event loop, aiosqlite's
worker thread, executor threads), then the top functions by self samples (the innermost frame)
and by cumulative samples (each function counted once per stack it appears in), and the
cumulative share of each of reelay's modules. Shares are of the samples kept, seconds are
samples / rate.

py-spy is meant to leave idle threads out, but on these machines it does not see every wait: a
thread blocked in C under a Python frame (a queue's ``get``, a condition's ``wait``, uvloop's
poll under ``Runner.run``) is sampled as if it ran. Samples whose innermost frame is one of
``WAITING`` are counted apart and dropped (``--keep-waiting`` keeps them); uvloop's own C work
(socket reads and writes, timers) also has ``Runner.run`` innermost, and is dropped with it, as
is SQLite's own work on aiosqlite's thread: it calls sqlite3's C methods straight from
``_connection_worker_thread``, so a statement running and the thread waiting for the next one
look the same without ``--native``. Compare the samples kept with the process's CPU time.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
OURS = ("orchestrator/", "receiver/")
WAITING = frozenset(
    {
        "Runner.run (asyncio/runners.py)",
        "Condition.wait (threading.py)",
        "Event.wait (threading.py)",
        "Thread.join (threading.py)",
        "_worker (concurrent/futures/thread.py)",
        "_connection_worker_thread (aiosqlite/core.py)",
        "WorkerThread.run (anyio/_backends/_asyncio.py)",
    }
)


def function(frame: str) -> str:
    """``name (file)``: the frame without its line number."""
    found = FRAME.match(frame)
    return f"{found['name']} ({found['file']})" if found else frame


def thread_kind(frames: list[str]) -> str:
    if not frames or not frames[0].startswith("Thread._bootstrap"):
        return "main thread (event loop)"
    for frame in frames:
        if "(threading.py" not in frame:
            return f"thread: {function(frame)}"
    return "thread: (threading only)"


def module(file: str) -> str | None:
    for root in OURS:
        if root in file:
            return root + file.split(root, 1)[1]
    return None


def read(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def report(path: Path, top: int = 25, rate: float = 200.0, keep_waiting: bool = False) -> None:
    stacks = read(path)
    waiting: collections.Counter[str] = collections.Counter()
    if not keep_waiting:
        kept = []
        for frames, n in stacks:
            if function(frames[-1]) in WAITING:
                waiting[function(frames[-1])] += n
            else:
                kept.append((frames, n))
        stacks = kept
    total = sum(n for _, n in stacks)
    if waiting:
        parts = ", ".join(f"{name} {n}" for name, n in waiting.most_common())
        print(f"   dropped as waiting: {sum(waiting.values()):,} samples ({parts})")
    if not total:
        print(f"   no samples in {path}")
        return
    threads: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    cumulative: collections.Counter[str] = collections.Counter()
    modules: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        threads[thread_kind(frames)] += n
        own[function(frames[-1])] += n
        names = {function(f) for f in frames}
        for name in names:
            cumulative[name] += n
        files = {m for f in frames if (g := FRAME.match(f)) and (m := module(g["file"]))}
        for name in files:
            modules[name] += n

    def share(n: int) -> str:
        return f"{n / total * 100:5.1f} % {n / rate:6.2f} s"

    print(f"   {total:,} samples at {rate:g} Hz ({total / rate:.1f} s on the CPU), by thread:")
    for name, n in threads.most_common():
        print(f"     {share(n)}  {name}")
    print(f"   top {top} by self time (innermost frame):")
    for name, n in own.most_common(top):
        print(f"     {share(n)}  {name}")
    print(f"   top {top} by cumulative time (inclusive):")
    for name, n in cumulative.most_common(top):
        print(f"     {share(n)}  {name}")
    print("   reelay's modules, cumulative:")
    for name, n in modules.most_common(15):
        print(f"     {share(n)}  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=float, default=200.0, help="py-spy's -r")
    parser.add_argument("--keep-waiting", action="store_true", help="keep samples of waits")
    args = parser.parse_args()
    report(args.profile, args.top, args.rate, args.keep_waiting)
