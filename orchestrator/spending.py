"""What money was spent, reserved and refunded, and the budgets: read for the API, the CLI,
``/metrics`` and the dashboard, and the budgets changed at run time.

Amounts are micro-USD integers throughout; they become decimal strings only at the edges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.domain.ledger import COMMITTED, GLOBAL, LedgerEntry, day_of, month_of
from orchestrator.domain.models import Billing, PipelineView, Step
from orchestrator.engine.budget import Cap, Period, effective_caps, period_key, resets_at
from orchestrator.errors import FieldProblem, Rejected, joined
from orchestrator.settings import PROVIDER_NAMES
from orchestrator.store import Store, Transaction

GroupBy = Literal["provider", "model", "day", "pipeline"]
GROUP_COLUMNS: Mapping[str, str] = {
    "provider": "provider",
    "model": "model",
    "day": "day",
    "pipeline": "pipeline_id",
}
PERIODS: tuple[Period, ...] = ("day", "month")


@dataclass(frozen=True, slots=True)
class Cost:
    """The money of one step, or summed over a pipeline."""

    estimated: int | None
    """One run of every step counted; None when one is unpriced."""
    reserved: int = 0
    """Held for submits whose answer is awaited or was lost (``uncertain``)."""
    charged: int = 0
    """Accepted submits, refunded ones included."""
    refunded: int = 0
    uncertain: bool = False
    """A submit's answer was lost: it may have been charged."""
    unpriced: tuple[int, ...] = ()
    """Steps without a price (their estimate is unknown)."""
    unpriced_submits: int = 0
    """Submits reserved or charged at no known amount: not in the sums, never counted as 0."""

    @property
    def net(self) -> int:
        return self.charged - self.refunded


def step_cost(step: Step, entries: Iterable[LedgerEntry]) -> Cost:
    reserved = charged = refunded = unknown = 0
    uncertain = False
    for e in entries:
        amount = e.amount_micros or 0
        if e.amount_micros is None and e.state is not Billing.RELEASED:
            unknown += 1
        if e.state in (Billing.RESERVED, Billing.UNCERTAIN):
            reserved += amount
            uncertain = uncertain or e.state is Billing.UNCERTAIN
        elif e.state is Billing.CHARGED:
            charged += amount
        elif e.state is Billing.REFUNDED:
            charged += amount
            refunded += amount
    unpriced = (step.index,) if step.estimate_micros is None else ()
    return Cost(step.estimate_micros, reserved, charged, refunded, uncertain, unpriced, unknown)


def pipeline_costs(
    view: PipelineView, entries: Sequence[LedgerEntry]
) -> tuple[Cost, dict[int, Cost]]:
    """The pipeline's cost and each step's, from the pipeline's ledger rows."""
    by_step: dict[int, list[LedgerEntry]] = {}
    for e in entries:
        by_step.setdefault(e.step, []).append(e)
    steps = {s.index: step_cost(s, by_step.get(s.index, ())) for s in view.steps}
    unpriced = tuple(i for c in steps.values() for i in c.unpriced)
    estimated = None if unpriced else sum(c.estimated or 0 for c in steps.values())
    total = Cost(
        estimated,
        sum(c.reserved for c in steps.values()),
        sum(c.charged for c in steps.values()),
        sum(c.refunded for c in steps.values()),
        any(c.uncertain for c in steps.values()),
        unpriced,
        sum(c.unpriced_submits for c in steps.values()),
    )
    return total, steps


@dataclass(frozen=True, slots=True)
class BudgetLine:
    scope: str
    period: Period
    period_key: str
    cap: int | None
    source: Literal["setting", "runtime", "none"]
    used: int
    resets_at: float

    @property
    def remaining(self) -> int | None:
        return None if self.cap is None else max(self.cap - self.used, 0)

    @property
    def setting(self) -> str:
        return Cap(self.scope, self.period, 0, "setting").setting


@dataclass(frozen=True, slots=True)
class Budgets:
    lines: list[BudgetLine]
    waiting_steps: int


@dataclass(frozen=True, slots=True)
class SpendGroup:
    key: str
    submits: int = 0
    charged: int = 0
    refunded: int = 0
    reserved: int = 0
    unpriced_submits: int = 0

    @property
    def net(self) -> int:
        return self.charged - self.refunded


@dataclass(frozen=True, slots=True)
class SpendReport:
    first_day: str
    last_day: str
    group_by: GroupBy
    groups: list[SpendGroup]
    total: SpendGroup = field(default_factory=lambda: SpendGroup("total"))


