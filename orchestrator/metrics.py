"""Prometheus metrics of one runtime, in a registry of its own, rendered for ``GET /metrics``.

Two sources. Counters this process moves as things happen: callbacks the receiver accepted or
refused, and the latency of every provider request. And numbers read from the store at scrape
time, with a few aggregate queries: pipelines and steps by state, tasks in flight, polls, webhook
deliveries by result, kept artifacts. Those survive restarts and are the same on every replica
sharing the database, so aggregate them across replicas with ``max``, not ``sum``.

The registry is not prometheus_client's global one: tests and several runtimes in one process
each count their own.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from orchestrator.domain.models import Billing, PipelineStatus, StepStatus
from orchestrator.providers.http import CallKind
from orchestrator.spending import Budgets, Spending
from orchestrator.store import Store
from orchestrator.store.rows import Row

log = logging.getLogger("reelay.metrics")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
DELIVERY_RESULTS = ("2xx", "redirect", "4xx", "5xx", "refused", "error")
OPERATIONS: Mapping[CallKind, str] = {"submit": "generate", "extend": "extend", "status": "status"}
# Provider calls take from tens of milliseconds (a status) to a minute (a slow submit).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

Snapshot = Mapping[str, Mapping[str, int]]


class Metrics:
    """The runtime's metrics; the receiver and the provider HTTP layer report into it."""

    def __init__(
        self, store: Store, providers: Collection[str] = (), spending: Spending | None = None
    ) -> None:
        self._store = store
        self._providers = tuple(providers)
        self.spending = spending
        """Where the budgets are read from (the runtime sets it once built)."""
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._accepted = Counter(
            "reelay_callbacks_accepted",
            "Provider callbacks the receiver recorded (duplicates included)",
            ["provider"],
            registry=self.registry,
        )
        self._rejected = Counter(
            "reelay_callbacks_rejected",
            "Provider callbacks the receiver refused, by reason",
            ["provider", "reason"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "reelay_provider_request_seconds",
            "Provider HTTP requests: seconds until the answer, by HTTP status or error class",
            ["provider", "operation", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for provider in self._providers:
            self._accepted.labels(provider)

    def callback_accepted(self, provider: str) -> None:
        self._accepted.labels(provider).inc()

    def callback_rejected(self, provider: str, reason: str) -> None:
        self._rejected.labels(provider, reason).inc()

    def provider_request(self, provider: str, kind: CallKind, status: str, seconds: float) -> None:
        """An ``orchestrator.providers.http`` observer."""
        self._latency.labels(provider, OPERATIONS.get(kind, kind), status).observe(seconds)

    async def render(self) -> bytes:
        """The Prometheus text exposition: this process's counters, then the store's numbers."""
        try:
            snapshot: Snapshot | None = await self._store.metrics_snapshot()
        except Exception:
            log.warning("metrics: the store could not be read", exc_info=True)
            snapshot = None
        store = _StoreFamilies(snapshot, self._providers)
        money = await self._money()
        return generate_latest(self.registry) + generate_latest(store) + generate_latest(money)

    async def _money(self) -> _MoneyFamilies:
        try:
            totals = await self._store.spend_totals()
            budgets = await self.spending.budgets() if self.spending is not None else None
        except Exception:
            log.warning("metrics: the ledger could not be read", exc_info=True)
            return _MoneyFamilies([], None)
        return _MoneyFamilies(totals, budgets)


class _MoneyFamilies:
    """Spend from the ledger and what each budget has left, at scrape time."""

    def __init__(self, totals: Sequence[Row], budgets: Budgets | None) -> None:
        self._totals = totals
        self._budgets = budgets

    def collect(self) -> Iterable[Metric]:
        charged = CounterMetricFamily(
            "reelay_spend_usd",
            "USD charged for accepted submits (refunded ones included), by provider and model",
            labels=["provider", "model"],
        )
        refunded = CounterMetricFamily(
            "reelay_refunded_usd",
            "USD refunded for failed tasks, by provider and model",
            labels=["provider", "model"],
        )
        sums: dict[tuple[str, str], list[int]] = {}
        for row in self._totals:
            entry = sums.setdefault((row["provider"], row["model"]), [0, 0])
            amount = int(row["amount"] or 0)
            if row["state"] in (Billing.CHARGED, Billing.REFUNDED):
                entry[0] += amount
            if row["state"] == Billing.REFUNDED:
                entry[1] += amount
        for (provider, model), (gross, back) in sorted(sums.items()):
            charged.add_metric([provider, model], gross / 1_000_000)
            refunded.add_metric([provider, model], back / 1_000_000)
        yield charged
        yield refunded
        if self._budgets is None:
            return
        remaining = GaugeMetricFamily(
            "reelay_budget_remaining_usd",
            "USD a budget cap has left in its period, by scope (global/day, apixo/month, ...)",
            labels=["scope"],
        )
        for line in self._budgets.lines:
            if line.remaining is not None:
                remaining.add_metric([f"{line.scope}/{line.period}"], line.remaining / 1_000_000)
        yield remaining


class _StoreFamilies:
    """The scrape-time numbers as metric families (a prometheus_client collector)."""

    def __init__(self, snapshot: Snapshot | None, providers: Collection[str]) -> None:
        self._snapshot = snapshot
        self._providers = providers

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("reelay_store_up", "1 if the store answered this scrape")
        up.add_metric([], 0 if self._snapshot is None else 1)
        yield up
        if self._snapshot is None:
            return
        s = self._snapshot
        yield _family(
            GaugeMetricFamily("reelay_pipelines", "Pipelines by status", labels=["status"]),
            s["pipelines"],
            [str(v) for v in PipelineStatus],
        )
        yield _family(
            GaugeMetricFamily("reelay_steps", "Steps by status", labels=["status"]),
            s["steps"],
            [str(v) for v in StepStatus],
        )
        yield _family(
            GaugeMetricFamily(
                "reelay_tasks_in_flight",
                "Provider tasks submitted or running, by provider",
                labels=["provider"],
            ),
            s["in_flight"],
            self._providers,
        )
        yield _family(
            CounterMetricFamily(
                "reelay_polls", "Status polls made, by provider", labels=["provider"]
            ),
            s["polls"],
            self._providers,
        )
        yield _family(
            CounterMetricFamily(
                "reelay_webhook_deliveries",
                "Outbound webhook delivery attempts, by result",
                labels=["result"],
            ),
            s["deliveries"],
            DELIVERY_RESULTS,
        )
        artifacts = GaugeMetricFamily("reelay_artifacts", "Result videos kept")
        artifacts.add_metric([], s["artifacts"]["count"])
        yield artifacts
        size = GaugeMetricFamily("reelay_artifact_bytes", "Bytes of result videos kept")
        size.add_metric([], s["artifacts"]["bytes"])
        yield size


def _family(
    family: GaugeMetricFamily | CounterMetricFamily,
    counts: Mapping[str, int],
    known: Iterable[str],
) -> Metric:
    """One sample per label value: every known one (zero when absent), then any other seen."""
    for label in dict.fromkeys([*known, *sorted(counts)]):
        family.add_metric([label], counts.get(label, 0))
    return family
