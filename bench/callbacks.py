"""Benchmark: provider callbacks — ingest throughput, durability under kill -9, and latency.

    python bench/callbacks.py [--seconds 10] [--connections 64] [--pipelines 5000] [--rate 500]
                              [--loadgen auto|wrk|python] [--parts ABC]

A. Throughput: reelay's public receiver (token check, capped body, apixo parse, batched durable
   record, 200) against a bare Starlette endpoint that only answers 200, same load generator,
   one run. Every callback names a distinct step in state 'submitted'. Target: ratio >= 0.50.
B. Durability: the receiver is killed with SIGKILL at a random moment under load; every
   callback that was answered 200 must have its row in ``callbacks``. Target: 0 missing.
C. Latency: ``reelay serve`` against the sandbox (its own callbacks dropped); we send each base
   step's success callback at a steady rate and measure callback sent -> the sandbox accepting
   the extend's submit. Target: p99 <= 20 ms. Beside it: the serve process's CPU per callback,
   and where the milliseconds go, segment by segment, from timestamps reelay keeps anyway (the
   callback's ``received_at``, the events' ``created_at``, the sandbox task's ``created_at``).
   reelay and the sandbox run from a copy of the working tree taken when part C starts.

Every server runs in its own process: servers pinned to CPU 0, load generators (and the
sandbox, in C) to CPU 1, when ``taskset`` is available. uvicorn runs on uvloop + httptools with
the access log off. Not a test: it prints numbers, and whether each target was met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import aiohttp
import httpx

from orchestrator.common import eventloop
from orchestrator.common.ports import free_port
from orchestrator.domain.callbacks import CallbackTarget
from orchestrator.domain.models import Pipeline, PipelineStatus, PipelineView, Step, StepStatus
from orchestrator.domain.values import VideoParams
from orchestrator.settings import PROVIDER_NAMES
from orchestrator.store import Transaction, open_store
from receiver.tokens import CallbackTokens

if __package__ in (None, ""):  # run as ``python bench/callbacks.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.replicas import snapshot

BENCH = Path(__file__).resolve().parent
SERVER_CPU, LOADGEN_CPU = 0, 1
MAX_AGE_S = 7 * 24 * 3600
PREFIX = {
    "apimart": "/apimart",
    "octopusx": "/octopusx",
    "apixo": "/apixo/api/v1",
    "apifree": "/apifree",
}
RESULT_JSON = json.dumps({"resultUrls": ["https://x/y.mp4"]}, separators=(",", ":"))

TARGET_RATIO = 0.50
TARGET_P99_MS = 20.0

WRK_SCRIPT = r"""
-- Written by bench/callbacks.py. Cycles through a list of "path<TAB>body" lines, thread k of n
-- sending list entries offset + k, offset + k + n, ... so that every request is distinct.
local reqs = {}
local count = 0
local next_i = 0
local stride = 1
local threads = {}
local thread_id = 0
sent = 0

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  local host = wrk.headers["Host"]
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    local headers = {["Host"] = host, ["Content-Type"] = "application/json"}
    count = count + 1
    reqs[count] = wrk.format("POST", line:sub(1, tab - 1), headers, line:sub(tab + 1))
  end
  stride = tonumber(args[3])
  next_i = tonumber(args[2]) + id
end