def unlimited() -> dict[str, tuple[int | None, int | None]]:
    """Every scope, without caps (the settings' defaults)."""
    return {scope: (None, None) for scope in (GLOBAL, *PROVIDER_NAMES)}


class Spending:
    def __init__(
        self,
        store: Store,
        configured: Mapping[str, tuple[int | None, int | None]],
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._configured = configured
        self._wake = wake
        self._clock = clock

    @property
    def scopes(self) -> list[str]:
        return list(self._configured)

    async def budgets(self) -> Budgets:
        """Every scope's day and month cap (or none), what it has used, and when it resets."""
        now = self._clock()
        overrides = await self._store.cap_overrides()
        caps = {(c.scope, c.period): c for c in effective_caps(self._configured, overrides)}
        keys = [(scope, period_key(p, now)) for scope in self._configured for p in PERIODS]
        usage = await self._store.budget_usage(keys)
        lines = []
        for scope in self._configured:
            for period in PERIODS:
                key = (scope, period_key(period, now))
                cap = caps.get((scope, period))
                source: Literal["setting", "runtime", "none"] = (
                    "runtime" if scope in overrides else cap.source if cap else "none"
                )
                lines.append(
                    BudgetLine(
                        scope=scope,
                        period=period,
                        period_key=key[1],
                        cap=None if cap is None else cap.micros,
                        source=source,
                        used=usage[key].used_micros if key in usage else 0,
                        resets_at=resets_at(period, now),
                    )
                )
        return Budgets(lines, await self._store.budget_waiters())

    async def set_caps(
        self,
        scope: str,
        changes: Mapping[Period, int | None],
        *,
        reset: bool = False,
    ) -> Budgets:
        """Change ``scope``'s caps (``changes``: the periods given; None lifts a cap), or with
        ``reset`` go back to the settings'. Steps waiting for a budget look again now."""
        if scope not in self._configured:
            known = ", ".join(self._configured)
            problem = FieldProblem("scope", f"unknown scope {scope!r}; one of {known}")
            raise Rejected(joined([problem]), [problem])
        now = self._clock()

        async def job(tx: Transaction) -> None:
            if reset:
                await tx.money.reset_caps(scope)
            else:
                current = {
                    (c.scope, c.period): c.micros
                    for c in effective_caps(self._configured, await tx.money.caps())
                }
                day = changes.get("day", current.get((scope, "day")))
                month = changes.get("month", current.get((scope, "month")))
                await tx.money.set_caps(scope, day, month, now)
            await tx.money.clear_flags(scope)
            await tx.money.wake_waiters(now)

        await self._store.run(job)
        self._wake()
        return await self.budgets()

    async def wake_waiters(self) -> None:
        """At start-up: prices and caps may have changed, so waiting steps look again."""
        now = self._clock()

        async def job(tx: Transaction) -> None:
            await tx.money.wake_waiters(now)

        await self._store.run(job)

    async def spend(
        self,
        first_day: str | None,
        last_day: str | None,
        group_by: GroupBy,
        provider: str | None = None,
    ) -> SpendReport:
        """Spend of submits reserved from ``first_day`` to ``last_day`` (UTC days, inclusive;
        default: this month so far), grouped."""
        today = day_of(self._clock())
        first = first_day or f"{month_of(today)}-01"
        last = last_day or today
        rows = await self._store.spend(first, last, GROUP_COLUMNS[group_by], provider)
        groups: dict[str, dict[str, int]] = {}
        for row in rows:
            g = groups.setdefault(str(row["key"]), dict.fromkeys(_FIELDS, 0))
            state = Billing(row["state"])
            amount = int(row["amount"] or 0)
            g["submits"] += int(row["n"])
            g["unpriced_submits"] += int(row["unpriced"] or 0)
            if state is Billing.CHARGED:
                g["charged"] += amount
            elif state is Billing.REFUNDED:
                g["charged"] += amount
                g["refunded"] += amount
            elif state in COMMITTED:
                g["reserved"] += amount
        found = [SpendGroup(key, **values) for key, values in groups.items()]
        total = SpendGroup("total", **{f: sum(getattr(g, f) for g in found) for f in _FIELDS})
        return SpendReport(first, last, group_by, found, total)


_FIELDS = ("submits", "charged", "refunded", "reserved", "unpriced_submits")


__all__ = ["GLOBAL", "Budgets", "Cost", "Spending", "pipeline_costs"]
