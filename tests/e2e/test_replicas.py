"""Several `reelay serve` replicas on one PostgreSQL database, behind a round-robin balancer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import PROVIDER_NAMES
from tests.e2e.helpers import (
    all_settled,
    assert_submitted_once,
    chain_body,
    held_after_sending,
    provider_env,
    reelay_process,
    resume_never_sent,
    sandbox_tasks,
)
from tests.eventually import eventually
from tests.loopback import free_port, running_sandbox
from tests.proxy import round_robin_proxy

pytestmark = pytest.mark.postgres

PIPELINES = 200
REPLICAS = 3
POLLING_PIPELINES = 40
POLLING_REPLICAS = 2
REPLICA_TTL_S = 3  # a replica silent this long is dead: its in-flight submits are taken over
CREATE_CONCURRENCY = 16
# Polls a dead replica had leased are due again after the provider timeout (+ 5 s).
PROVIDER_TIMEOUT_S = 5
BUCKET = "reelay-videos"
DOWNLOADS_IN_FLIGHT = 8  # REELAY_ARTIFACT_CONCURRENCY: what a killed replica may leave leased


@contextlib.asynccontextmanager
async def s3_bucket() -> AsyncIterator[dict[str, str]]:
    """An S3-compatible server (moto, on loopback) with an empty bucket; yields reelay's env."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "REELAY_ARTIFACT_S3_BUCKET": BUCKET,
        "REELAY_ARTIFACT_S3_ENDPOINT_URL": f"http://{host}:{port}",
        "REELAY_ARTIFACT_S3_REGION": "us-east-1",
        "REELAY_ARTIFACT_S3_ACCESS_KEY_ID": "testing",
        "REELAY_ARTIFACT_S3_SECRET_ACCESS_KEY": "testing",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["REELAY_ARTIFACT_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    client.close()
    try:
        yield env
    finally:
        server.stop()


class Replica:
    """One `reelay serve` process's ports and environment."""

    def __init__(
        self, n: int, api_port: int, public_port: int, base_env: dict[str, str], data: Path
    ) -> None:
        self.n = n
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.public_port = public_port
        self.proc: asyncio.subprocess.Process | None = None
        self.killed = False
        self.env = {
            **base_env,
            "REELAY_API_PORT": str(api_port),
            "REELAY_PUBLIC_PORT": str(public_port),
            "REELAY_DATA_DIR": str(data / f"replica-{n}"),
        }


def distinct_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return list(ports)


def replicas(count: int, base_env: dict[str, str], data: Path) -> list[Replica]:
    ports = distinct_ports(2 * count)
    return [Replica(n, ports[2 * n], ports[2 * n + 1], base_env, data) for n in range(count)]


def base_environment(database_url: str, sandbox: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("REELAY_")},
        "REELAY_DATABASE_URL": database_url,
        "REELAY_REPLICA_TTL_S": str(REPLICA_TTL_S),
        "REELAY_LOG_LEVEL": "warning",
        **provider_env(sandbox),
        **{f"REELAY_{p.upper()}_TIMEOUT_S": str(PROVIDER_TIMEOUT_S) for p in PROVIDER_NAMES},
    }


@contextlib.asynccontextmanager
async def running(group: list[Replica]) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Start every replica (one after another: each waits to answer /healthz); yields a
    client of each one's API. Stops them all at the end."""
    async with contextlib.AsyncExitStack() as stack:
        for r in group:
            r.proc = await stack.enter_async_context(reelay_process(r.env, r.api_url))
        yield [
            await stack.enter_async_context(httpx.AsyncClient(base_url=r.api_url, timeout=30))
            for r in group
        ]


async def sigkill(replica: Replica) -> None:
    assert replica.proc is not None
    replica.killed = True
    replica.proc.send_signal(signal.SIGKILL)
    await replica.proc.wait()


def assert_alive(group: list[Replica]) -> None:
    """No replica died on its own (a crash, e.g. on a database error, fails the test at once)."""
    for r in group:
        if not r.killed and r.proc is not None and r.proc.returncode is not None:
            raise AssertionError(f"replica {r.n} exited by itself with {r.proc.returncode}")


