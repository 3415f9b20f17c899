"""Callback delivery: a finished task's status POSTed to the submitter, retried per provider.

Each delivery is an asyncio task that sleeps until its task finishes, then POSTs and retries on
the provider's schedule. The dispatcher tracks every such task and only starts them while it is
running (inside the app's lifespan); leaving ``running()`` or calling ``cancel_pending()``
cancels and awaits them all, so nothing outlives the app. Every attempt lands in a bounded log
served at ``GET /_sandbox/callbacks``.

Unlike the real providers, the sandbox delivers to any ``http``/``https`` URL, loopback and
private addresses included: its receivers are local test servers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import httpx

_HEADERS = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """One provider's delivery rules; times are scaled by ``time_scale`` when used."""

    timeout_s: float
    retry_delays_s: tuple[float, ...]
    """Wait before each retry, counted from the previous attempt."""
    accepts: Callable[[int], bool]
    """The HTTP status ends the delivery as done."""
    gives_up: Callable[[int], bool]
    """The HTTP status ends the delivery without further retries."""


@dataclass(frozen=True, slots=True)
class Delivery:
    provider: str
    task_id: str
    url: str
    plan: RetryPlan
    body: Callable[[], bytes]
    """Renders the terminal status body when the task has finished."""
    drop: bool = False
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    task_id: str
    url: str
    attempt: int
    """1 for the first POST; 0 marks a callback dropped by fault injection."""
    status: int | None
    error: str | None
    at: float
    duplicate: bool


class CallbackDispatcher:
    def __init__(
        self,
        clock: Callable[[], float],
        time_scale: Callable[[], float],
        log_size: int = 100_000,
    ) -> None:
        self._clock = clock
        self._time_scale = time_scale
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._log: deque[Attempt] = deque(maxlen=log_size)

    @asynccontextmanager
    async def running(self, client: httpx.AsyncClient) -> AsyncIterator[None]:
        """Deliver through ``client`` until exit, then cancel whatever is still pending."""
        self._client = client
        try:
            yield
        finally:
            self._client = None
            await self.cancel_pending()

    @property
    def pending(self) -> int:
        """Deliveries started and not yet finished."""
        return len(self._pending)

    def schedule(self, delivery: Delivery, delay_s: float) -> None:
        """Start delivering ``delivery`` after ``delay_s`` seconds."""
        client = self._client
        if client is None:
            self._record(delivery, 1, None, "sandbox lifespan is not running", duplicate=False)
            return
        task = asyncio.get_running_loop().create_task(self._run(client, delivery, delay_s))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def cancel_pending(self) -> None:
        tasks = list(self._pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def attempts(self, task_id: str | None = None) -> list[dict[str, Any]]:
        return [asdict(a) for a in self._log if task_id is None or a.task_id == task_id]

    def clear_log(self) -> None:
        self._log.clear()

    async def _run(self, client: httpx.AsyncClient, delivery: Delivery, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if delivery.drop:
            self._record(delivery, 0, None, "dropped (drop_callback_rate)", duplicate=False)
            return
        body = delivery.body()
        if await self._deliver(client, delivery, body, duplicate=False) and delivery.duplicate:
            await self._deliver(client, delivery, body, duplicate=True)

    async def _deliver(
        self, client: httpx.AsyncClient, delivery: Delivery, body: bytes, *, duplicate: bool
    ) -> bool:
        plan = delivery.plan
        for attempt, wait in enumerate((0.0, *plan.retry_delays_s), start=1):
            if wait:
                await asyncio.sleep(wait * self._time_scale())
            status, error = await self._post(client, delivery.url, body, plan.timeout_s)
            self._record(delivery, attempt, status, error, duplicate=duplicate)
            if status is not None and plan.accepts(status):
                return True
            if status is not None and plan.gives_up(status):
                return False
        return False

    async def _post(
        self, client: httpx.AsyncClient, url: str, body: bytes, timeout_s: float
    ) -> tuple[int | None, str | None]:
        timeout = timeout_s * self._time_scale()
        try:
            # asyncio.timeout also bounds transports that ignore httpx timeouts (ASGI, mocks).
            async with asyncio.timeout(timeout):
                response = await client.post(url, content=body, headers=_HEADERS, timeout=timeout)
        except TimeoutError:
            return None, "timeout"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

    def _record(
        self,
        delivery: Delivery,
        attempt: int,
        status: int | None,
        error: str | None,
        *,
        duplicate: bool,
    ) -> None:
        self._log.append(
            Attempt(
                provider=delivery.provider,
                task_id=delivery.task_id,
                url=delivery.url,
                attempt=attempt,
                status=status,
                error=error,
                at=self._clock(),
                duplicate=duplicate,
            )
        )