function request()
  local k = next_i % count + 1
  next_i = next_i + stride
  sent = sent + 1
  return reqs[k]
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("sent") end
  local e = summary.errors
  io.write(string.format("BENCH sent=%d completed=%d status_errors=%d socket_errors=%d\n",
    total, summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


# ---------------------------------------------------------------------------------------------
# Processes


def can_pin() -> bool:
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def pinned(cpu: int, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if can_pin() else list(argv)


class Processes:
    """Every process this benchmark starts (stderr to a log file each); ``close`` ends those
    still running: SIGTERM, then SIGKILL after a grace period."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: dict[int, Path] = {}

    def start(
        self,
        argv: Sequence[str],
        *,
        cpu: int,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdout: int | IO[bytes] | None = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        words = [a for a in argv[1:] if not a.startswith("-")]
        label = Path(words[0]).stem if argv[0] == sys.executable and words else Path(argv[0]).name
        log = self._log_dir / f"{len(self._procs):02d}-{label}.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                pinned(cpu, argv), env=env, cwd=cwd, stdout=stdout, stderr=stderr
            )
        self._procs.append(proc)
        self._logs[proc.pid] = log
        return proc

    def log_tail(self, proc: subprocess.Popen[bytes]) -> str:
        log = self._logs.get(proc.pid)
        if log is None or not log.exists():
            return ""
        return log.read_bytes()[-2000:].decode(errors="replace")

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)

    def close(self) -> None:
        for proc in reversed(self._procs):
            self.stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def wait_http(
    url: str, proc: subprocess.Popen[bytes], procs: Processes, within: float = 30.0
) -> None:
    deadline = time.monotonic() + within
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited before serving {url}:\n{procs.log_tail(proc)}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.05)
    raise RuntimeError(f"{url} not up within {within} s")


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


# ---------------------------------------------------------------------------------------------
# Callbacks: steps in the store, and the requests that report them done


def task_id_for(i: int) -> str:
    return f"task_bench{i:07d}"


def apixo_callback(task_id: str) -> bytes:
    body = {
        "code": 200,
        "message": "success",
        "data": {
            "taskId": task_id,
            "state": "success",
            "resultJson": RESULT_JSON,
            "createTime": 1700000000000,
            "completeTime": 1700000001000,
            "costTime": 1000,
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def write_requests(path: Path, tokens: CallbackTokens, items: Sequence[tuple[str, str]]) -> None:
    """One line per (pipeline id, task id): ``/callbacks/apixo/<token><TAB><body>``."""
    with path.open("wb") as f:
        for pipeline_id, task_id in items:
            token = tokens.mint(CallbackTarget(pipeline_id, 0, "apixo"))
            f.write(f"/callbacks/apixo/{token}\t".encode() + apixo_callback(task_id) + b"\n")


async def prepare_store(database_url: str, count: int) -> list[tuple[str, str]]:
    """``count`` pipelines of one apixo generate step, submitted, with a provider task id."""
    store = await open_store(database_url)
    now = time.time()
    params = VideoParams()
    items = [(f"pl_bench{i:07d}", task_id_for(i)) for i in range(count)]

    def view(pipeline_id: str, task_id: str) -> PipelineView:
        pipeline = Pipeline(pipeline_id, "apixo", PipelineStatus.RUNNING, now, now)
        step = Step(
            pipeline_id=pipeline_id,
            index=0,
            provider="apixo",
            kind="generate",
            parent=None,
            prompt="bench",
            model="fast",
            params=params,
            provider_options={},
            status=StepStatus.SUBMITTED,
            created_at=now,
            updated_at=now,
            provider_task_id=task_id,
            callback_mode=True,
            progress=0,
            attempts=1,
            next_at=now + 3600,
            submitted_at=now,
        )
        return PipelineView(pipeline, (step,))

    try:
        for start in range(0, count, 5000):
            chunk = [view(p, t) for p, t in items[start : start + 5000]]

            # Seeded rows, not transitions: no events, messages or downloads.
            async def job(tx: Transaction, chunk: Any = chunk) -> None:
                await tx.pipelines.write(
                    new_pipelines=[v.pipeline for v in chunk],
                    new_steps=[s for v in chunk for s in v.steps],
                )

            await store.run(job)
    finally:
        await store.close()
    return items


# ---------------------------------------------------------------------------------------------
# Load generators


class Loadgen:
    def __init__(self, kind: str, procs: Processes, tmp: Path) -> None:
        self.kind = kind
        self.procs = procs
        self.lua = tmp / "callbacks.lua"
        self.lua.write_text(WRK_SCRIPT)

    def describe(self) -> str:
        if self.kind == "wrk":
            version = subprocess.run(
                ["wrk", "--version"], capture_output=True, text=True, check=False
            ).stdout.splitlines()
            name = version[0].split(" [")[0] if version else "wrk"
            return f"{name}, 1 thread, Lua script cycling distinct callbacks"
        why = "chosen with --loadgen python" if shutil.which("wrk") else "wrk not installed"
        return (
            f"Python aiohttp generator, bench/_loadgen.py ({why}); one Python core tops out "
            "near the bare server's rate, so the bare figure and the ratio may be "
            "generator-bound (apt-get install wrk)"
        )

    def run(
        self, url: str, requests: Path, offset: int, seconds: float, connections: int
    ) -> dict[str, Any]:
        """Closed loop for ``seconds``: req/s answered 200, requests sent, failures."""
        if self.kind == "wrk":
            argv = [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                str(self.lua),
                url,
                "--",
                str(requests),
                str(offset),
                "1",
            ]
            out = self._output(argv)
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
            m = re.search(
                r"BENCH sent=(\d+) completed=(\d+) status_errors=(\d+) socket_errors=(\d+)", out
            )
            if m is None:
                raise RuntimeError(f"unexpected wrk output:\n{out}")
            sent, completed, status_errors, socket_errors = map(int, m.groups())
            lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.MULTILINE))
            return {
                "rps": rps * (completed - status_errors) / max(completed, 1),
                "sent": sent,
                "failed": status_errors + socket_errors,
                "p50": lat.get("50", "?"),
                "p99": lat.get("99", "?"),
            }
        argv = python(
            str(BENCH / "_loadgen.py"),
            "closed",
            "--url",
            url,
            "--requests",
            str(requests),
            "--offset",
            str(offset),
            "--duration",
            str(seconds),
            "--connections",
            str(connections),
        )
        summary = json.loads(self._output(argv).strip().splitlines()[-1])["summary"]
        return {
            "rps": summary["rps"],
            "sent": summary["sent"],
            "failed": summary["non200"] + summary["errors"],
            "p50": "-",
            "p99": "-",
        }

    def _output(self, argv: list[str]) -> str:
        proc = self.procs.start(argv, cpu=LOADGEN_CPU, stdout=subprocess.PIPE)
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            text = out.decode(errors="replace")[-1000:] + self.procs.log_tail(proc)
            raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {text}")
        return out.decode()


# ---------------------------------------------------------------------------------------------
# A. Throughput


def receiver_argv(mode: str, port: int, database_url: str, secret: str) -> list[str]:
    argv = python(str(BENCH / "_receiver_only.py"), "--mode", mode, "--port", str(port))
    if mode == "receiver":
        argv += ["--database-url", database_url, "--secret", secret]
    return argv


def part_a(
    args: argparse.Namespace,
    procs: Processes,
    loadgen: Loadgen,
    requests: Path,
    listed: int,
    database_url: str,
    secret: str,
) -> dict[str, Any]:
    print(
        f"\nA. Throughput: {args.connections} connections, {args.warmup:g} s warm-up + "
        f"{args.seconds:g} s measured per server"
    )
    results: dict[str, dict[str, Any]] = {}
    offset = 0
    for mode in ("bare", "receiver"):
        port = free_port()
        server = procs.start(receiver_argv(mode, port, database_url, secret), cpu=SERVER_CPU)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/healthz", server, procs)
            warm = loadgen.run(url, requests, offset, args.warmup, args.connections)
            if mode == "receiver":
                offset += warm["sent"]
            cpu0 = cpu_seconds(server.pid)
            result = loadgen.run(url, requests, offset, args.seconds, args.connections)
            cpu1 = cpu_seconds(server.pid)
            served = result["rps"] * args.seconds
            if cpu0 is not None and cpu1 is not None and served:
                result["cpu_us"] = (cpu1 - cpu0) / served * 1e6
            if mode == "receiver":
                offset += result["sent"]
        finally:
            procs.stop(server)
        if server.returncode not in (0, -signal.SIGTERM):
            print(f"   {mode} server exited with {server.returncode}: {procs.log_tail(server)}")
        results[mode] = result
        label = "bare Starlette (200 only)" if mode == "bare" else "callback ingest (receiver)"
        print(
            f"   {label:<28} {result['rps']:>9,.0f} req/s   "
            f"latency p50 {result['p50']:>8} p99 {result['p99']:>8}   "
            f"failed {result['failed']} | CPU {result.get('cpu_us', float('nan')):.0f} us per "
            "request (server process)"
        )
    ratio = results["receiver"]["rps"] / results["bare"]["rps"]
    distinct = "yes" if offset <= listed else f"NO: list of {listed} wrapped, {offset} sent"
    print(f"   distinct steps per callback: {distinct}")
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"   ratio ingest / bare          {ratio:.2f}   target >= {TARGET_RATIO:.2f}: {verdict}")
    return {"bare": results["bare"]["rps"], "receiver": results["receiver"]["rps"], "ratio": ratio}


# ---------------------------------------------------------------------------------------------
# B. Durability


def part_b(
    args: argparse.Namespace,
    procs: Processes,
    requests: Path,
    items: Sequence[tuple[str, str]],
    db_path: Path,
    database_url: str,
    secret: str,
    tmp: Path,
) -> dict[str, Any]:
    print("\nB. Durability: kill -9 of the receiver under load (Python generator, records 200s)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    acked_file = tmp / "acked.txt"
    server = procs.start(receiver_argv("receiver", port, database_url, secret), cpu=SERVER_CPU)
    wait_http(url + "/healthz", server, procs)
    argv = python(
        str(BENCH / "_loadgen.py"),
        "closed",
        "--url",
        url,
        "--requests",
        str(requests),
        "--duration",
        "120",
        "--connections",
        str(args.connections),
        "--progress",
        "--stop-on-error",
        "--acked-out",
        str(acked_file),
    )
    gen = procs.start(argv, cpu=LOADGEN_CPU, stdout=subprocess.PIPE)
    assert gen.stdout is not None
    threshold = args.kill_after
    acked_at_threshold = 0
    for raw in gen.stdout:
        line = raw.decode().strip()
        if line.startswith("acked ") and int(line.split()[1]) >= threshold:
            acked_at_threshold = int(line.split()[1])
            break
        if line.startswith("{"):
            break
    delay = random.uniform(0.0, args.kill_window)
    time.sleep(delay)
    running = gen.poll() is None
    os.kill(server.pid, signal.SIGKILL)
    server.wait(10)
    rest, _ = gen.communicate(timeout=120)
    summary_lines = [ln for ln in rest.decode().splitlines() if ln.startswith("{")]
    summary = json.loads(summary_lines[-1])["summary"] if summary_lines else {}
    acked = [int(x) for x in acked_file.read_text().split()] if acked_file.exists() else []
    acked_tasks = {items[i][1] for i in acked}
    found: set[str] = set()
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        ids = sorted(acked_tasks)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT task_id FROM callbacks WHERE provider = 'apixo' AND task_id IN ({marks})",
                chunk,
            ).fetchall()
            found |= {r[0] for r in rows}
        b_tasks = [t for _, t in items]
        total_rows = 0
        for start in range(0, len(b_tasks), 500):
            chunk = b_tasks[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            total_rows += db.execute(
                f"SELECT COUNT(*) FROM callbacks WHERE provider = 'apixo' AND task_id IN ({marks})",
                chunk,
            ).fetchone()[0]
    missing = len(acked_tasks - found)
    print(
        f"   killed {delay:.2f} s after {acked_at_threshold:,} acks "
        f"(generator still sending: {'yes' if running else 'NO'}); "
        f"requests sent {summary.get('sent', '?'):,}, non-200 before the kill "
        f"{summary.get('non200', '?')}, connection errors {summary.get('errors', '?')}"
    )
    print(f"   acknowledged (200)           {len(acked):,}")
    print(f"   their rows in callbacks      {len(found):,}")
    print(
        f"   rows for unacknowledged ones {total_rows - len(found):,} "
        "(committed, answer lost to the kill: fine, the provider retries)"
    )
    verdict = "met" if missing == 0 and acked else "MISSED"
    print(f"   missing                      {missing}   target 0: {verdict}")
    return {"acked": len(acked), "found": len(found), "missing": missing}


# ---------------------------------------------------------------------------------------------
# C. Latency


def reelay_env(
    tmp: Path, sandbox: str, api_port: int, public_port: int, secret: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELAY_")}
    env |= {
        "REELAY_DATABASE_URL": f"sqlite:///{tmp / 'reelay.db'}",
        "REELAY_DATA_DIR": str(tmp / "data"),
        "REELAY_API_PORT": str(api_port),
        "REELAY_PUBLIC_PORT": str(public_port),
        "REELAY_PUBLIC_URL": f"http://127.0.0.1:{public_port}",
        "REELAY_SIGNING_SECRET": secret,
        "REELAY_LOG_LEVEL": "warning",
    }
    for name in PROVIDER_NAMES:
        prefix = f"REELAY_{name.upper()}_"
        env[prefix + "BASE_URL"] = sandbox + PREFIX[name]
        env[prefix + "API_KEY"] = "k"
        # Never poll before the callback: the callback alone must start the confirmation.
        env[prefix + "FIRST_POLL_S"] = "3600"
        # All base tasks stay in flight until their callback: lift the 1,000 default.
        env[prefix + "MAX_IN_FLIGHT"] = "1000000"
    return env


async def create_pipelines(api: str, count: int, concurrency: int) -> list[str]:
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def create(n: int) -> str:
            body = {"provider": "apixo", "prompt": f"bench {n}", "extends": [{"prompt": f"{n} b"}]}
            async with gate, session.post(f"{api}/v1/pipelines", json=body) as response:
                if response.status != 201:
                    raise RuntimeError(f"create: {response.status} {await response.text()}")
                created: dict[str, Any] = await response.json()
                return str(created["id"])

        return list(await asyncio.gather(*(create(n) for n in range(count))))


async def base_tasks(api: str, sandbox: str, ids: set[str], within: float) -> dict[str, str]:
    """pipeline id -> the provider task id of its base step, once every base is submitted."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{sandbox}/_sandbox/health") as response:
                accepted = (await response.json())["tasks"]
            if accepted >= len(ids):
                found: dict[str, str] = {}
                cursor = None
                while True:
                    params = {"provider": "apixo", "limit": "500"}
                    if cursor:
                        params["cursor"] = cursor
                    async with session.get(f"{api}/v1/pipelines", params=params) as response:
                        page = await response.json()
                    for p in page["items"]:
                        base = p["steps"][0]
                        if p["id"] in ids and base["status"] == "submitted":
                            found[p["id"]] = base["provider_task_id"]
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
                if len(found) == len(ids):
                    return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"base steps not all submitted within {within} s")
            await asyncio.sleep(0.2)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far, from /proc (None where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


# Where the milliseconds of one callback -> extend chain go, from timestamps reelay already keeps.
# Each ``now`` of the engine is taken when a claim or a record *starts*, before its transaction
# runs; so each segment below ends with a stage's stamp and holds the previous stage's commit.
MARKS = ("sent", "received", "succeeded", "submitting", "accepted", "submitted")
SEGMENTS = (
    (
        "receive -> recorded",
        "1 transaction: the intake batch (received_at is stamped inside it, before its "
        "commit); before it the receiver's HTTP, token check, parse, and the wait for the writer",
    ),
    (
        "recorded -> confirmed success",
        "2 transactions + 1 request: the intake's commit, the claim that leases the poll, the "
        "status GET; the record stamps step.succeeded before its own transaction",
    ),
    (
        "success -> extend claimed",
        "1 transaction (+ any claim already running): the record (step succeeded, pipeline "
        "settled, child due, events, downloads); the claim stamps step.submitting before its own",
    ),
    (
        "claimed -> sandbox accepted",
        "1 transaction + 1 request: the claim's (budget admission, step submitting), then the "
        "submit POST until the sandbox stores the task",
    ),
    (
        "(after) accepted -> submit recorded",
        "off the path: the answer queued to the recorder, which stamps step.submitted before "
        "its (5th) transaction",
    ),
)


def chain_marks(
    db_path: Path,
    rows: Sequence[dict[str, Any]],
    order: Sequence[str],
    tasks: dict[str, str],
    extends: dict[str, dict[str, Any]],
) -> list[dict[str, float]]:
    """Per callback, the epoch seconds of each of ``MARKS`` that was found: the send, its row's
    ``received_at``, the base's ``step.succeeded``, the extend's ``step.submitting``, the sandbox
    task's ``created_at``, the extend's ``step.submitted``."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        received = dict(
            db.execute(
                "SELECT pipeline_id, MIN(received_at) FROM callbacks WHERE step_idx = 0 "
                "GROUP BY pipeline_id"
            ).fetchall()
        )
        events = {
            (pid, idx, kind): at
            for pid, idx, kind, at in db.execute(
                "SELECT pipeline_id, step_idx, type, MIN(created_at) FROM events WHERE type IN "
                "('step.succeeded', 'step.submitting', 'step.submitted') "
                "GROUP BY pipeline_id, step_idx, type"
            ).fetchall()
        }
    found = []
    for row in rows:
        pid = order[row["index"]]
        task = extends.get(tasks[pid])
        stamps = {
            "sent": row["sent"],
            "received": received.get(pid),
            "succeeded": events.get((pid, 0, "step.succeeded")),
            "submitting": events.get((pid, 1, "step.submitting")),
            "accepted": task["created_at"] if task else None,
            "submitted": events.get((pid, 1, "step.submitted")),
        }
        found.append({k: float(v) for k, v in stamps.items() if v is not None})
    return found


def print_breakdown(marks: Sequence[dict[str, float]], cpu_ms: float | None) -> None:
    complete = [m for m in marks if all(k in m for k in MARKS)]
    print(
        f"   where the milliseconds go ({len(complete):,} of {len(marks):,} chains with every "
        "timestamp; p50 and p99 of each segment on its own):"
    )
    print(f"     {'segment':<36}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}  transactions in it")
    for (name, what), (start, end) in zip(SEGMENTS, itertools.pairwise(MARKS), strict=True):
        spans = [(m[end] - m[start]) * 1000 for m in complete]
        if not spans:
            continue
        print(
            f"     {name:<36}{percentile(spans, 50):8.1f}{percentile(spans, 99):8.1f}"
            f"{max(spans):8.1f}  {what}"
        )
    whole = [(m["accepted"] - m["sent"]) * 1000 for m in complete]
    if whole:
        p50s = sum(
            percentile([(m[b] - m[a]) * 1000 for m in complete], 50)
            for a, b in itertools.pairwise(MARKS[:5])
        )
        beside = f" | CPU {cpu_ms:.2f} ms per callback" if cpu_ms is not None else ""
        print(
            f"     {'sent -> sandbox accepted (whole)':<36}{percentile(whole, 50):8.1f}"
            f"{percentile(whole, 99):8.1f}{max(whole):8.1f}  4 transactions + 2 requests in a "
            f"row (sum of the four p50s: {p50s:.1f} ms){beside}"
        )


def part_c(args: argparse.Namespace, procs: Processes, tmp: Path, secret: str) -> dict[str, Any]:
    n = args.pipelines
    print(
        f"\nC. Latency: callback -> next extend's submit reaching the provider, "
        f"{n:,} pipelines, {args.rate:g} callbacks/s open loop"
    )
    sandbox_port, api_port, public_port = free_port(), free_port(), free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    api = f"http://127.0.0.1:{api_port}"
    public = f"http://127.0.0.1:{public_port}"
    # reelay and the sandbox run from a copy: edits to the working tree meanwhile don't reach them.
    code = tmp / "code"
    print(f"   reelay and the sandbox run a copy of {snapshot(code, None)}")
    code_env = {**os.environ, "PYTHONPATH": str(code)}
    sb = procs.start(
        python(
            "-m", "orchestrator.cli", "sandbox", "--port", str(sandbox_port), "--task-seconds", "0"
        ),
        cpu=LOADGEN_CPU,
        cwd=tmp,
        env=code_env,
    )
    wait_http(sandbox + "/_sandbox/health", sb, procs)
    httpx.post(sandbox + "/_sandbox/config", json={"drop_callback_rate": 1.0}).raise_for_status()
    env = reelay_env(tmp, sandbox, api_port, public_port, secret)
    env["PYTHONPATH"] = str(code)
    reelay = procs.start(
        python("-m", "orchestrator.cli", "serve"), cpu=SERVER_CPU, env=env, cwd=tmp
    )
    wait_http(api + "/healthz", reelay, procs)
    wait_http(public + "/healthz", reelay, procs)

    started = time.perf_counter()
    ids = eventloop.run(create_pipelines(api, n, 32))
    created = time.perf_counter() - started
    tasks = eventloop.run(base_tasks(api, sandbox, set(ids), within=300))
    submitted = time.perf_counter() - started
    print(
        f"   setup: {n:,} pipelines created in {created:.1f} s, "
        f"bases submitted in {submitted:.1f} s"
    )
    time.sleep(1.0)  # let the engine go idle
    idle_before = cpu_seconds(reelay.pid)
    time.sleep(2.0)
    idle_after = cpu_seconds(reelay.pid)
    if idle_before is not None and idle_after is not None:
        idle = (idle_after - idle_before) / 2.0
        note = "" if idle < 0.05 else "  <- busy while idle: something polls in a loop"
        print(f"   reelay CPU while idle, before the callbacks: {idle:.0%} of its core{note}")

    tokens = CallbackTokens([secret], max_age_s=MAX_AGE_S)
    order = list(ids)
    requests = tmp / "latency.tsv"
    write_requests(requests, tokens, [(pid, tasks[pid]) for pid in order])
    out = tmp / "latency.json"
    argv = python(
        str(BENCH / "_loadgen.py"),
        "paced",
        "--url",
        public,
        "--requests",
        str(requests),
        "--rate",
        str(args.rate),
        "--connections",
        "64",
        "--out",
        str(out),
    )
    cpu_before = cpu_seconds(reelay.pid)
    gen = procs.start(argv, cpu=LOADGEN_CPU, stdout=subprocess.PIPE)
    stdout, _ = gen.communicate(timeout=600)
    if gen.returncode != 0:
        raise RuntimeError(f"generator failed: {procs.log_tail(gen)}")
    gen_summary = json.loads(stdout.decode().strip().splitlines()[-1])["summary"]
    rows = json.loads(out.read_text())

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for proc in (sb, reelay):
            if proc.poll() is not None:
                raise RuntimeError(f"a server exited ({proc.returncode}): {procs.log_tail(proc)}")
        if httpx.get(sandbox + "/_sandbox/health").json()["tasks"] >= 2 * n:
            break
        time.sleep(0.2)
    cpu_after = cpu_seconds(reelay.pid)
    listing = httpx.get(sandbox + "/_sandbox/tasks", params={"provider": "apixo"}, timeout=60)
    if args.keep_dir:
        (tmp / "sandbox_tasks.json").write_text(listing.text)
    extends = {t["source_task_id"]: t for t in listing.json() if t["kind"] == "extend"}
    latencies, from_due = [], []
    for row in rows:
        task = extends.get(tasks[order[row["index"]]])
        if task is not None:
            latencies.append((task["created_at"] - row["sent"]) * 1000)
            from_due.append((task["created_at"] - row["due"]) * 1000)
    acks = [(r["answered"] - r["sent"]) * 1000 for r in rows if r["status"] == 200]
    repeated = sum(t["submit_count"] > 1 for t in extends.values())
    ms = {p: percentile(latencies, p) for p in (50, 90, 99)} if latencies else {}
    print(
        f"   callbacks sent {gen_summary['sent']:,}, answered 200 {gen_summary['ok']:,}; "
        f"generator's worst lag behind its schedule {gen_summary['max_send_lag'] * 1000:.1f} ms"
    )
    if acks:
        print(
            f"   callback answered 200 after  p50 {percentile(acks, 50):6.1f} ms   "
            f"p99 {percentile(acks, 99):6.1f} ms   max {max(acks):6.1f} ms"
        )
    cpu_ms = None
    if cpu_before is not None and cpu_after is not None and extends:
        first = min(r["sent"] for r in rows)
        last = max(t["created_at"] for t in extends.values())
        used = cpu_after - cpu_before
        cpu_ms = used / n * 1000
        print(
            f"   reelay process CPU           {cpu_ms:.2f} ms per callback (user+sys of the serve "
            f"process, first callback -> last extend accepted, / {n:,}); {used:.1f} s over the "
            f"{last - first:.1f} s from first callback to last extend "
            f"({used / max(last - first, 1e-9):.0%} of its one core)"
        )
    beside = f" | CPU {cpu_ms:.2f} ms per callback" if cpu_ms is not None else ""
    all_submitted = len(latencies) == n
    print(
        f"   extends submitted            {len(latencies):,} of {n:,}"
        f"{'' if all_submitted else '  (NOT ALL)'}; submitted more than once: {repeated}"
    )
    if not ms:
        print("   no extend was submitted: target MISSED")
        return {"extends": 0}
    print(
        f"   callback -> extend submit    p50 {ms[50]:6.1f} ms   p90 {ms[90]:6.1f} ms   "
        f"p99 {ms[99]:6.1f} ms   max {max(latencies):6.1f} ms{beside}"
    )
    print(
        "   (from the moment each callback was sent; counted from its scheduled time instead, "
        f"p99 is {percentile(from_due, 99):.1f} ms.\n"
        "    It includes the confirming status poll to the provider: an upper bound of "
        "confirmed callback -> extend submit.)"
    )
    verdict = "met" if ms[99] <= TARGET_P99_MS and all_submitted else "MISSED"
    print(
        f"   p99 {ms[99]:.1f} ms   target <= {TARGET_P99_MS:g} ms, all submitted: {verdict}{beside}"
    )
    Processes.stop(reelay)  # its last outcomes recorded: the database is read below
    Processes.stop(sb)
    marks = chain_marks(tmp / "reelay.db", rows, order, tasks, extends)
    print_breakdown(marks, cpu_ms)
    return {"extends": len(latencies), "p50": ms[50], "p99": ms[99], "max": max(latencies)}


# ---------------------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pin = (
        f"servers on CPU {SERVER_CPU}, load generators on CPU {LOADGEN_CPU} (taskset)"
        if can_pin()
        else "NOT pinned (taskset missing or fewer than 2 CPUs)"
    )
    return (
        f"nproc {os.cpu_count()} ({model or platform.machine()}), Python "
        f"{platform.python_version()}; {pin}\nsource: {source_state()}"
    )


def busy_elsewhere(seconds: float = 1.0) -> float:
    """CPU used on this machine (in cores) over ``seconds`` while we do nothing: other work."""

    def busy_idle() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, idle

    try:
        b0, i0 = busy_idle()
        time.sleep(seconds)
        b1, i1 = busy_idle()
    except (OSError, ValueError, IndexError):
        return 0.0
    return (b1 - b0) / max((b1 - b0) + (i1 - i0), 1) * (os.cpu_count() or 1)


def source_state() -> str:
    """The commit measured, and whether product files differ from it (others edit them)."""
    root = BENCH.parent
    imported = Path(eventloop.__file__).resolve().parents[2]
    if imported != root:
        return f"orchestrator imported from {imported}, not from this checkout"
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "orchestrator", "receiver"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    state = f"{len(dirty)} product files modified or added" if dirty else "clean"
    return f"{head[:70]} ({state})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="A: measured per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="A: warm-up per server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100_000, help="A: distinct steps prepared")
    parser.add_argument("--kill-steps", type=int, default=40_000, help="B: steps prepared")
    parser.add_argument("--kill-after", type=int, default=3000, help="B: acks before the kill")
    parser.add_argument("--kill-window", type=float, default=1.5, help="B: random delay, s")
    parser.add_argument("--pipelines", type=int, default=5000, help="C: pipelines")
    parser.add_argument("--rate", type=float, default=500.0, help="C: callbacks per second")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--parts", default="ABC", help="which parts to run, e.g. AB")
    parser.add_argument("--keep-dir", help="keep databases and request lists in this new dir")
    args = parser.parse_args()

    kind = args.loadgen
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    secret = secrets.token_urlsafe(32)
    print(f"machine: {machine()}")
    other = busy_elsewhere()
    if other > 0.1:
        print(
            f"WARNING: {other:.1f} cores already busy with other work before starting: "
            "numbers will be off (each server needs a core of its own)"
        )
    # Unwound in reverse: the processes end before their directory is removed.
    with contextlib.ExitStack() as stack:
        if args.keep_dir:
            tmp = Path(args.keep_dir)
            tmp.mkdir(parents=True, exist_ok=False)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reelay-bench-")))
        procs = Processes(tmp / "logs")
        stack.callback(procs.close)
        loadgen = Loadgen(kind, procs, tmp)
        print(f"load generator (A): {loadgen.describe()}")
        db_path = tmp / "receiver.db"
        database_url = f"sqlite:///{db_path}"
        if "A" in args.parts or "B" in args.parts:
            started = time.perf_counter()
            items = eventloop.run(prepare_store(database_url, args.steps + args.kill_steps))
            tokens = CallbackTokens([secret], max_age_s=MAX_AGE_S)
            a_requests, b_requests = tmp / "a.tsv", tmp / "b.tsv"
            write_requests(a_requests, tokens, items[: args.steps])
            write_requests(b_requests, tokens, items[args.steps :])
            print(
                f"prepared {len(items):,} submitted apixo steps and their callbacks in "
                f"{time.perf_counter() - started:.1f} s"
            )
        if "A" in args.parts:
            part_a(args, procs, loadgen, a_requests, args.steps, database_url, secret)
        if "B" in args.parts:
            b_items = items[args.steps :]
            part_b(args, procs, b_requests, b_items, db_path, database_url, secret, tmp)
        if "C" in args.parts:
            part_c(args, procs, tmp, secret)
        procs.close()
    other = busy_elsewhere()
    if other > 0.1:
        print(f"WARNING: {other:.1f} cores busy with other work after the run: numbers may be off")


if __name__ == "__main__":
    main()
