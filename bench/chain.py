"""Benchmark: chains of generate + 2 extends through ``reelay serve``'s HTTP API.

    python bench/chain.py [--pipelines 1000] [--large 10000] [--configs sqlite,pg]
                          [--code-ref REF] [--compare REF] [--videos] [--profile OUT.raw]

The hot-path figure of our performance issue, measured from the outside: 1,000 pipelines
(generate + 2 extends, 0.2 s sandbox tasks) created over HTTP by an aiohttp client, 64 creates in
flight, against one ``reelay serve`` process in polling mode, the provider sandbox in its own
process. Creates go one pipeline per request to ``POST /v1/pipelines`` (never the batch route:
the issue's figure is the single route).

Each run prints:
- wall time, from the first create until reelay has no pipeline pending or running (target
  <= 3 s for 1,000 pipelines), and steps per second;
- beside it, the serve process's CPU per step: user + sys from /proc/<pid>/stat before the
  first create and once the last step finished, / (3 x pipelines); and the same until the
  process went idle afterwards (downloads of the result videos trail the steps);
- the guarantees, checked: every create answered 201, every pipeline succeeded, the sandbox
  holds exactly one task per step and no step was submitted twice (its ``submit_count``).

Runs, each with a fresh sandbox and database: SQLite and PostgreSQL (one replica), each with
``--pipelines`` and ``--large`` pipelines (CPU per step must not grow with the count; PG/SQLite
target <= 1.3x). ``--compare REF`` first runs REF and the working tree alternately (REF, tree,
tree, REF) on SQLite with ``--pipelines`` and prints the CPU per step of both and the reduction.
``--videos`` first runs the working tree with kept videos off and on alternately (off, on,
on, off) on SQLite: on, every result is downloaded and probed and each branch's whole video
made (the sandbox renders real videos, in its own process); the runs with videos check that
every pipeline's whole videos were made. ``--profile OUT`` adds one SQLite run with py-spy
attached to the serve process for the run's duration (200 Hz, raw) and prints where its time
went (``bench/pyspy_top.py``); that run's own figures are inflated by the sampling and compared
with nothing.

reelay and the sandbox run from copies of orchestrator/ and receiver/ taken when the script
starts (``bench.replicas.snapshot``): the working tree, or REF. The client is this process
(uvloop + aiohttp); before the runs it measures what it can do against a raw HTTP responder,
so that a slow client can't pass for a slow reelay. Not a test: numbers only; exit status 1 when
a run broke a guarantee.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.common import eventloop
from orchestrator.common.ports import free_port
from orchestrator.settings import PROVIDER_NAMES

if __package__ in (None, ""):  # run as ``python bench/chain.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import pyspy_top
from bench.pipelines import body
from bench.replicas import (
    ProcCpu,
    Replica,
    cpu_split,
    machine_ticks,
    parse_ts,
    postgres_database,
    proc_cpu_s,
    proc_status_kib,
    read_log,
    replica_env,
    sandbox_from,
    snapshot,
    sqlite_database,
    start_replica,
    stop_replica,
    until_healthy,
    wait_for_quiet,
)
from bench.replicas import processes as process_cpu

IN_FLIGHT = 64  # creates in flight
TARGET_WALL_S = 3.0  # for 1,000 pipelines
TARGET_PG_RATIO = 1.3
FLAT_RATIO = 1.10  # CPU per step at --large over --pipelines: "does not grow" below this
TARGET_CLIENT_RPS = 10_000
CHECK_EVERY_S = 0.02
IDLE_CPU_S = 0.01  # per 0.25 s: the serve process counts as idle below 4 % of a core
HEADERS = {"Content-Type": "application/json"}
DATABASES: dict[str, tuple[str, Callable[[Path], contextlib.AbstractAsyncContextManager[str]]]] = {
    "sqlite": ("SQLite", sqlite_database),
    "pg": ("PostgreSQL", postgres_database),
}

# A raw HTTP/1.1 responder (uvloop, no framework) for measuring the client alone.
RESPONDER = r"""
import asyncio, sys, uvloop
REPLY = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
class Responder(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            size = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    size = int(value)
            if len(self.buf) < end + 4 + size:
                return
            self.buf = self.buf[end + 4 + size:]
            self.transport.write(REPLY)
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
uvloop.run(main())
"""


@dataclass
class Run:
    database: str  # "SQLite" / "PostgreSQL"
    code: str  # "tree" or the ref
    pipelines: int
    profiled: bool = False
    videos: bool = True
    """Whether reelay keeps the result videos (``REELAY_KEEP_VIDEOS``)."""
    start_epoch: float = 0.0
    serve_cpu_at_start: float | None = None
    created_s: float | None = None
    create_errors: int = 0
    create_error_sample: str = ""
    wall_s: float | None = None
    last_finish_s: float | None = None
    serve_cpu_s: float | None = None
    serve_cpu_idle_s: float | None = None
    idle_after_s: float | None = None
    client_cpu_s: float | None = None
    profiled_cpu_s: float | None = None
    split: dict[str, float] = field(default_factory=dict)
    busy: float | None = None
    peak_rss_mib: float | None = None
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    tasks: int = 0
    resubmitted: int = 0
    missing_tasks: int = 0
    shared_tasks: int = 0
    whole_videos: int | None = None
    """Pipelines whose every branch's whole video was made (with videos kept)."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return 3 * self.pipelines

    @property
    def label(self) -> str:
        kept = "" if self.videos else ", videos not kept"
        return f"{self.database}, {self.pipelines:,} pipelines, {self.code}{kept}"

    def per_step_ms(self, seconds: float | None) -> float | None:
        return seconds / self.steps * 1000 if seconds is not None else None

    @property
    def cpu_ms(self) -> float | None:
        return self.per_step_ms(self.serve_cpu_s)

    @property
    def ok(self) -> bool:
        return (
            self.wall_s is not None
            and self.create_errors == 0
            and self.statuses.get("succeeded", 0) == self.pipelines
            and self.tasks == self.steps
            and self.resubmitted == 0
            and self.missing_tasks == 0
            and self.shared_tasks == 0
            and (not self.videos or self.whole_videos == self.pipelines)
            and not self.problems
        )


def fmt(value: float | None, spec: str, missing: str = "-") -> str:
    return format(value, spec) if value is not None else missing


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# --- the client -----------------------------------------------------------------------------


def session(limit: int = IN_FLIGHT) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))


