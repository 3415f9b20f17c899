"""The one claim loop the engine, the webhook deliverer and the downloader run on: failed
claims back off (doubling, capped, jittered) and never end it; ``stop`` hands what is still in
flight to ``drain``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import pytest

from orchestrator.claim_loop import ClaimLoop
from orchestrator.common.backoff import BASE_S, MAX_S
from tests.eventually import eventually

log = logging.getLogger("reelay.test-claim-loop")

REFUSED = ConnectionRefusedError(111, "Connection refused")


class Script:
    """Claims answered from a list (an exception is raised); stops the loop once it is out."""

    def __init__(self, answers: Sequence[list[int] | Exception]) -> None:
        self.answers = list(answers)
        self.claims = 0
        self.waits: list[float] = []
        self.loop: ClaimLoop[int] | None = None

    async def claim(self, limit: int) -> list[int]:
        self.claims += 1
        if not self.answers:
            assert self.loop is not None
            self.loop.stop()
            return []
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def loop_for(
    script: Script,
    perform: Callable[[int], Awaitable[None]] | None = None,
    drain: Callable[[Mapping[asyncio.Task[None], int]], Awaitable[None]] | None = None,
    due: float | None = None,
) -> ClaimLoop[int]:
    """``due``: when the next item is due, as the cheap read says after each claim."""

    async def next_due() -> float | None:
        return due

    async def nothing(item: int) -> None:
        return None

    loop: ClaimLoop[int] = ClaimLoop(
        claim=script.claim,
        perform=perform or nothing,
        next_due=next_due,
        clock=lambda: 0.0,
        concurrency=4,
        tick_s=60.0,
        drain=drain,
        name="test items",
        logger=log,
        sleep=script.sleep,
    )
    script.loop = loop
    return loop


def assert_backoff(waits: Sequence[float]) -> None:
    """The n-th wait in a row: between half and all of ``BASE_S * 2**(n-1)``, capped."""
    for attempt, wait in enumerate(waits, start=1):
        ceiling = min(MAX_S, BASE_S * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)


async def test_failed_claims_back_off_doubling_to_the_cap() -> None:
    script = Script([REFUSED] * 8)
    await asyncio.wait_for(loop_for(script).run(), 20)
    assert script.claims == 9  # eight failures, then the claim that finds nothing
    assert len(script.waits) == 8
    assert_backoff(script.waits)
    assert script.waits[-1] >= MAX_S / 2  # capped, not doubled on forever


async def test_a_claim_that_works_ends_the_backoff() -> None:
    """After a successful claim the next failure waits as briefly as the first did."""
    performed: list[int] = []

    async def perform(item: int) -> None:
        performed.append(item)

    script = Script([REFUSED, REFUSED, REFUSED, [7], REFUSED, REFUSED])
    await asyncio.wait_for(loop_for(script, perform).run(), 20)
    assert performed == [7]
    assert script.claims == 7
    assert len(script.waits) == 5
    assert_backoff(script.waits[:3])
    assert_backoff(script.waits[3:])
    assert script.waits[3] <= BASE_S


async def test_the_start_is_retried_with_the_same_backoff_until_stopped() -> None:
    script = Script([])
    loop = loop_for(script)
    calls = 0

    async def start() -> None:
        nonlocal calls
        calls += 1
        if calls <= 4:
            raise REFUSED

    assert await loop.retry_until_stopped(start)
    assert calls == 5
    assert_backoff(script.waits)
    assert len(script.waits) == 4

    async def never() -> None:
        loop.stop()
        raise REFUSED

    assert not await loop.retry_until_stopped(never)


async def test_stop_drains_the_items_in_flight_then_cancels_the_rest() -> None:
    started: list[int] = []
    all_started = asyncio.Event()

    async def perform(item: int) -> None:
        started.append(item)
        if len(started) == 3:
            all_started.set()
        if item != 2:
            await asyncio.Event().wait()  # never answers

    drained: list[list[int]] = []
    finished: list[int] = []

    async def drain(in_flight: Mapping[asyncio.Task[None], int]) -> None:
        drained.append(sorted(in_flight.values()))
        for task, item in in_flight.items():
            if item == 1:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                finished.append(item)

    script = Script([[1, 2, 3]])
    script.answers.append([])  # one empty claim, so that the loop waits for a wake-up
    loop = loop_for(script, perform, drain)
    script.loop = None  # the test, not the script, stops it
    running = asyncio.create_task(loop.run())
    await asyncio.wait_for(all_started.wait(), 20)
    loop.stop()
    await asyncio.wait_for(running, 20)
    assert drained == [[1, 3]]  # 2 had finished
    assert finished == [1]


async def test_claim_loop_survives_a_store_outage(caplog: pytest.LogCaptureFixture) -> None:
    """Claims that fail (connection refused) are tried again; the loop goes on to perform
    what is claimed once the database answers. One WARNING when the outage starts, one INFO
    when it ends, no traceback."""
    caplog.set_level(logging.INFO, logger=log.name)
    answers: list[list[int] | Exception] = [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionRefusedError(111, "Connection refused"),
        [1, 2],
    ]
    performed: list[int] = []

    async def claim(limit: int) -> list[int]:
        answer = answers.pop(0) if answers else []
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def next_due() -> float | None:
        return None

    loop: ClaimLoop[int] = ClaimLoop(
        claim=claim,
        perform=lambda item: _append(performed, item),
        next_due=next_due,
        clock=lambda: 0.0,
        concurrency=4,
        tick_s=0.01,
        name="test items",
        logger=log,
    )
    running = asyncio.create_task(loop.run())

    async def done() -> bool:
        assert not running.done(), running
        return sorted(performed) == [1, 2]

    await eventually(done, within=20, what="the claimed items to be performed", every=0.01)
    loop.stop()
    await running
    records = [r for r in caplog.records if r.name == log.name]
    assert [r.levelname for r in records] == ["WARNING", "INFO"]
    assert "Connection refused" in records[0].getMessage()
    assert "after 3 failed attempt(s)" in records[1].getMessage()
    assert not any(r.exc_info for r in records)


async def _append(items: list[int], item: int) -> None:
    items.append(item)


async def test_work_that_fell_due_during_an_empty_claim_is_claimed_at_once() -> None:
    """An empty claim after which the next item is already due looks again at once, instead of
    sleeping a whole tick (60 s here): the item is performed within a few turns of the loop."""
    script = Script([[], [7]])
    performed: list[tuple[int, int]] = []

    async def perform(item: int) -> None:
        performed.append((item, script.claims))

    loop = loop_for(script, perform=perform, due=0.0)  # the clock says 0.0: due already
    runner = asyncio.create_task(loop.run())
    for _ in range(50):  # turns of the event loop, no timers
        await asyncio.sleep(0)
        if performed:
            break
    assert performed == [(7, 2)]  # claimed by the second claim, no tick in between
    loop.stop()
    await runner
