"""Benchmark: the 1,000-pipeline run on SQLite, on PostgreSQL, and on PostgreSQL with 2 replicas.

    python -m bench.replicas [--pipelines 1000] [--task-seconds 0.2] [--provider apixo]

One run measures three configurations the same way, so that their figures are comparable:

- SQLite, one ``reelay serve`` process;
- PostgreSQL, one ``reelay serve`` process;
- PostgreSQL, two ``reelay serve`` processes on the same database.

Each gets a fresh sandbox process and a fresh database (a SQLite file in a temporary directory;
``reelay_bench_<random>`` created on the local server and dropped at the end). reelay runs as
real ``python -m orchestrator.cli serve`` processes in polling mode (no REELAY_PUBLIC_URL), with
the same polling intervals as ``bench/pipelines.py``. Pipelines (generate + 2 extends) are
created through the HTTP API, 100 in flight, round-robin over the replicas; the clock runs from
the first create until no pipeline is pending or running (asked of one replica every 100 ms).
Then: every pipeline must have succeeded and the sandbox must hold exactly one task per step,
each submitted once. Replicas also download every result video in the background (as
``serve`` does); bench/pipelines.py runs the engine alone.

The replicas of all three configurations run one copy of orchestrator/ and receiver/, taken
from the working tree when the run starts (so that edits made meanwhile don't split the run), or
from a git ref (``--code-ref HEAD``).

Not a test: numbers only. Everything shares the machine's cores (2 on the development machine):
sandbox, PostgreSQL, the replicas and this client. Each configuration waits for the machine to
be mostly idle first, and reports where the CPU went during the run, including to processes that
are not part of it (another test run inflates the wall time; that line says so).

Exit status 0 when all three configurations are correct, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from bench.pipelines import PREFIX, body, sandbox_process
from orchestrator.common import eventloop
from orchestrator.common.ports import free_port
from orchestrator.common.transport import AiohttpTransport
from orchestrator.settings import PROVIDER_NAMES

CONFIG_KEYS = ("sqlite", "pg1", "pg2")
CONFIG_NAMES = ("SQLite, 1 replica", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONCURRENCY = 100  # creates in flight
CHECK_EVERY_S = 0.1  # completion check
TERM_TIMEOUT_S = 30.0
LOG_TAIL = 25
QUIET_BUSY = 0.15  # machine busy fraction under which a configuration starts
EXCEPTION_LINE = re.compile(r"^[\s|]*[\w.]+(Error|Exception|Group|Exit|Interrupt)\b.*:")
FINISHED = ("succeeded", "failed", "cancelled")
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Replica:
    index: int
    api_url: str
    proc: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]
    peak_rss_mib: float | None = None
    cpu_s: float | None = None
    exit_code: int | None = None
    killed: bool = False


@dataclass
class Result:
    name: str
    replicas: int
    pipelines: int
    created_s: float = 0.0
    wall_s: float | None = None
    last_step_s: float | None = None
    last_finish_s: float | None = None
    machine_busy: float | None = None
    cpu_split: dict[str, float] = field(default_factory=dict)
    create_errors: int = 0
    create_error_sample: str = ""
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    tasks: int = 0
    expected_tasks: int = 0
    resubmitted: int = 0
    missing_tasks: int = 0
    kept_videos: int = 0
    rss_mib: list[float | None] = field(default_factory=list)
    cpu_s: list[float | None] = field(default_factory=list)
    exit_codes: list[int | None] = field(default_factory=list)
    log_levels: list[collections.Counter[str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return 3 * self.pipelines

    @property
    def steps_per_s(self) -> float | None:
        return self.steps / self.wall_s if self.wall_s else None

    @property
    def ok(self) -> bool:
        return (
            self.wall_s is not None
            and self.create_errors == 0
            and self.statuses.get("succeeded", 0) == self.pipelines
            and self.tasks == self.expected_tasks
            and self.resubmitted == 0
            and self.missing_tasks == 0
        )


# --- machine and process figures -----------------------------------------------------------


def proc_status_kib(pid: int, key: str) -> int | None:
    """A ``kB`` line of /proc/<pid>/status (VmHWM: peak resident set), or None once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user/nice
    return total - idle, total


