"""Benchmark: how fast ``reelay serve`` creates pipelines, one per request and in batches.

    python -m bench.creates [--pipelines 10000] [--provider apixo] [--in-flight 50]

One ``reelay serve`` process on SQLite (started as bench/replicas.py starts its replicas, on a
copy of the working tree), pointed at a sandbox process whose tasks last an hour. An aiohttp
client in this process:

(a) creates N pipelines (generate + 2 extends) with ``POST /v1/pipelines``, 64 in flight, each
    with its own Idempotency-Key: pipelines/s, and the serve process's CPU per create (user +
    system, from /proc/<pid>/stat before and after);
(b) creates N more through ``POST /v1/pipelines/batch``, 1,000 per batch, a few batches in
    flight: the same figures.

Then it checks that every pipeline exists once: ``GET /v1/pipelines/counts`` totals 2 N, the
2 N ids answered are distinct, and sending every key again (through the batch route) answers
200 with the same pipeline for each, creating nothing.

The engine runs as in production and is woken by the creates. So that its work does not
dominate the create path, each provider may hold only ``--in-flight`` tasks at once
(``REELAY_<PROVIDER>_MAX_IN_FLIGHT``) and tasks last an hour: the engine submits that many base
generations and keeps the rest pending. The output says what it did.

Not a test: numbers only. Everything shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.pipelines import body, sandbox_process
from bench.replicas import (
    Replica,
    proc_cpu_s,
    read_log,
    replica_env,
    snapshot,
    start_replica,
    stop_replica,
    until_healthy,
    wait_for_quiet,
)
from orchestrator.common import eventloop
from orchestrator.settings import PROVIDER_NAMES

SINGLE_TARGET = 2_000  # pipelines/s
BATCH_TARGET = 20_000
JSON = {"Content-Type": "application/json"}


@dataclass
class Phase:
    name: str
    pipelines: int
    wall_s: float
    cpu_s: float
    ids: dict[str, str]
    """Pipeline id by idempotency key."""
    errors: list[str]

    def line(self, target: int) -> str:
        rate = self.pipelines / self.wall_s
        verdict = "met" if rate >= target else "MISSED"
        return (
            f"{self.name:<28} {self.pipelines} in {self.wall_s:.2f} s: {rate:,.0f} pipelines/s "
            f"(target >= {target:,}: {verdict}); serve CPU {self.cpu_s / self.pipelines * 1e3:.3f} "
            f"ms per pipeline ({self.cpu_s:.2f} s); errors {len(self.errors)}"
        )


def bodies(provider: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    return [
        body(provider, n).model_dump(mode="json", by_alias=True, exclude_none=True)
        for n in range(len(keys))
    ]


async def singles(
    session: aiohttp.ClientSession,
    pid: int,
    keys: list[str],
    requests: list[dict[str, Any]],
    width: int,
) -> Phase:
    ids: dict[str, str] = {}
    errors: list[str] = []
    encoded = [json.dumps(r).encode() for r in requests]
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(keys):
            i = next_index
            next_index += 1
            headers = {**JSON, "Idempotency-Key": keys[i]}
            async with session.post("/v1/pipelines", data=encoded[i], headers=headers) as r:
                answer = await r.read()
                if r.status == 201:
                    ids[keys[i]] = json.loads(answer)["id"]
                else:
                    errors.append(f"HTTP {r.status}: {answer[:200]!r}")

    cpu0, start = proc_cpu_s(pid) or 0.0, time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    wall, cpu1 = time.perf_counter() - start, proc_cpu_s(pid) or 0.0
    return Phase("(a) POST /v1/pipelines", len(keys), wall, cpu1 - cpu0, ids, errors)


async def batches(
    session: aiohttp.ClientSession,
    pid: int,
    keys: list[str],
    requests: list[dict[str, Any]],
    size: int,
    width: int,
    *,
    name: str,
    expect: int,
) -> Phase:
    ids: dict[str, str] = {}
    errors: list[str] = []
    encoded = [
        json.dumps(
            {"items": [{"idempotency_key": k, "pipeline": r} for k, r in zip(ks, rs, strict=True)]}
        ).encode()
        for ks, rs in (
            (keys[s : s + size], requests[s : s + size]) for s in range(0, len(keys), size)
        )
    ]
    gate = asyncio.Semaphore(width)

    async def send(n: int) -> None:
        async with gate, session.post("/v1/pipelines/batch", data=encoded[n], headers=JSON) as r:
            answer = await r.read()
        if r.status != 200:
            errors.append(f"HTTP {r.status}: {answer[:200]!r}")
            return
        for key, item in zip(keys[n * size :], json.loads(answer)["items"], strict=False):
            if item["status"] == expect:
                ids[key] = item["pipeline"]["id"]
            else:
                errors.append(f"item {key}: {item['status']} {str(item)[:200]}")

    cpu0, start = proc_cpu_s(pid) or 0.0, time.perf_counter()
    await asyncio.gather(*(send(n) for n in range(len(encoded))))
    wall, cpu1 = time.perf_counter() - start, proc_cpu_s(pid) or 0.0
    return Phase(name, len(keys), wall, cpu1 - cpu0, ids, errors)


async def get(session: aiohttp.ClientSession, path: str, **params: str) -> Any:
    async with session.get(path, params=params) as r:
        r.raise_for_status()
        return await r.json()


async def drive(args: argparse.Namespace, replica: Replica, sandbox: str) -> bool:
    pid, n = replica.proc.pid, args.pipelines
    single_keys = [f"single-{i}" for i in range(n)]
    batch_keys = [f"batch-{i}" for i in range(n)]
    requests = bodies(args.provider, single_keys)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(replica.api_url, connector=connector, timeout=timeout) as s:
        await wait_for_quiet(args.quiet_wait)
        a = await singles(s, pid, single_keys, requests, args.concurrency)
        print(a.line(SINGLE_TARGET), flush=True)
        await wait_for_quiet(args.quiet_wait)
        b = await batches(
            s,
            pid,
            batch_keys,
            requests,
            args.batch,
            args.batches_in_flight,
            name="(b) POST /v1/pipelines/batch",
            expect=201,
        )
        print(b.line(BATCH_TARGET), flush=True)
        engine = await get(s, "/v1/pipelines/counts")
        async with s.get(sandbox + "/_sandbox/tasks") as r:
            tasks = len(await r.json())
        replay = await batches(
            s,
            pid,
            single_keys + batch_keys,
            requests + requests,
            args.batch,
            args.batches_in_flight,
            name="(c) every key again, batched",
            expect=200,
        )
        counts = await get(s, "/v1/pipelines/counts")
    print(
        f"{replay.name:<28} {replay.pipelines} in {replay.wall_s:.2f} s: "
        f"{replay.pipelines / replay.wall_s:,.0f} items/s, all 200 with the same pipeline: "
        f"{'yes' if not replay.errors and replay.ids == {**a.ids, **b.ids} else 'NO'}"
    )
    created = [*a.ids.values(), *b.ids.values()]
    print(
        f"pipelines stored {counts['total']} (expected {2 * n}); distinct ids answered "
        f"{len(set(created))} of {len(created)}; create errors {len(a.errors) + len(b.errors)}"
    )
    for error in (a.errors + b.errors + replay.errors)[:5]:
        print(f"   error: {error}")
    by_status = ", ".join(f"{k} {v}" for k, v in engine["counts"].items() if v)
    print(
        f"the engine meanwhile: woken by the creates, it submitted {tasks} base generations "
        f"({args.provider} capped at {args.in_flight} tasks in flight; 1-hour sandbox tasks) "
        f"and kept the rest pending; pipelines after (b): {by_status}"
    )
    return (
        not (a.errors or b.errors or replay.errors)
        and counts["total"] == 2 * n
        and len(set(created)) == 2 * n
        and replay.ids == {**a.ids, **b.ids}
    )


async def main(args: argparse.Namespace) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="reelay-code-") as code,
        tempfile.TemporaryDirectory(prefix="reelay-bench-") as tmp_name,
    ):
        print(f"reelay serve runs a copy of {snapshot(Path(code), None)}", flush=True)
        tmp = Path(tmp_name)
        async with sandbox_process(args.task_seconds) as sandbox:
            env = replica_env(
                f"sqlite:///{tmp / 'bench.db'}",
                tmp / "data",
                sandbox,
                args.task_seconds,
                Path(code),
            )
            for name in PROVIDER_NAMES:
                env[f"REELAY_{name.upper()}_MAX_IN_FLIGHT"] = str(args.in_flight)
            replica = await start_replica(0, env, tmp)
            try:
                await until_healthy(replica)
                ok = await drive(args, replica, sandbox)
            finally:
                await stop_replica(replica)
            _, distinct, _ = read_log(replica)
            for line in distinct:
                print(f"   serve log: {line}")
    print(f"correct: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=10_000, help="N, for each of (a), (b)")
    parser.add_argument("--concurrency", type=int, default=64, help="single creates in flight")
    parser.add_argument("--batch", type=int, default=1000, help="pipelines per batch")
    parser.add_argument("--batches-in-flight", type=int, default=4)
    parser.add_argument("--provider", choices=PROVIDER_NAMES, default="apixo")
    parser.add_argument("--task-seconds", type=float, default=3600.0)
    parser.add_argument("--in-flight", type=int, default=50, help="tasks per provider at once")
    parser.add_argument("--quiet-wait", type=float, default=60.0, metavar="S")
    raise SystemExit(eventloop.run(main(parser.parse_args())))