async def create_pipelines(
    clients: list[httpx.AsyncClient], bodies: list[dict[str, Any]]
) -> list[str]:
    """POST each body to the replicas' APIs in turn (body n to replica n mod len(clients))."""
    limit = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def create(n: int, body: dict[str, Any]) -> str:
        async with limit:
            response = await clients[n % len(clients)].post("/v1/pipelines", json=body)
        assert response.status_code == 201, (
            f"replica {n % len(clients)} answered {response.status_code}: {response.text}"
        )
        pipeline_id: str = response.json()["id"]
        return pipeline_id

    return list(await asyncio.gather(*(create(n, b) for n, b in enumerate(bodies))))


async def fetch_all(client: httpx.AsyncClient, ids: list[str]) -> list[dict[str, Any]]:
    pipelines = []
    for i in ids:
        response = await client.get(f"/v1/pipelines/{i}")
        response.raise_for_status()
        pipelines.append(response.json())
    return pipelines


def summary(pipelines: list[dict[str, Any]]) -> str:
    """Pipeline and step statuses, counted: what a failure message needs."""
    by_pipeline = Counter(p["status"] for p in pipelines)
    by_step = Counter(s["status"] for p in pipelines for s in p["steps"])
    return f"pipelines {dict(by_pipeline)}, steps {dict(by_step)}"