@dataclass(frozen=True)
class ProcCpu:
    ppid: int
    cpu_s: float
    category: str  # "postgres <database or ''>" for PostgreSQL processes, else ""


def processes(database: str | None) -> dict[int, ProcCpu]:
    """Every process's CPU so far, and whether it is PostgreSQL (serving ``database``)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, ProcCpu] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            category = ""
            if comm == "postgres":
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if database and database in cmd:
                    category = "this run"
                elif "(" in cmd or "[local]" in cmd:  # a backend of someone else's connection
                    category = "other"
                else:
                    category = "server"
        except (OSError, ValueError):
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick
        found[int(entry.name)] = ProcCpu(int(fields[1]), cpu, category)
    return found


def cpu_split(
    before: dict[int, ProcCpu], after: dict[int, ProcCpu], replicas: set[int], machine_s: float
) -> dict[str, float]:
    """CPU seconds between two snapshots: replicas, sandbox + this client, PostgreSQL, the rest
    (the machine's busy time minus the others, so it includes processes that came and went)."""
    ours = {os.getpid()}
    grew = True
    while grew:
        more = {pid for pid, p in after.items() if p.ppid in ours} - ours
        ours |= more
        grew = bool(more)
    split = {"replicas": 0.0, "sandbox + bench client": 0.0, "PostgreSQL": 0.0}
    for pid, p in after.items():
        spent = p.cpu_s - (before[pid].cpu_s if pid in before else 0.0)
        if pid in replicas:
            split["replicas"] += spent
        elif pid in ours:
            split["sandbox + bench client"] += spent
        elif p.category in ("this run", "server"):
            split["PostgreSQL"] += spent
    split["rest (other processes, kernel)"] = max(0.0, machine_s - sum(split.values()))
    return split


async def busy_over(seconds: float) -> float:
    busy0, total0 = machine_ticks()
    await asyncio.sleep(seconds)
    busy1, total1 = machine_ticks()
    return (busy1 - busy0) / max(1, total1 - total0)


async def wait_for_quiet(limit_s: float) -> None:
    """Wait (up to ``limit_s``) until other work leaves the machine mostly idle; say how busy."""
    deadline = time.monotonic() + limit_s
    busy = await busy_over(1.0)
    waited = 0.0
    while busy > QUIET_BUSY and time.monotonic() < deadline:
        busy = await busy_over(2.0)
        waited += 2.0
    note = f" (after waiting {waited:.0f} s)" if waited else ""
    warn = "" if busy <= QUIET_BUSY else "; NOT QUIET, measuring anyway"
    print(f"   machine busy before the run: {busy * 100:.0f} %{note}{warn}", flush=True)


# --- databases ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sqlite_database(tmp: Path) -> AsyncIterator[str]:
    yield f"sqlite:///{tmp / 'bench.db'}"


@contextlib.asynccontextmanager
async def postgres_database(tmp: Path) -> AsyncIterator[str]:
    name = f"reelay_bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
        try:
            await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        finally:
            await conn.close()


# --- replicas -------------------------------------------------------------------------------


def git(*argv: str) -> bytes:
    done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, check=True)
    return done.stdout


