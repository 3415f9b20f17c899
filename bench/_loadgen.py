"""The Python load generator of bench/callbacks.py, run in its own process (aiohttp on uvloop).

Reads a request list written by bench/callbacks.py: one request per line, ``path<TAB>body``.

    closed: --connections N workers, each sending the next request as soon as its previous one
            is answered, for --duration seconds or until the server goes away. With
            --acked-out, the list index of every request answered 200 is written there, one a
            line; with --progress, ``acked <n>`` lines are printed while running.
    paced:  open loop at --rate requests/s: request i is due at start + i / rate whatever
            happened to the others. Writes one JSON row per request to --out: index, due
            (scheduled epoch seconds), sent, answered, status.

Both print one JSON summary line (``{"summary": ...}``) on stdout at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp

from orchestrator.common import eventloop

HEADERS = {"Content-Type": "application/json"}


def read_requests(path: Path) -> list[tuple[str, bytes]]:
    requests = []
    with path.open("rb") as f:
        for line in f:
            req_path, body = line.rstrip(b"\n").split(b"\t", 1)
            requests.append((req_path.decode(), body))
    return requests


def connector(limit: int) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=limit, force_close=False, enable_cleanup_closed=False)


async def closed_loop(
    args: argparse.Namespace, requests: list[tuple[str, bytes]]
) -> tuple[list[int], dict[str, float | int]]:
    acked: list[int] = []
    counts = {"sent": 0, "ok": 0, "non200": 0, "errors": 0}
    next_index = args.offset
    end = args.offset + (args.limit or len(requests))
    stop = False
    start = time.perf_counter()
    deadline = start + args.duration

    async with aiohttp.ClientSession(
        base_url=args.url, connector=connector(args.connections)
    ) as session:

        async def worker() -> None:
            nonlocal next_index, stop
            while not stop and time.perf_counter() < deadline and next_index < end:
                i = next_index
                next_index += 1
                path, body = requests[i % len(requests)]
                counts["sent"] += 1
                try:
                    async with session.post(path, data=body, headers=HEADERS) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, OSError):
                    counts["errors"] += 1
                    if args.stop_on_error:
                        stop = True
                    continue
                if status == 200:
                    counts["ok"] += 1
                    acked.append(i)
                else:
                    counts["non200"] += 1

        async def progress() -> None:
            while True:
                print(f"acked {len(acked)}", flush=True)
                await asyncio.sleep(0.05)

        reporter = asyncio.create_task(progress()) if args.progress else None
        await asyncio.gather(*(worker() for _ in range(args.connections)))
        elapsed = time.perf_counter() - start
        if reporter is not None:
            reporter.cancel()
    summary = {**counts, "elapsed": elapsed, "rps": counts["ok"] / elapsed, "next": next_index}
    return acked, summary


async def paced(
    args: argparse.Namespace, requests: list[tuple[str, bytes]]
) -> tuple[list[dict[str, float | int | None]], dict[str, float | int]]:
    total = args.limit or len(requests)
    rows: list[dict[str, float | int | None]] = []
    errors = 0

    async with aiohttp.ClientSession(
        base_url=args.url, connector=connector(args.connections)
    ) as session:

        async def send(i: int, due: float) -> None:
            nonlocal errors
            path, body = requests[i]
            sent = time.time()
            status = None
            try:
                async with session.post(path, data=body, headers=HEADERS) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, OSError):
                errors += 1
            rows.append(
                {"index": i, "due": due, "sent": sent, "answered": time.time(), "status": status}
            )

        # Warm the pool so that the first requests don't pay for connecting.
        await asyncio.gather(*(session.get("/healthz") for _ in range(8)))
        start = time.time() + 0.2
        tasks = []
        i = 0
        while i < total:
            now = time.time()
            while i < total and start + i / args.rate <= now:
                tasks.append(asyncio.create_task(send(i, start + i / args.rate)))
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, start + i / args.rate - time.time()))
        await asyncio.gather(*tasks)
    lag = max(r["sent"] - r["due"] for r in rows)  # type: ignore[operator]
    ok = sum(r["status"] == 200 for r in rows)
    summary = {"sent": len(rows), "ok": ok, "errors": errors, "max_send_lag": lag}
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["closed", "paced"])
    parser.add_argument("--url", required=True, help="http://host:port")
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="requests to send (0 = all)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--acked-out")
    parser.add_argument("--out")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--stop-on-error", action="store_true")
    args = parser.parse_args()
    requests = read_requests(args.requests)
    if args.mode == "closed":
        acked, summary = eventloop.run(closed_loop(args, requests))
        if args.acked_out:
            Path(args.acked_out).write_text("".join(f"{i}\n" for i in acked))
    else:
        rows, summary = eventloop.run(paced(args, requests))
        Path(args.out).write_text(json.dumps(rows))
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