async def post_all(
    client: aiohttp.ClientSession, url: str, bodies: Sequence[bytes], in_flight: int
) -> tuple[int, str]:
    """POST every body to ``url``, ``in_flight`` at a time; (non-201 answers, the first one)."""
    todo: Iterator[bytes] = iter(bodies)
    errors = 0
    sample = ""

    async def worker() -> None:
        nonlocal errors, sample
        for data in todo:
            try:
                async with client.post(url, data=data, headers=HEADERS) as response:
                    answer = await response.read()
                    if response.status == 201:
                        continue
                    error = f"HTTP {response.status}: {answer[:200]!r}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            errors += 1
            sample = sample or error

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return errors, sample


async def get_json(client: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with client.get(url, params=params) as response:
        response.raise_for_status()
        return await response.json()


async def client_capacity(bodies: Sequence[bytes]) -> tuple[float, float]:
    """This client against a raw responder in another process: (requests/s, CPU ms/request)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RESPONDER, str(port), stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 10)
        url = f"http://127.0.0.1:{port}/v1/pipelines"
        async with session() as client:
            await post_all(client, url, bodies[:1000], IN_FLIGHT)  # warm-up
            count = 20_000
            load = [bodies[n % len(bodies)] for n in range(count)]
            cpu0, start = time.process_time(), time.perf_counter()
            errors, sample = await post_all(client, url, load, IN_FLIGHT)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        if errors:
            raise RuntimeError(f"client check: {errors} errors, first: {sample}")
        return count / elapsed, cpu / count * 1000
    finally:
        proc.terminate()
        await proc.wait()


# --- one run --------------------------------------------------------------------------------


def request_bodies(count: int, providers: Sequence[str]) -> list[bytes]:
    return [
        json.dumps(
            body(providers[n % len(providers)], n).model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
            separators=(",", ":"),
        ).encode()
        for n in range(count)
    ]


@contextlib.asynccontextmanager
async def py_spy(pid: int, out: Path, log: Path) -> AsyncIterator[None]:
    """py-spy recording ``pid`` (200 Hz, raw) while the block runs; written out at its end."""
    exe = Path(sys.executable).with_name("py-spy")
    with log.open("wb") as log_file:
        argv = [str(exe), "record", "-r", "200", "-f", "raw", "-o", str(out), "--pid", str(pid)]
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log_file, stderr=log_file)
        await asyncio.sleep(1.0)  # attached and sampling
        try:
            yield
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    written(out, log)


def written(out: Path, log: Path) -> None:
    if not out.exists():
        raise RuntimeError(f"py-spy wrote no profile: {log.read_text(errors='replace')[-500:]}")


async def wait_idle(pid: int, limit_s: float) -> tuple[float | None, float]:
    """Wait (up to ``limit_s``) until the process uses under 4 % of a core (two quarter-seconds
    running): its CPU seconds then, and how long it took."""
    start = time.perf_counter()
    last = proc_cpu_s(pid)
    quiet = 0
    while last is not None and quiet < 2 and time.perf_counter() - start < limit_s:
        await asyncio.sleep(0.25)
        now = proc_cpu_s(pid)
        if now is None:
            break
        quiet = quiet + 1 if now - last < IDLE_CPU_S else 0
        last = now
    return last, time.perf_counter() - start


async def finished(client: aiohttp.ClientSession, api: str) -> bool:
    # pending -> running -> finished only moves forward, so asking in this order misses none.
    for status in ("pending", "running"):
        page = await get_json(client, api + "/v1/pipelines", status=status, limit="1")
        if page["items"]:
            return False
    return True


async def all_pipelines(client: aiohttp.ClientSession, api: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {"limit": "500"}
    while True:
        page = await get_json(client, api + "/v1/pipelines", **params)
        items.extend(page["items"])
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


async def one_run(
    run: Run,
    code: Path,
    sandbox_code: Path,
    bodies: Sequence[bytes],
    args: argparse.Namespace,
    profile: Path | None = None,
) -> Run:
    database = DATABASES["sqlite" if run.database == "SQLite" else "pg"][1]
    print(f"\n== {run.label}{' (py-spy attached)' if profile else ''}", flush=True)
    await wait_for_quiet(args.quiet_wait)
    with tempfile.TemporaryDirectory(prefix="reelay-chain-") as tmp_name:
        tmp = Path(tmp_name)
        async with (
            sandbox_from(sandbox_code, args.task_seconds, tmp / "sandbox.log") as (sandbox, _),
            database(tmp) as database_url,
        ):
            env = replica_env(database_url, tmp / "data", sandbox, args.task_seconds, code)
            env["REELAY_KEEP_VIDEOS"] = "true" if run.videos else "false"
            replica = await start_replica(0, env, tmp)
            try:
                await until_healthy(replica)
                db = database_url.rsplit("/", 1)[1] if run.database == "PostgreSQL" else None
                spying = (
                    py_spy(replica.proc.pid, profile, tmp / "py-spy.log")
                    if profile
                    else contextlib.nullcontext()
                )
                async with session(IN_FLIGHT + 8) as client:
                    spy0 = proc_cpu_s(replica.proc.pid)
                    async with spying:
                        await drive(run, client, bodies, replica, sandbox, db)
                    spy1 = proc_cpu_s(replica.proc.pid)
                    if profile and spy0 is not None and spy1 is not None:
                        run.profiled_cpu_s = spy1 - spy0
                    # 30,000 downloads: ~2 min; with videos kept, the sandbox renders each
                    # one (~11 ms of its CPU) and reelay makes every branch's whole video.
                    idle_limit = 30.0 + run.pipelines * (0.1 if run.videos else 0.015)
                    idle_cpu, run.idle_after_s = await wait_idle(replica.proc.pid, idle_limit)
                    if run.idle_after_s >= idle_limit:
                        run.notes.append(
                            f"reelay serve still busy {idle_limit:.0f} s after the last step: "
                            "'until idle' is a lower bound"
                        )
                    if idle_cpu is not None and run.serve_cpu_at_start is not None:
                        run.serve_cpu_idle_s = idle_cpu - run.serve_cpu_at_start
                    hwm = proc_status_kib(replica.proc.pid, "VmHWM")
                    run.peak_rss_mib = hwm / 1024 if hwm is not None else None
                    await check(run, client, replica.api_url, sandbox)
            except Exception as exc:  # report it, stop the processes, go on to the next run
                run.problems.append(f"{type(exc).__name__}: {exc}")
            finally:
                await stop_replica(replica)
            if replica.exit_code not in (0, -signal.SIGTERM):
                run.problems.append(f"reelay serve exited with {replica.exit_code}")
            _, distinct, raw = read_log(replica)
            for line in distinct:
                print(f"   log: {line}")
            if run.problems and raw:
                for line in raw[-15:]:
                    print(f"   | {line[:300]}")
    print_run(run)
    return run


async def drive(
    run: Run,
    client: aiohttp.ClientSession,
    bodies: Sequence[bytes],
    replica: Replica,
    sandbox: str,
    database: str | None,
) -> None:
    """Create every pipeline, wait until all finished; CPU and wall time around exactly that."""
    api, pid = replica.api_url, replica.proc.pid
    procs0: dict[int, ProcCpu] = process_cpu(database)
    busy0, total0 = machine_ticks()
    serve0 = run.serve_cpu_at_start = proc_cpu_s(pid)
    client0 = time.process_time()
    run.start_epoch = time.time()
    start = time.perf_counter()
    run.create_errors, run.create_error_sample = await post_all(
        client, api + "/v1/pipelines", bodies, IN_FLIGHT
    )
    run.created_s = time.perf_counter() - start
    deadline = start + run_timeout(run)
    # Until the sandbox holds every task, reelay can't be done: ask the sandbox (its own
    # process), not reelay, so that the waiting costs the measured process nothing.
    while time.perf_counter() < deadline:
        if (await get_json(client, sandbox + "/_sandbox/health"))["tasks"] >= run.steps:
            break
        await asyncio.sleep(CHECK_EVERY_S)
    while time.perf_counter() < deadline:
        if await finished(client, api):
            run.wall_s = time.perf_counter() - start
            break
        await asyncio.sleep(CHECK_EVERY_S)
    serve1 = proc_cpu_s(pid)
    run.client_cpu_s = time.process_time() - client0
    busy1, total1 = machine_ticks()
    procs1 = process_cpu(database)
    if run.wall_s is None:
        run.problems.append(f"pipelines unfinished after {run_timeout(run):.0f} s")
    if serve0 is not None and serve1 is not None:
        run.serve_cpu_s = serve1 - serve0
    run.busy = (busy1 - busy0) / max(1, total1 - total0)
    run.split = cpu_split(procs0, procs1, {pid}, (busy1 - busy0) / os.sysconf("SC_CLK_TCK"))
    run.split["reelay serve"] = run.split.pop("replicas")


def run_timeout(run: Run) -> float:
    return 60.0 + run.pipelines * 0.06


async def check(run: Run, client: aiohttp.ClientSession, api: str, sandbox: str) -> None:
    pipelines = await all_pipelines(client, api)
    tasks: list[dict[str, Any]] = await get_json(client, sandbox + "/_sandbox/tasks")
    run.statuses = collections.Counter(p["status"] for p in pipelines)
    if len(pipelines) != run.pipelines:
        run.statuses["(not listed)"] = run.pipelines - len(pipelines)
    run.tasks = len(tasks)
    run.resubmitted = sum(1 for t in tasks if t["submit_count"] > 1)
    known = {t["task_id"] for t in tasks}
    steps = [s for p in pipelines for s in p["steps"]]
    named = collections.Counter(s["provider_task_id"] for s in steps)
    run.missing_tasks = sum(1 for s in steps if s["provider_task_id"] not in known)
    run.shared_tasks = sum(n - 1 for t, n in named.items() if t is not None and n > 1)
    ends = [p["updated_at"] for p in pipelines if p["status"] == "succeeded"]
    if ends:
        run.last_finish_s = max(parse_ts(e) for e in ends) - run.start_epoch
    if run.videos:
        made = 0
        for p in pipelines:
            listed = await get_json(client, f"{api}/v1/pipelines/{p['id']}/videos")
            made += all(v["state"] == "ready" for v in listed["videos"])
        run.whole_videos = made


def print_run(r: Run) -> None:
    cpu = r.cpu_ms
    beside = f"CPU {fmt(cpu, '.3f')} ms/step"
    created = (
        f"{r.pipelines:,} in {fmt(r.created_s, '.2f')} s "
        f"({fmt(r.created_s and r.pipelines / r.created_s, ',.0f')}/s)"
    )
    print(f"   creates           {created}, {r.create_errors} errors | {beside}")
    if r.create_error_sample:
        print(f"   first create error: {r.create_error_sample}")
    if r.pipelines == 1000 and not r.profiled:
        met = r.wall_s is not None and r.wall_s <= TARGET_WALL_S
        target = f"target <= {TARGET_WALL_S:g} s: {verdict(met)}"
    else:
        target = "no wall target at this size" if not r.profiled else "profiled: not compared"
    print(
        f"   wall              {fmt(r.wall_s, '.2f')} s   {target} | {beside}  "
        f"(last pipeline finished in reelay at {fmt(r.last_finish_s, '.2f')} s)"
    )
    print(
        f"   steps/s           {fmt(r.wall_s and r.steps / r.wall_s, '.0f')} | {beside}  "
        f"(steps {r.steps:,})"
    )
    trailing = r.per_step_ms(r.serve_cpu_idle_s)
    print(
        f"   reelay serve CPU  {fmt(r.serve_cpu_s, '.2f')} s = {fmt(cpu, '.3f')} ms per step "
        f"(user+sys, first create -> last step finished); {fmt(trailing, '.3f')} ms per step "
        f"until idle {fmt(r.idle_after_s, '.1f')} s later (trailing downloads)"
    )
    client = r.client_cpu_s and r.client_cpu_s / r.pipelines * 1000
    print(
        f"   client CPU        {fmt(r.client_cpu_s, '.2f')} s ({fmt(client, '.2f')} ms per "
        f"pipeline, creates and completion checks); serve peak RSS "
        f"{fmt(r.peak_rss_mib, '.0f')} MiB"
    )
    if r.split:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in r.split.items())
        busy = fmt(r.busy and r.busy * 100, ".0f")
        print(f"   CPU s in the run  {parts}; machine {busy} % busy")
    succeeded = r.statuses.get("succeeded", 0)
    others = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()) if k != "succeeded" and v)
    print(
        f"   check: every pipeline succeeded     {succeeded:,} of {r.pipelines:,}"
        f"{f' ({others})' if others else ''}: {'ok' if succeeded == r.pipelines else 'NO'}"
    )
    print(
        f"   check: one sandbox task per step    {r.tasks:,} tasks for {r.steps:,} steps, "
        f"steps without a task {r.missing_tasks}, tasks named by two steps {r.shared_tasks}: "
        f"{'ok' if r.tasks == r.steps and not r.missing_tasks and not r.shared_tasks else 'NO'}"
    )
    print(
        f"   check: no step submitted twice      submit_count > 1: {r.resubmitted}: "
        f"{'ok' if r.resubmitted == 0 else 'NO'}"
    )
    for note in r.notes:
        print(f"   note: {note}")
    for problem in r.problems:
        print(f"   PROBLEM: {problem}")
    print(f"   correct           {'yes' if r.ok else 'NO'}", flush=True)


# --- summaries ------------------------------------------------------------------------------


def mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def ratio_line(label: str, a: float | None, b: float | None, target: float | None) -> str:
    if a is None or b is None or b == 0:
        return f"   {label:<34} -"
    value = a / b
    check = f"   target <= {target:g}x: {verdict(value <= target)}" if target else ""
    return f"   {label:<34} {value:.2f}x{check}"


def print_compare(runs: Sequence[Run], ref: str) -> None:
    print(f"\nCompare on SQLite, {runs[0].pipelines:,} pipelines: {ref} vs the working tree")
    header = f"   {'run':<5}{'code':<14}{'wall s':>8}{'CPU ms/step':>13}{'until idle':>12}"
    print(header + f"{'steps/s':>9}  correct")
    for n, r in enumerate(runs, 1):
        steps_s = fmt(r.wall_s and r.steps / r.wall_s, ".0f")
        print(
            f"   {n:<5}{r.code:<14}{fmt(r.wall_s, '.2f'):>8}{fmt(r.cpu_ms, '.3f'):>13}"
            f"{fmt(r.per_step_ms(r.serve_cpu_idle_s), '.3f'):>12}{steps_s:>9}  "
            f"{'yes' if r.ok else 'NO'}"
        )
    old = [r for r in runs if r.code != "tree"]
    new = [r for r in runs if r.code == "tree"]
    figures = {
        "CPU per step": ([r.cpu_ms for r in old], [r.cpu_ms for r in new]),
        "CPU per step until idle": (
            [r.per_step_ms(r.serve_cpu_idle_s) for r in old],
            [r.per_step_ms(r.serve_cpu_idle_s) for r in new],
        ),
    }
    for what, (before, after) in figures.items():
        a, b = mean(before), mean(after)
        cut = (a - b) / a * 100 if a and b is not None else None
        print(
            f"   {what:<24} {ref} {fmt(a, '.3f')} ms, tree {fmt(b, '.3f')} ms: "
            f"reduction {fmt(cut, '.1f')} %"
        )
    a, b = mean([r.wall_s for r in old]), mean([r.wall_s for r in new])
    print(
        f"   {'wall':<24} {ref} {fmt(a, '.2f')} s, tree {fmt(b, '.2f')} s "
        f"(CPU per step beside it: {fmt(mean([r.cpu_ms for r in old]), '.3f')} vs "
        f"{fmt(mean([r.cpu_ms for r in new]), '.3f')} ms)"
    )


def print_videos(runs: Sequence[Run]) -> None:
    """Kept videos (downloads, probes, whole videos) on against off."""
    print(f"\nKept videos on vs off, SQLite, {runs[0].pipelines:,} pipelines")
    print(f"   {'run':<5}{'videos':<8}{'wall s':>8}{'CPU ms/step':>13}{'until idle':>12}  correct")
    for n, r in enumerate(runs, 1):
        print(
            f"   {n:<5}{'on' if r.videos else 'off':<8}{fmt(r.wall_s, '.2f'):>8}"
            f"{fmt(r.cpu_ms, '.3f'):>13}{fmt(r.per_step_ms(r.serve_cpu_idle_s), '.3f'):>12}  "
            f"{'yes' if r.ok else 'NO'}"
            + ("" if r.whole_videos is None else f"  (whole videos made: {r.whole_videos:,})")
        )
    on = [r for r in runs if r.videos]
    off = [r for r in runs if not r.videos]
    figures: dict[str, Callable[[Run], float | None]] = {
        "wall": lambda r: r.wall_s,
        "CPU per step": lambda r: r.cpu_ms,
        "CPU per step until idle": lambda r: r.per_step_ms(r.serve_cpu_idle_s),
    }
    for what, key in figures.items():
        a, b = mean([key(r) for r in off]), mean([key(r) for r in on])
        ratio = b / a if a and b is not None else None
        print(f"   {what:<24} off {fmt(a, '.3f')}, on {fmt(b, '.3f')}: on/off {fmt(ratio, '.2f')}x")


def print_matrix(runs: Sequence[Run], small: int, large: int) -> None:
    print("\nSummary (one replica each)")
    header = f"   {'configuration':<40}{'wall s':>8}{'CPU ms/step':>13}{'until idle':>12}"
    print(header + f"{'steps/s':>9}  correct")
    for r in runs:
        steps_s = fmt(r.wall_s and r.steps / r.wall_s, ".0f")
        print(
            f"   {r.label:<40}{fmt(r.wall_s, '.2f'):>8}{fmt(r.cpu_ms, '.3f'):>13}"
            f"{fmt(r.per_step_ms(r.serve_cpu_idle_s), '.3f'):>12}{steps_s:>9}  "
            f"{'yes' if r.ok else 'NO'}"
        )
    found = {(r.database, r.pipelines): r for r in runs}
    for database in ("SQLite", "PostgreSQL"):
        a, b = found.get((database, large)), found.get((database, small))
        if a and b and large != small:
            print(
                ratio_line(
                    f"{database} CPU/step {large:,} / {small:,}", a.cpu_ms, b.cpu_ms, FLAT_RATIO
                )
                + f"  ({fmt(b.cpu_ms, '.3f')} -> {fmt(a.cpu_ms, '.3f')} ms)"
            )
    for size in (small, large):
        pg, lite = found.get(("PostgreSQL", size)), found.get(("SQLite", size))
        if pg and lite:
            print(ratio_line(f"PG/SQLite wall, {size:,}", pg.wall_s, lite.wall_s, TARGET_PG_RATIO))
            print(ratio_line(f"PG/SQLite CPU/step, {size:,}", pg.cpu_ms, lite.cpu_ms, 1.3))
            both = [
                r.serve_cpu_s + r.split.get("PostgreSQL", 0.0) if r.serve_cpu_s else None
                for r in (pg, lite)
            ]
            print(
                ratio_line(f"PG/SQLite CPU incl. PostgreSQL, {size:,}", both[0], both[1], None)
                + "  (information: PostgreSQL's own processes added)"
            )


# --- main -----------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    providers = [args.provider] if args.provider else list(PROVIDER_NAMES)
    sizes = sorted({args.pipelines, *([args.large] if args.large else [])})
    run_bodies = {size: request_bodies(size, providers) for size in sizes}
    rps, cpu = await client_capacity(run_bodies[sizes[-1]])
    per_core = 1000 / cpu
    print(
        f"client: aiohttp on uvloop, {IN_FLIGHT} in flight, against a raw responder: "
        f"{rps:,.0f} req/s wall | CPU {cpu:.3f} ms per request = {per_core:,.0f} req/s per "
        f"core of CPU   target >= {TARGET_CLIENT_RPS:,}: {verdict(per_core >= TARGET_CLIENT_RPS)}"
        f"{'' if rps >= TARGET_CLIENT_RPS else ' (by CPU; the wall figure shares the machine)'}"
    )
    print(
        f"workload: pipelines of generate + 2 extends ({', '.join(providers)}), "
        f"{args.task_seconds} s sandbox tasks, {os.cpu_count()} cores shared by everything"
    )
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:

        def copy(ref: str | None) -> Path:
            where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reelay-code-")))
            print(f"{ref or 'tree'}: a copy of {snapshot(where, ref)}", flush=True)
            return where

        tree = copy(None)
        main_code, main_label = (
            (copy(args.code_ref), args.code_ref)
            if args.code_ref
            else (
                tree,
                "tree",
            )
        )
        if args.compare:
            old = copy(args.compare)
            order = [args.compare, "tree", "tree", args.compare]
            compared = []
            for label in order:
                run = Run("SQLite", label, args.pipelines)
                code = old if label == args.compare else tree
                compared.append(await one_run(run, code, tree, run_bodies[args.pipelines], args))
            print_compare(compared, args.compare)
            runs += compared
        if args.videos:
            kept = []
            for videos in (False, True, True, False):
                run = Run("SQLite", main_label, args.pipelines, videos=videos)
                kept.append(await one_run(run, main_code, tree, run_bodies[args.pipelines], args))
            print_videos(kept)
            runs += kept
        if not args.compare_only:
            matrix = []
            for key in args.configs.split(","):
                for size in sizes:
                    run = Run(DATABASES[key][0], main_label, size)
                    matrix.append(await one_run(run, main_code, tree, run_bodies[size], args))
            print_matrix(matrix, args.pipelines, args.large or args.pipelines)
            runs += matrix
        if args.profile:
            run = Run("SQLite", main_label, args.pipelines, profiled=True)
            out = Path(args.profile)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out)
            await one_run(run, main_code, tree, run_bodies[args.pipelines], args, profile=out)
            print(
                f"\nProfile of reelay serve during that run ({out}); the process used "
                f"{fmt(run.profiled_cpu_s, '.2f')} s of CPU (/proc) while py-spy was attached:"
            )
            pyspy_top.report(out, top=25)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument(
        "--large", type=int, default=10_000, help="the second size (0: none) for CPU per step"
    )
    parser.add_argument("--task-seconds", type=float, default=0.2)
    parser.add_argument("--provider", choices=PROVIDER_NAMES)
    parser.add_argument("--configs", default="sqlite,pg", help="comma-separated: sqlite, pg")
    parser.add_argument("--code-ref", metavar="REF", help="run reelay from this git ref")
    parser.add_argument(
        "--compare", metavar="REF", help="first: REF, tree, tree, REF on SQLite, compared"
    )
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="only the comparisons (--compare, --videos), not the database matrix",
    )
    parser.add_argument(
        "--videos",
        action="store_true",
        help="first: kept videos off, on, on, off on SQLite (downloads, probes, whole videos)",
    )
    parser.add_argument("--profile", metavar="OUT", help="add a py-spy'd SQLite run, raw to OUT")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        metavar="S",
        help="before each run, wait up to S s for the machine to be mostly idle",
    )
    sys.exit(eventloop.run(main(parser.parse_args())))