def snapshot(dest: Path, ref: str | None) -> str:
    """Copy reelay's packages (of the working tree, or of git ``ref``) to ``dest``; say which."""
    packages = ("orchestrator", "receiver")
    if ref is not None:
        archive = git("archive", "--format=tar", ref, *packages)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        return f"git {ref} ({git('rev-parse', '--short', ref).decode().strip()})"
    for package in packages:
        shutil.copytree(
            REPO / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    head = git("rev-parse", "--short", "HEAD").decode().strip()
    changed = git("status", "--porcelain", "--", *packages).decode().splitlines()
    edits = f" + {len(changed)} uncommitted change(s) in {', '.join(packages)}" if changed else ""
    return f"the working tree: {head}{edits}"


@contextlib.asynccontextmanager
async def sandbox_from(
    code: Path, task_seconds: float, log_path: Path
) -> AsyncIterator[tuple[str, int]]:
    """The provider sandbox in its own process, run from the copy of the code at ``code`` (so
    that edits to the working tree meanwhile don't reach it): its URL and process id."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELAY_")}
    env["PYTHONPATH"] = str(code)
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator.cli",
            "sandbox",
            "--port",
            str(port),
            "--task-seconds",
            str(task_seconds),
            env=env,
            cwd=log_path.parent,  # not the checkout: ``-m`` would import its live tree first
            stdout=log,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                deadline = time.monotonic() + 30
                while True:
                    if proc.returncode is not None:
                        raise RuntimeError(f"the sandbox exited with {proc.returncode}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(url + "/_sandbox/health")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError("the sandbox did not answer within 30 s")
                    await asyncio.sleep(0.05)
            yield url, proc.pid
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


def replica_env(
    database_url: str, data_dir: Path, sandbox: str, task_seconds: float, code: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELAY_")}
    env.update(
        PYTHONPATH=str(code),
        REELAY_DATABASE_URL=database_url,
        REELAY_DATA_DIR=str(data_dir),
        REELAY_LOG_LEVEL="warning",
        REELAY_LOG_FORMAT="json",
        REELAY_API_PORT=str(free_port()),
        REELAY_PUBLIC_PORT=str(free_port()),
    )
    polling = {  # as bench/pipelines.py
        "FIRST_POLL_S": task_seconds,
        "POLL_INTERVAL_S": task_seconds / 4,
        "POLL_MAX_INTERVAL_S": task_seconds,
    }
    for name in PROVIDER_NAMES:
        prefix = f"REELAY_{name.upper()}_"
        env[prefix + "BASE_URL"] = sandbox + PREFIX[name]
        env[prefix + "API_KEY"] = "k"
        for key, value in polling.items():
            env[prefix + key] = str(value)
    return env


async def start_replica(index: int, env: dict[str, str], tmp: Path) -> Replica:
    """Start ``reelay serve``; the caller waits for it to answer (``until_healthy``)."""
    log_path = tmp / f"replica{index}.log"
    log_file = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        "serve",
        env=env,
        cwd=tmp,  # no stray .env file
        stdout=log_file,
        stderr=log_file,
    )
    return Replica(index, f"http://127.0.0.1:{env['REELAY_API_PORT']}", proc, log_path, log_file)


async def until_healthy(replica: Replica) -> None:
    index, proc = replica.index, replica.proc
    async with httpx.AsyncClient(timeout=2) as client:
        deadline = time.monotonic() + 30
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"replica {index} exited with {proc.returncode} on start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(replica.api_url + "/healthz")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {index} did not answer /healthz within 30 s")
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a crash right after start-up (engine recovery) shows up here
    if proc.returncode is not None:
        raise RuntimeError(f"replica {index} exited with {proc.returncode} after start-up")


def measure(replica: Replica) -> None:
    if replica.proc.returncode is None:
        hwm = proc_status_kib(replica.proc.pid, "VmHWM")
        replica.peak_rss_mib = hwm / 1024 if hwm is not None else None
        replica.cpu_s = proc_cpu_s(replica.proc.pid)


async def stop_replica(replica: Replica) -> None:
    if replica.proc.returncode is None:
        replica.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(replica.proc.wait(), TERM_TIMEOUT_S)
        except TimeoutError:
            replica.killed = True
            replica.proc.kill()
            await replica.proc.wait()
    replica.exit_code = replica.proc.returncode
    replica.log_file.close()


def read_log(replica: Replica) -> tuple[collections.Counter[str], list[str], list[str]]:
    """Lines by level, the distinct messages of WARNING and above (with counts), raw lines."""
    levels: collections.Counter[str] = collections.Counter()
    messages: collections.Counter[str] = collections.Counter()
    raw = replica.log_path.read_text(errors="replace").splitlines()
    for line in raw:
        try:
            record = json.loads(line)
            level, message = str(record["level"]), str(record["message"])
        except (ValueError, KeyError, TypeError):
            levels["non-JSON"] += 1
            if EXCEPTION_LINE.match(line):
                messages[f"traceback: {line.strip()[:200]}"] += 1
            continue
        levels[level] += 1
        messages[f"{level} {record.get('logger', '')}: {message[:160]}"] += 1
    distinct = [f"{count:6d} x {message}" for message, count in messages.most_common(8)]
    return levels, distinct, raw


# --- one configuration ----------------------------------------------------------------------


def parse_ts(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def all_pipelines(client: httpx.AsyncClient, api: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        response = await client.get(api + "/v1/pipelines", params=params)
        response.raise_for_status()
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def unfinished(client: httpx.AsyncClient, api: str) -> bool:
    # pending -> running -> finished only moves forward, so asking in this order misses none.
    for status in ("pending", "running"):
        response = await client.get(api + "/v1/pipelines", params={"status": status, "limit": "1"})
        response.raise_for_status()
        if response.json()["items"]:
            return True
    return False


async def run_config(
    name: str,
    n_replicas: int,
    database: Callable[[Path], contextlib.AbstractAsyncContextManager[str]],
    args: argparse.Namespace,
    providers: Sequence[str],
) -> Result:
    result = Result(name, n_replicas, args.pipelines, expected_tasks=3 * args.pipelines)
    replicas: list[Replica] = []
    print(f"\n== {name}", flush=True)
    await wait_for_quiet(args.quiet_wait)
    async with sandbox_process(args.task_seconds) as sandbox:
        with tempfile.TemporaryDirectory(prefix="reelay-bench-") as tmp_name:
            tmp = Path(tmp_name)
            async with database(tmp) as database_url:
                try:
                    for i in range(n_replicas):
                        env = replica_env(
                            database_url, tmp / "data", sandbox, args.task_seconds, args.code
                        )
                        replicas.append(await start_replica(i, env, tmp))
                        await until_healthy(replicas[-1])
                    await drive(result, replicas, database_url, sandbox, args, providers)
                except Exception as exc:  # report, stop the processes, go on to the next one
                    result.problems.append(f"{type(exc).__name__}: {exc}")
                finally:
                    for replica in replicas:
                        measure(replica)
                    await asyncio.gather(*(stop_replica(r) for r in replicas))
                report_replicas(result, replicas)
    print_result(result)
    return result


async def drive(
    result: Result,
    replicas: list[Replica],
    database_url: str,
    sandbox: str,
    args: argparse.Namespace,
    providers: Sequence[str],
) -> None:
    transport = AiohttpTransport(max_connections=2 * CONCURRENCY)
    async with httpx.AsyncClient(transport=transport, timeout=60) as client:
        gate = asyncio.Semaphore(CONCURRENCY)
        requests = [
            body(providers[n % len(providers)], n).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
            for n in range(args.pipelines)
        ]

        async def create(n: int) -> None:
            api = replicas[n % len(replicas)].api_url
            async with gate:
                try:
                    response = await client.post(api + "/v1/pipelines", json=requests[n])
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code in (200, 201):
                        return
                    error = f"HTTP {response.status_code}: {response.text[:200]}"
            result.create_errors += 1
            result.create_error_sample = result.create_error_sample or error

        database = database_url.rsplit("/", 1)[1] if database_url.startswith("postgres") else None
        procs0 = processes(database)
        busy0, total0 = machine_ticks()
        start_epoch = time.time()
        start = time.perf_counter()
        await asyncio.gather(*(create(n) for n in range(args.pipelines)))
        result.created_s = time.perf_counter() - start
        deadline = start + args.timeout
        last_error = ""
        while True:
            dead = [r.index for r in replicas if r.proc.returncode is not None]
            if dead:
                elapsed = time.perf_counter() - start
                result.problems.append(f"replica(s) {dead} exited {elapsed:.1f} s into the run")
                break
            try:
                if not await unfinished(client, replicas[0].api_url):
                    result.wall_s = time.perf_counter() - start
                    break
            except httpx.HTTPError as exc:  # a replica going down: the next turn says which
                last_error = f"; last completion check: {type(exc).__name__}: {exc}"
            if time.perf_counter() > deadline:
                result.problems.append(
                    f"pipelines unfinished after {args.timeout:.0f} s{last_error}"
                )
                break
            await asyncio.sleep(CHECK_EVERY_S)
        busy1, total1 = machine_ticks()
        procs1 = processes(database)
        if result.wall_s is not None:
            result.machine_busy = (busy1 - busy0) / max(1, total1 - total0)
            result.cpu_split = cpu_split(
                procs0,
                procs1,
                {r.proc.pid for r in replicas},
                (busy1 - busy0) / os.sysconf("SC_CLK_TCK"),
            )
        for replica in replicas:  # peak RSS and CPU as of the end of the measured run
            measure(replica)

        # What was reached, even when the run stopped early: ask a replica that is still up.
        alive = [r for r in replicas if r.proc.returncode is None]
        if not alive:
            raise RuntimeError("no replica left to list the pipelines")
        pipelines = await all_pipelines(client, alive[0].api_url)
        response = await client.get(sandbox + "/_sandbox/tasks")
        response.raise_for_status()
        tasks: list[dict[str, Any]] = response.json()

    result.statuses = collections.Counter(p["status"] for p in pipelines)
    result.statuses["(not listed)"] = args.pipelines - len(pipelines)
    result.tasks = len(tasks)
    result.resubmitted = sum(1 for t in tasks if t["submit_count"] > 1)
    known = {t["task_id"] for t in tasks}
    steps = [s for p in pipelines for s in p["steps"]]
    result.missing_tasks = sum(1 for s in steps if s["provider_task_id"] not in known)
    result.kept_videos = sum(1 for s in steps if s.get("artifact"))
    done = [parse_ts(s["completed_at"]) for s in steps if s["completed_at"]]
    result.last_step_s = max(done) - start_epoch if done else None
    finished = [parse_ts(p["updated_at"]) for p in pipelines if p["status"] in FINISHED]
    result.last_finish_s = max(finished) - start_epoch if finished else None


def report_replicas(result: Result, replicas: list[Replica]) -> None:
    for replica in replicas:
        result.rss_mib.append(replica.peak_rss_mib)
        result.cpu_s.append(replica.cpu_s)
        result.exit_codes.append(replica.exit_code)
        levels, distinct, raw = read_log(replica)
        result.log_levels.append(levels)
        failed = replica.exit_code not in (0, -signal.SIGTERM) or replica.killed
        if failed:
            how = "killed after SIGTERM timed out" if replica.killed else "exit code"
            result.problems.append(f"replica {replica.index}: {how} {replica.exit_code}")
        if distinct:
            print(f"   replica {replica.index} log, distinct messages (most frequent first):")
            for line in distinct:
                print(f"     {line}")
        if failed or levels.get("non-JSON") or (raw and result.problems):
            kept = Path(tempfile.gettempdir()) / (
                f"reelay-bench-{os.getpid()}-{slug(result.name)}-replica{replica.index}.log"
            )
            shutil.copyfile(replica.log_path, kept)
            print(f"   replica {replica.index} log ({len(raw)} lines, kept as {kept}), last lines:")
            for line in raw[-LOG_TAIL:]:
                print(f"     | {line[:300]}")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def mib(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "?"


def print_result(r: Result) -> None:
    def fmt(value: float | None, spec: str) -> str:
        return format(value, spec) if value is not None else "-"

    print(f"   created in        {r.created_s:.2f} s  (create errors: {r.create_errors})")
    if r.create_error_sample:
        print(f"   first create error: {r.create_error_sample}")
    print(
        f"   wall time         {fmt(r.wall_s, '.2f')} s  "
        f"(last task done at the provider {fmt(r.last_step_s, '.2f')} s, "
        f"last pipeline finished in reelay {fmt(r.last_finish_s, '.2f')} s)"
    )
    print(f"   steps per second  {fmt(r.steps_per_s, '.0f')}")
    print(
        f"   machine CPU busy  {fmt(r.machine_busy and r.machine_busy * 100, '.0f')} % of all cores"
    )
    if r.cpu_split:
        parts = ", ".join(f"{name} {value:.1f}" for name, value in r.cpu_split.items())
        print(f"   CPU s in the run  {parts}")
    for i, (rss, cpu) in enumerate(zip(r.rss_mib, r.cpu_s, strict=True)):
        levels = ", ".join(f"{k} {v}" for k, v in sorted(r.log_levels[i].items())) or "empty"
        print(
            f"   replica {i}         peak RSS {mib(rss)} MiB, CPU {fmt(cpu, '.1f')} s since start, "
            f"exit {r.exit_codes[i]}, log: {levels}"
        )
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()) if v)
    print(f"   pipelines         {statuses or '-'}")
    print(
        f"   sandbox tasks     {r.tasks} (expected {r.expected_tasks}); "
        f"submitted more than once: {r.resubmitted}; steps without a task: {r.missing_tasks}"
    )
    print(f"   videos kept       {r.kept_videos} of {r.steps} (downloads go on in the background)")
    for problem in r.problems:
        print(f"   PROBLEM: {problem}")
    print(f"   correct           {'yes' if r.ok else 'NO'}", flush=True)


def print_table(results: list[Result], args: argparse.Namespace, providers: Sequence[str]) -> None:
    print(
        f"\n{args.pipelines} pipelines x 3 steps ({', '.join(providers)}), "
        f"task {args.task_seconds} s, {os.cpu_count()} cores shared by everything"
    )
    header = (
        f"{'configuration':<26}{'wall s':>8}{'steps/s':>9}{'CPU busy':>10}"
        f"{'peak RSS MiB':>16}{'failed':>8}{'resubmits':>11}{'tasks':>7}  correct"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        failed = r.pipelines - r.statuses.get("succeeded", 0)
        busy = f"{r.machine_busy * 100:.0f} %" if r.machine_busy is not None else "-"
        print(
            f"{r.name:<26}"
            f"{(f'{r.wall_s:.2f}' if r.wall_s else '-'):>8}"
            f"{(f'{r.steps_per_s:.0f}' if r.steps_per_s else '-'):>9}"
            f"{busy:>10}"
            f"{' + '.join(mib(m) for m in r.rss_mib) or '-':>16}"
            f"{failed:>8}{r.resubmitted:>11}{r.tasks:>7}  {'yes' if r.ok else 'NO'}"
        )

    def ratio(label: str, a: Result, b: Result) -> None:
        if a.wall_s and b.wall_s:
            print(
                f"{label:<12} wall {a.wall_s / b.wall_s:.2f}x, steps/s {b.wall_s / a.wall_s:.2f}x"
            )
        else:
            print(f"{label:<12} -")

    by_name = {r.name: r for r in results}
    sqlite, pg1, pg2 = (by_name.get(name) for name in CONFIG_NAMES)
    if sqlite and pg1:
        ratio("PG1/SQLite", pg1, sqlite)
    if pg1 and pg2:
        ratio("PG2/PG1", pg2, pg1)


async def main(args: argparse.Namespace) -> int:
    providers = [args.provider] if args.provider else list(PROVIDER_NAMES)
    with tempfile.TemporaryDirectory(prefix="reelay-code-") as code:
        args.code = Path(code)
        print(f"replicas run a copy of {snapshot(args.code, args.code_ref)}", flush=True)
        return await run_all(args, providers)


async def run_all(args: argparse.Namespace, providers: Sequence[str]) -> int:
    configs: list[
        tuple[str, int, Callable[[Path], contextlib.AbstractAsyncContextManager[str]]]
    ] = [
        (CONFIG_NAMES[0], 1, sqlite_database),
        (CONFIG_NAMES[1], 1, postgres_database),
        (CONFIG_NAMES[2], 2, postgres_database),
    ]
    keys = args.configs.split(",")
    if unknown := set(keys) - set(CONFIG_KEYS):
        raise SystemExit(f"--configs: unknown {', '.join(sorted(unknown))}")
    chosen = [configs[CONFIG_KEYS.index(key)] for key in keys]
    results = [await run_config(name, n, db, args, providers) for name, n, db in chosen]
    print_table(results, args, providers)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--task-seconds", type=float, default=0.2)
    parser.add_argument("--provider", choices=PROVIDER_NAMES)
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="give up on a configuration after this"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180.0,
        metavar="S",
        help="before each configuration, wait up to S s for the machine to be mostly idle",
    )
    parser.add_argument(
        "--configs",
        default=",".join(CONFIG_KEYS),
        help=f"comma-separated, of {', '.join(CONFIG_KEYS)} (default: all three)",
    )
    parser.add_argument(
        "--code-ref",
        metavar="REF",
        help="run the replicas on orchestrator/ and receiver/ of this git ref "
        "(default: a copy of the working tree)",
    )
    sys.exit(eventloop.run(main(parser.parse_args())))