async def settle(
    group: list[Replica],
    client: httpx.AsyncClient,
    ids: list[str],
    sandbox: str,
    *,
    within: float,
    what: str,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Wait until every pipeline is finished or held on ambiguous steps that were never sent
    (those an operator has to resume), while every replica not killed keeps running. A sent
    step is held only until its callback, retried on the provider's schedule, arrives. On a
    timeout, say where the pipelines stand."""
    last = time.monotonic()

    async def settled() -> bool:
        nonlocal last
        assert_alive(group)
        if time.monotonic() - last > 2:
            last = time.monotonic()
            log(f"waiting: {summary(await fetch_all(client, ids))}")
        return await all_settled(client, ids) and not await held_after_sending(client, sandbox)

    try:
        await eventually(settled, within=within, what=what, every=0.25)
    except AssertionError as exc:
        state = summary(await fetch_all(client, ids))
        sent = await held_after_sending(client, sandbox)
        raise AssertionError(f"{exc}: {state}; {sent} ambiguous step(s) were sent") from exc
    assert_alive(group)
    return await fetch_all(client, ids)


def stopwatch() -> Callable[[str], None]:
    """Progress lines stamped with the seconds since now (shown with -s, or on a failure)."""
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.2f} s] {message}")

    return log


async def test_three_replicas_one_sigkilled_every_pipeline_succeeds_once(
    tmp_path: Path, pg_fresh_database: str
) -> None:
    """Three replicas share one database; providers' callbacks reach any of them through a
    round-robin balancer. 200 callback-provider pipelines are created through two of them
    (all three work them), and the third is SIGKILLed mid-run and never restarted. The
    survivors take over its in-flight work (after REELAY_REPLICA_TTL_S), every pipeline
    succeeds, and the sandbox saw each step submitted exactly once. Videos go to one S3
    bucket, so each survivor serves every video kept, whichever replica downloaded it."""
    rng = random.Random(int(os.environ.get("REELAY_CHAOS_SEED", "11")))
    # Short tasks; callbacks that hit the dead replica are retried on the providers' schedules,
    # compressed so that the next attempt comes quickly (and goes to a live replica).
    config = SandboxConfig(task_seconds=0.3, time_scale=0.05, seed=3)
    async with running_sandbox(config) as sandbox:
        group = replicas(REPLICAS, base_environment(pg_fresh_database, sandbox), tmp_path)
        async with (
            round_robin_proxy([r.public_port for r in group]) as public_url,
            s3_bucket() as s3_env,
        ):
            for r in group:
                r.env.update(s3_env)
                r.env["REELAY_PUBLIC_URL"] = public_url
            async with running(group) as clients:
                log = stopwatch()
                bodies = [chain_body("apixo" if n % 2 else "apimart", n) for n in range(PIPELINES)]
                steps = sum(len(b["extends"]) + 1 for b in bodies)
                # Killed by progress, not by a clock: once the sandbox has seen this share of
                # the tasks, while the creates (sent to the two other replicas) still go on.
                kill_after = int(steps * rng.uniform(0.1, 0.3))
                victim = group[rng.randrange(REPLICAS)]
                others = [c for r, c in zip(group, clients, strict=True) if r is not victim]
                creating = asyncio.create_task(create_pipelines(others, bodies))

                async def far_enough() -> bool:
                    if creating.done():
                        creating.result()  # a failed create fails the test here
                    return len(await sandbox_tasks(sandbox)) >= kill_after

                await eventually(far_enough, within=60, every=0.01, what="the run to get going")
                await sigkill(victim)
                # Counted at the kill, not after the creates: on a loaded machine the survivors
                # may finish everything while the last creates are answered.
                at_kill = len(await sandbox_tasks(sandbox))
                log(f"replica {victim.n} SIGKILLed; the sandbox had {at_kill} of {steps} tasks")
                assert at_kill < steps, "the replica was killed too late to prove anything"
                ids = await creating
                log(f"{len(ids)} pipelines created")

                survivor = clients[(victim.n + 1) % REPLICAS]
                held = await settle(
                    group,
                    survivor,
                    ids,
                    sandbox,
                    within=120,
                    what="every pipeline to settle",
                    log=log,
                )
                log(f"settled: {summary(held)}")
                await resume_never_sent(survivor, ids, sandbox)
                pipelines = await settle(
                    group, survivor, ids, sandbox, within=60, what="resumed pipelines", log=log
                )
                log(f"after resuming the never-sent: {summary(pipelines)}")
                survivors = [c for r, c in zip(group, clients, strict=True) if r is not victim]
                await assert_videos_served_by_each(survivors, ids, steps)
                log("every kept video is served by each survivor")
        tasks = await sandbox_tasks(sandbox)
    assert {p["status"] for p in pipelines} == {"succeeded"}, summary(pipelines)
    assert_submitted_once(pipelines, tasks)


async def assert_videos_served_by_each(
    clients: list[httpx.AsyncClient], ids: list[str], steps: int
) -> None:
    """Every step's video is kept (but for the downloads the killed replica had leased) and
    each client's replica serves every kept one from the shared bucket."""

    async def kept() -> list[tuple[str, int]]:
        return [
            (p["id"], s["index"])
            for p in await fetch_all(clients[0], ids)
            for s in p["steps"]
            if s["artifact"] is not None
        ]

    async def enough() -> bool:
        return len(await kept()) >= steps - DOWNLOADS_IN_FLIGHT

    await eventually(enough, within=60, what="the videos to be kept", every=0.1)
    for pipeline_id, index in await kept():
        for client in clients:
            response = await client.get(f"/v1/pipelines/{pipeline_id}/steps/{index}/video")
            assert response.status_code == 200, response.text
            assert response.content[4:8] == b"ftyp"


async def test_two_replicas_polling_never_submit_a_step_twice(
    tmp_path: Path, pg_fresh_database: str
) -> None:
    """Two replicas on one database, polling providers (no callbacks), nothing killed: both
    claim the same due work all the time, and yet every step is submitted exactly once and
    every pipeline succeeds."""
    async with running_sandbox(SandboxConfig(task_seconds=0.3, seed=5)) as sandbox:
        group = replicas(POLLING_REPLICAS, base_environment(pg_fresh_database, sandbox), tmp_path)
        async with running(group) as clients:
            log = stopwatch()
            bodies = [
                chain_body("apifree" if n % 2 else "octopusx", n) for n in range(POLLING_PIPELINES)
            ]
            ids = await create_pipelines(clients, bodies)
            log(f"{len(ids)} pipelines created")
            pipelines = await settle(
                group,
                clients[1],
                ids,
                sandbox,
                within=120,
                what="every pipeline to finish",
                log=log,
            )
            log(f"finished: {summary(pipelines)}")
        tasks = await sandbox_tasks(sandbox)
    assert {p["status"] for p in pipelines} == {"succeeded"}, summary(pipelines)
    assert_submitted_once(pipelines, tasks)
