"""Benchmark: pipelines in flight (long tasks, polled) against reelay's memory and claim CPU.

    python -m bench.inflight [--max 100000] [--provider apixo] [--polls 5000] [--profile DIR]
                             [--what-if-index]

The target: 100,000 pipelines in flight in <= 250 MB RSS, and the CPU of a claim/poll pass
independent of how many are in flight: nothing in the engine may scan all in-flight work per
pass.

reelay runs in this process as ``bench/pipelines.py`` runs it (``open_runtime``; the engine,
the webhook deliverer and the downloader, as ``serve`` runs them, without the HTTP listeners),
so its counters can be read exactly; the sandbox runs in its own process with 3,600 s tasks, so
that every task stays in flight. Pipelines are generate-only (one step each), created through
``Operations.create`` in chunks. Polling is as fast as the settings allow (``--poll-s``: first
poll, interval and ceiling), so the engine polls flat out in every phase and a phase's figures
compare with the others'; ``max_in_flight`` is raised above the largest phase.

Phases: grow to 1k in flight, then 10k, then 100k (none above ``--max``). In each, once every
step is in flight, a window runs until ``--polls`` polls were answered; the table gives this
process's CPU (user + system, every thread: the event loop and aiosqlite's) per poll and per
claim pass, and its RSS. Nothing else runs in the window: no creates, no store counts. Claim
passes and polls answered are counted by wrapping the engine's claimer in this process.

After each window (outside it): on SQLite, ``EXPLAIN QUERY PLAN`` and the cost of each query the
claim path runs (and of the per-request reports), timed on a connection of our own, with
SQLite's virtual-machine steps as a work count that does not depend on the machine's load; and
with ``--profile DIR``, ``py-spy record`` of this process for ``--profile-seconds``, summarized.
``--what-if-index`` adds the partial indexes proposed for the claim's due-work queries to the
SQLite file before the run (``WHAT_IF_INDEXES``): a what-if for that fix, not reelay's schema.

RSS is this process's: reelay plus this script, which holds nothing per pipeline; the baseline
line shows what the process holds before the first create. The peak (VmHWM) includes the
creates. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.common import eventloop
from orchestrator.engine.perform import PollWork, Work
from orchestrator.plans import PipelineRequest
from orchestrator.runtime import Runtime, open_runtime
from orchestrator.settings import PROVIDER_NAMES, Settings, load_settings
from orchestrator.store import queries as q
from orchestrator.store.sqlite import sqlite_path

if __package__ in (None, ""):  # run as ``python bench/inflight.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.pipelines import PREFIX, sandbox_process

PHASES = (1_000, 10_000, 100_000)
RSS_TARGET_MB = 250.0
FLAT_TARGET = 1.5
"""CPU per poll at the largest phase over the smallest."""
TASK_SECONDS = 3600.0
CREATE_CHUNK = 500
"""Creates in flight at once while growing."""
MIB = 1024 * 1024
SQL_RUNS = 5
VM_STEPS_PER_TICK = 1000
WHAT_IF_INDEXES = (
    "CREATE INDEX bench_poll_due ON steps (provider, next_at)"
    " WHERE status IN ('submitted', 'running')",
    "CREATE INDEX bench_submit_due ON steps (provider, next_at) WHERE status = 'pending'",
)
"""``--what-if-index``: the fix proposed for DUE_POLLS and DUE_SUBMITS (not reelay's schema)."""
THREAD_LABELS = {
    "MainThread": "MainThread (the event loop)",
    "Thread-1 (_connection_worker_thread)": "Thread-1 (aiosqlite: the store's writer)",
    "Thread-2 (_connection_worker_thread)": "Thread-2 (aiosqlite: the store's reader)",
}


def generate_only(provider: str, n: int) -> PipelineRequest:
    model = "veo-3.1-fast" if provider == "apifree" else None
    return PipelineRequest.model_validate(
        {"provider": provider, "prompt": f"scene {n}", "model": model}
    )


def settings_for(args: argparse.Namespace, sandbox: str, tmp: Path) -> Settings:
    biggest = max(phases(args.max))
    polling = {"first_poll_s": args.poll_s, "poll_interval_s": args.poll_s}
    return load_settings(
        database_url=args.database_url or f"sqlite:///{tmp / 'bench.db'}",
        data_dir=tmp / "data",
        _env_file=None,
        **{
            name: {
                "base_url": sandbox + PREFIX[name],
                "api_key": "k",
                "max_in_flight": 10 * biggest,
                "task_deadline_s": 10 * TASK_SECONDS,
                "poll_max_interval_s": args.poll_s,
                **polling,
            }
            for name in PROVIDER_NAMES
        },
    )


def phases(most: int) -> list[int]:
    return [n for n in PHASES if n < most] + [most]


# --- this process ------------------------------------------------------------------------


def status_mib(key: str) -> float:
    """A ``kB`` line of /proc/self/status (VmRSS, VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(key)


class Probe:
    """Counts, by wrapping the engine's claimer and the store of this process: claim passes
    (and their wall time), polls answered, and reads of ``next_due``."""

    def __init__(self, rt: Runtime) -> None:
        self.passes = 0
        self.claimed = 0
        self.claim_s = 0.0
        self.polls = 0
        self.next_due_reads = 0
        claimer = rt.engine._claimer
        claim, answered, next_due = claimer.claim, claimer.answered, rt.store.next_due

        async def counted_claim() -> list[Work]:
            start = time.perf_counter()
            try:
                work = await claim()
            finally:
                self.passes += 1
                self.claim_s += time.perf_counter() - start
            self.claimed += len(work)
            return work

        def counted_answer(item: Work) -> bool:
            self.polls += isinstance(item, PollWork)
            return answered(item)

        async def counted_next_due() -> float | None:
            self.next_due_reads += 1
            return await next_due()

        claimer.claim = counted_claim  # type: ignore[method-assign]
        claimer.answered = counted_answer  # type: ignore[method-assign]
        rt.store.next_due = counted_next_due  # type: ignore[method-assign]


@dataclass
class Window:
    in_flight: int
    rss_mib: float
    polls: int
    seconds: float
    cpu_s: float
    passes: int
    claimed: int
    claim_s: float
    next_due_reads: int

    @property
    def cpu_us_per_poll(self) -> float:
        return 1e6 * self.cpu_s / max(1, self.polls)

    @property
    def cpu_ms_per_pass(self) -> float:
        return 1e3 * self.cpu_s / max(1, self.passes)


async def measure(probe: Probe, in_flight: int, polls: int, limit_s: float) -> Window:
    """CPU and counters over a window of at least ``polls`` polls (cut at ``limit_s``)."""
    polls0, passes0, claimed0 = probe.polls, probe.passes, probe.claimed
    claim_s0, next_due0 = probe.claim_s, probe.next_due_reads
    cpu0, start = time.process_time(), time.perf_counter()
    # A counter, with no event to wait on.
    while probe.polls - polls0 < polls and time.perf_counter() - start < limit_s:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    cpu, seconds = time.process_time() - cpu0, time.perf_counter() - start
    return Window(
        in_flight=in_flight,
        rss_mib=status_mib("VmRSS"),
        polls=probe.polls - polls0,
        seconds=seconds,
        cpu_s=cpu,
        passes=probe.passes - passes0,
        claimed=probe.claimed - claimed0,
        claim_s=probe.claim_s - claim_s0,
        next_due_reads=probe.next_due_reads - next_due0,
    )


# --- growing ---------------------------------------------------------------------------------


async def grow(rt: Runtime, provider: str, have: int, want: int, limit_s: float) -> None:
    """Create pipelines up to ``want`` and wait until every step is in flight."""
    start = time.perf_counter()
    for first in range(have, want, CREATE_CHUNK):
        chunk = range(first, min(want, first + CREATE_CHUNK))
        await asyncio.gather(*(rt.operations.create(generate_only(provider, n)) for n in chunk))
    created = time.perf_counter() - start
    while True:
        counts = await rt.store.count_steps_by_status()
        flying = counts.get("submitted", 0) + counts.get("running", 0)
        if flying >= want:
            break
        if set(counts) - {"pending", "submitting", "submitted", "running"}:
            raise RuntimeError(f"steps left the in-flight states: {counts}")
        if time.perf_counter() - start > limit_s:
            raise RuntimeError(f"not all in flight after {limit_s:.0f} s: {counts}")
        await asyncio.sleep(1.0)
    print(
        f"   {want:>7,} in flight: {want - have:,} created in {created:.1f} s, "
        f"all submitted after {time.perf_counter() - start:.1f} s",
        flush=True,
    )


# --- the SQL of the claim path ---------------------------------------------------------------


@dataclass(frozen=True)
class SqlCost:
    name: str
    ms: float
    """Median wall time of one run, on our own connection."""
    kilo_steps: float
    """SQLite virtual-machine steps of one run, in thousands (a load-independent work count)."""
    plan: str


Query = tuple[str, tuple[object, ...]]


def claim_path_queries(provider: str, replica: str, now: float) -> dict[str, Query]:
    """What the claim path asks of the store (the engine claims for every configured provider,
    ``idle`` being one with nothing in flight), and the per-request reports."""
    idle = next(name for name in PROVIDER_NAMES if name != provider)
    return {
        "DUE_POLLS (per pass, per provider)": (
            q.DUE_POLLS.format(lock=""),
            (provider, now, 64),
        ),
        "DUE_POLLS, a provider with none in flight": (
            q.DUE_POLLS.format(lock=""),
            (idle, now, 64),
        ),
        "DUE_SUBMITS (per pass, per provider)": (
            q.DUE_SUBMITS.format(lock=""),
            (provider, now, 64),
        ),
        "IN_FLIGHT_OF (per pass with due submits)": (q.IN_FLIGHT_OF, (provider, 1000)),
        "NEXT_DUE (after each empty pass)": (q.NEXT_DUE, ()),
        "ADOPTABLE (per pass)": (q.ADOPTABLE, ()),
        "ORPHANED_SUBMITS (heartbeat, 10 s)": (q.ORPHANED_SUBMITS, (replica, now - 30)),
        "IN_FLIGHT_BY_PROVIDER (GET /v1/providers)": (q.IN_FLIGHT_BY_PROVIDER, ()),
        "STEPS_BY_PROVIDER_STATUS (GET /metrics)": (q.STEPS_BY_PROVIDER_STATUS, ()),
        "COUNT_STEPS_BY_STATUS (reads)": (q.COUNT_STEPS_BY_STATUS, ()),
    }


def sql_costs(path: Path, provider: str, replica: str) -> list[SqlCost]:
    """Each claim-path query's plan and cost on the database as it is now (read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM pipelines LIMIT 64")]
        queries = claim_path_queries(provider, replica, time.time())
        load = q.SELECT_STEPS_IN.format(ids=", ".join("?" * len(ids)))
        queries["SELECT_STEPS_IN (load 64 pipelines: control)"] = (load, tuple(ids))
        costs = []
        for name, (sql, params) in queries.items():
            plan = "; ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            steps = 0

            def tick() -> int:
                nonlocal steps
                steps += 1
                return 0

            times = []
            for _ in range(SQL_RUNS):
                steps = 0
                conn.set_progress_handler(tick, VM_STEPS_PER_TICK)
                start = time.perf_counter()
                conn.execute(sql, params).fetchall()
                times.append(time.perf_counter() - start)
                conn.set_progress_handler(None, 0)
            costs.append(SqlCost(name, 1e3 * statistics.median(times), steps, plan))
        return costs
    finally:
        conn.close()


def add_indexes(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for sql in WHAT_IF_INDEXES:
            conn.execute(sql)
    finally:
        conn.close()


# --- profiles --------------------------------------------------------------------------------


async def py_spy(out: Path, seconds: int) -> Path | None:
    """``py-spy record`` of this process, raw (folded) stacks by thread; None if it failed."""
    spy = Path(sys.executable).with_name("py-spy")
    argv = [str(spy), "record", "--pid", str(os.getpid())]
    argv += ["--duration", str(seconds), "--rate", "200", "--format", "raw"]
    argv += ["--nolineno", "--threads", "--output", str(out)]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        print(f"   py-spy failed ({proc.returncode}): {err.decode(errors='replace')[-300:]}")
        return None
    return out


def profile_tops(path: Path, top: int) -> Iterator[str]:
    """Lines summarizing folded stacks: samples by thread, then the hottest leaf frames and
    the reelay functions with the most samples beneath them (each counted once per stack)."""
    threads: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        thread, *frames = stack.split(";")  # "thread (TID): NAME" comes first (--threads)
        label = THREAD_LABELS.get(thread.partition(": ")[2], thread.partition(": ")[2])
        total += n
        threads[label] += n
        if frames:
            leaves[frames[-1]] += n
        for frame in set(frames):
            if "orchestrator/" in frame or "(orchestrator" in frame:
                inclusive[frame] += n
    if not total:
        yield "   (no samples)"
        return

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f} %"

    yield f"   {total} samples (200 Hz, idle excluded)"
    for label, n in threads.most_common():
        yield f"   {pct(n)}  {label}"
    yield "   hottest frames (self):"
    for frame, n in leaves.most_common(top):
        yield f"   {pct(n)}  {frame}"
    yield "   reelay functions (inclusive):"
    for frame, n in inclusive.most_common(top):
        yield f"   {pct(n)}  {frame}"


# --- the run ---------------------------------------------------------------------------------


async def in_background(rt: Runtime, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` with the engine, deliverer and downloader running, then stop them."""
    async with asyncio.TaskGroup() as tg:
        tg.create_task(rt.engine.run())
        tg.create_task(rt.deliverer.run())
        tg.create_task(rt.downloader.run())
        try:
            await body()
        finally:
            rt.engine.stop()
            rt.deliverer.stop()
            rt.downloader.stop()


async def main(args: argparse.Namespace) -> int:
    windows: list[Window] = []
    async with sandbox_process(TASK_SECONDS) as sandbox:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(args, sandbox, Path(tmp))
            sqlite_file = (
                sqlite_path(settings.database_url)
                if settings.database_url.startswith("sqlite")
                else None
            )
            async with open_runtime(settings) as rt:
                probe = Probe(rt)
                if args.what_if_index:
                    if sqlite_file is None:
                        raise SystemExit("--what-if-index needs SQLite")
                    await asyncio.to_thread(add_indexes, sqlite_file)
                    print("what-if: " + "; ".join(WHAT_IF_INDEXES))
                baseline = status_mib("VmRSS")
                print(
                    f"in flight: {args.provider}, generate-only, {TASK_SECONDS:.0f} s tasks, "
                    f"polls every {args.poll_s} s; baseline RSS {baseline:.0f} MiB",
                    flush=True,
                )

                async def run() -> None:
                    have = 0
                    for want in phases(args.max):
                        await grow(rt, args.provider, have, want, args.timeout)
                        have = want
                        await asyncio.sleep(args.settle)
                        window = await measure(probe, want, args.polls, args.timeout)
                        windows.append(window)
                        print(
                            f"   {want:>7,} in flight: {window.polls:,} polls in "
                            f"{window.seconds:.1f} s, {window.cpu_us_per_poll:,.0f} µs CPU per "
                            f"poll, RSS {window.rss_mib:.0f} MiB",
                            flush=True,
                        )
                        if sqlite_file is not None:
                            costs = await asyncio.to_thread(
                                sql_costs, sqlite_file, args.provider, rt.engine.replica
                            )
                            print_sql(want, costs)
                        if args.profile is not None:
                            args.profile.mkdir(parents=True, exist_ok=True)
                            out = args.profile / f"inflight-{want}.txt"
                            if await py_spy(out, args.profile_seconds) is not None:
                                print(f"-- profile at {want:,} in flight ({out})")
                                for line in profile_tops(out, args.top):
                                    print(line)

                await in_background(rt, run)
    return report(windows, baseline, status_mib("VmHWM"))


def print_sql(in_flight: int, costs: list[SqlCost]) -> None:
    print(f"-- SQL at {in_flight:,} in flight (SQLite, {SQL_RUNS} runs each, median)")
    print(f"   {'query':<46} {'ms':>8} {'kVM steps':>10}  plan")
    for c in costs:
        print(f"   {c.name:<46} {c.ms:>8.2f} {c.kilo_steps:>10,.0f}  {c.plan}")


def report(windows: list[Window], baseline: float, peak: float) -> int:
    print()
    print(
        f"{'in flight':>10} {'RSS MiB':>8} {'polls':>7} {'polls/s':>8} {'CPU µs/poll':>12} "
        f"{'passes':>7} {'polls/pass':>10} {'CPU ms/pass':>12} {'claim ms':>9} "
        f"{'next_due':>9} {'CPU %':>6}"
    )
    for w in windows:
        print(
            f"{w.in_flight:>10,} {w.rss_mib:>8.0f} {w.polls:>7,} {w.polls / w.seconds:>8,.0f} "
            f"{w.cpu_us_per_poll:>12,.0f} {w.passes:>7,} {w.claimed / max(1, w.passes):>10.1f} "
            f"{w.cpu_ms_per_pass:>12.2f} {1e3 * w.claim_s / max(1, w.passes):>9.2f} "
            f"{w.next_due_reads:>9,} {100 * w.cpu_s / w.seconds:>6.0f}"
        )
    print("(claim ms: wall time of one claim transaction; next_due: reads of NEXT_DUE)")
    print(f"baseline RSS {baseline:.0f} MiB; peak RSS (VmHWM, creates included) {peak:.0f} MiB")
    if len(windows) < 2:
        return 0
    first, last = windows[0], windows[-1]
    ratio = last.cpu_us_per_poll / first.cpu_us_per_poll
    flat = ratio <= FLAT_TARGET
    rss_mb = last.rss_mib * MIB / 1e6
    small = rss_mb <= RSS_TARGET_MB
    print(
        f"CPU per poll at {last.in_flight:,} vs {first.in_flight:,}: {ratio:.2f}x "
        f"(target <= {FLAT_TARGET}x): {'ok' if flat else 'NOT MET'}"
    )
    print(
        f"RSS at {last.in_flight:,} in flight: {rss_mb:.0f} MB (target <= {RSS_TARGET_MB:.0f} MB)"
        f": {'ok' if small else 'NOT MET'}"
    )
    return 0 if flat and small else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=PHASES[-1], help="largest phase (in flight)")
    parser.add_argument("--provider", choices=PROVIDER_NAMES, default="apixo")
    parser.add_argument("--polls", type=int, default=5000, help="polls measured per phase")
    parser.add_argument(
        "--poll-s", type=float, default=0.1, help="first poll, interval and ceiling (s)"
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before a window")
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase, growing")
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy each phase here")
    parser.add_argument("--profile-seconds", type=int, default=5)
    parser.add_argument(
        "--what-if-index",
        action="store_true",
        help="add the indexes proposed for DUE_POLLS/DUE_SUBMITS first (SQLite)",
    )
    parser.add_argument("--top", type=int, default=12, help="lines per profile list")
    sys.exit(eventloop.run(main(parser.parse_args())))
