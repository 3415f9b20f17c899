"""Budgets: the caps in force, and the gate every submit passes before it is sent.

A cap bounds what is reserved or charged (refunds and releases give room back) over every
provider or one, per UTC day or month; a pipeline's ``budget_usd`` bounds that pipeline. The
settings give the caps; ``/v1/budgets`` replaces a scope's caps at run time (kept in the
database, so every replica and a restart see them).

The gate runs inside the claim's transaction, holding the ``budgets`` lock, so the sums it reads
cannot change before its reservations are written: a submit whose reservation would pass a cap
is not claimed. It waits ``pending`` with an error naming the cap until the cap is raised or
its period rolls over. ``budget.exceeded`` is told once per cap and period, ``budget.warning``
once when 80 % of a cap is reserved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from orchestrator.domain.ledger import GLOBAL, UsageKey, day_of, month_of
from orchestrator.domain.models import EventDraft, PipelineView, Step, StepError
from orchestrator.domain.prices import to_micros, usd
from orchestrator.settings import PROVIDER_NAMES, Settings
from orchestrator.store import Transaction
from orchestrator.store.money_tx import CapOverride

Period = Literal["day", "month"]
WARN_AT = Decimal("0.8")
PIPELINE_RECHECK_S = 3600.0
"""A submit held by its pipeline's own budget is looked at again this often."""
BUDGET_CODES = ("BUDGET_EXCEEDED", "BUDGET_UNPRICED")


def micros(amount: Decimal | None) -> int | None:
    """A cap setting (validated to at most 6 decimal places) in micro-USD."""
    return None if amount is None else to_micros(amount)


@dataclass(frozen=True, slots=True)
class Cap:
    scope: str
    period: Period
    micros: int
    source: Literal["setting", "runtime"]

    @property
    def setting(self) -> str:
        """The setting that names this cap."""
        prefix = "REELAY_" if self.scope == GLOBAL else f"REELAY_{self.scope.upper()}_"
        return f"{prefix}BUDGET_USD_PER_{self.period.upper()}"


def period_key(period: Period, now: float) -> str:
    day = day_of(now)
    return day if period == "day" else month_of(day)


def resets_at(period: Period, now: float) -> float:
    """When the period containing ``now`` ends (UTC)."""
    moment = datetime.fromtimestamp(now, UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return (start + timedelta(days=1)).timestamp()
    first = start.replace(day=1)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    ).timestamp()


def settings_caps(settings: Settings) -> dict[str, tuple[int | None, int | None]]:
    """Per scope, the (day, month) caps the settings give."""
    caps = {GLOBAL: (micros(settings.budget_usd_per_day), micros(settings.budget_usd_per_month))}
    for name in PROVIDER_NAMES:
        p = settings.provider(name)
        caps[name] = (micros(p.budget_usd_per_day), micros(p.budget_usd_per_month))
    return caps


def effective_caps(
    configured: Mapping[str, tuple[int | None, int | None]],
    overrides: Mapping[str, CapOverride],
) -> list[Cap]:
    """Every cap in force: a scope changed at run time has exactly its run-time caps."""
    caps: list[Cap] = []
    for scope, given in configured.items():
        source: Literal["setting", "runtime"] = "setting"
        day, month = given
        if scope in overrides:
            day, month = overrides[scope].per_day_micros, overrides[scope].per_month_micros
            source = "runtime"
        if day is not None:
            caps.append(Cap(scope, "day", day, source))
        if month is not None:
            caps.append(Cap(scope, "month", month, source))
    return caps


@dataclass
class Admission:
    admitted: list[tuple[str, int]] = field(default_factory=list)
    held: list[Step] = field(default_factory=list)
    """Steps that wait, as changed (error and next check)."""
    events: list[EventDraft] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Limit:
    key: UsageKey
    cap_micros: int
    name: str
    """How the error and events name it: a setting, or ``budget_usd``."""
    period: Period | None
    check_at: float


class Budgets:
    def __init__(self, settings: Settings) -> None:
        self._configured = settings_caps(settings)

    @property
    def configured(self) -> Mapping[str, tuple[int | None, int | None]]:
        return self._configured

    async def caps(self, tx: Transaction) -> list[Cap]:
        return effective_caps(self._configured, await tx.money.caps())

    async def admit(
        self, tx: Transaction, candidates: Sequence[tuple[PipelineView, Step]], now: float
    ) -> Admission:
        """Which ``candidates`` (due submits, in order) may be sent now; the others wait."""
        result = Admission()
        caps = await self.caps(tx) if candidates else []
        budgeted = [v.pipeline.id for v, _ in candidates if v.pipeline.budget_micros is not None]
        if not caps and not budgeted:
            result.admitted = [s.key for _, s in candidates]
            return result
        await tx.money.lock_budgets()
        keys = {(c.scope, period_key(c.period, now)) for c in caps}
        usage = await tx.money.usage(keys)
        used = {k: (usage[k].used_micros if k in usage else 0) for k in keys}
        flags = {
            k: (usage[k].warned, usage[k].exceeded) if k in usage else (False, False) for k in keys
        }
        committed = await tx.money.committed_of(budgeted) if budgeted else {}
        for pid in budgeted:
            used[("pipeline", pid)] = committed.get(pid, 0)
        changed_flags: set[UsageKey] = set()
        for view, step in candidates:
            limits = _limits(caps, view, step, now)
            amount = step.estimate_micros
            if not limits:
                result.admitted.append(step.key)
                continue
            if amount is None:
                result.held.append(_hold_unpriced(step, limits[0], now))
                continue
            over = next((lim for lim in limits if used[lim.key] + amount > lim.cap_micros), None)
            if over is not None:
                was_held = step.error is not None and step.error.code in BUDGET_CODES
                result.held.append(_hold(step, over, used[over.key], amount, now))
                warned, exceeded = flags.get(over.key, (False, False))
                if (over.period is None and not was_held) or (over.period and not exceeded):
                    result.events.append(_event("budget.exceeded", step, over, used[over.key]))
                    if over.period:
                        flags[over.key] = (warned, True)
                        changed_flags.add(over.key)
                continue
            result.admitted.append(step.key)
            for lim in limits:
                before = used[lim.key]
                used[lim.key] = before + amount
                threshold = lim.cap_micros * WARN_AT
                if before < threshold <= used[lim.key] and lim.period:
                    warned, exceeded = flags[lim.key]
                    if not warned:
                        result.events.append(_event("budget.warning", step, lim, used[lim.key]))
                        flags[lim.key] = (True, exceeded)
                        changed_flags.add(lim.key)
        for key in sorted(changed_flags):
            warned, exceeded = flags[key]
            await tx.money.flag(key, warned=warned, exceeded=exceeded)
        return result


def _limits(caps: Sequence[Cap], view: PipelineView, step: Step, now: float) -> list[_Limit]:
    limits = [
        _Limit(
            (c.scope, period_key(c.period, now)),
            c.micros,
            c.setting,
            c.period,
            resets_at(c.period, now),
        )
        for c in caps
        if c.scope in (GLOBAL, step.provider)
    ]
    budget = view.pipeline.budget_micros
    if budget is not None:
        limits.append(
            _Limit(
                ("pipeline", view.pipeline.id), budget, "budget_usd", None, now + PIPELINE_RECHECK_S
            )
        )
    return limits


def _hold(step: Step, limit: _Limit, used: int, amount: int, now: float) -> Step:
    span = f" this {limit.period} (UTC)" if limit.period else ""
    when = (
        f"when the cap is raised (PATCH /v1/budgets) or at {_iso(limit.check_at)}"
        if limit.period
        else "when its budget has room (a refund or a released reservation)"
    )
    message = (
        f"waiting: this submit (${usd(amount)}) would pass {limit.name} "
        f"(${usd(limit.cap_micros)}; ${usd(used)} reserved or charged{span}); "
        f"it goes on by itself {when}"
    )
    return _waiting(step, StepError("BUDGET_EXCEEDED", message), limit.check_at, now)


def _hold_unpriced(step: Step, limit: _Limit, now: float) -> Step:
    message = (
        f"waiting: {step.provider} {step.model} {step.kind} has no price, so {limit.name} "
        "cannot be kept; add its price to REELAY_PRICES_FILE and restart, or lift the cap"
    )
    return _waiting(step, StepError("BUDGET_UNPRICED", message), limit.check_at, now)


def _waiting(step: Step, error: StepError, check_at: float, now: float) -> Step:
    return replace(step, error=error, next_at=check_at, updated_at=now)


def _event(kind: str, step: Step, limit: _Limit, used: int) -> EventDraft:
    scope, period = limit.key
    data = {
        "scope": "pipeline" if limit.period is None else scope,
        "period": limit.period,
        "period_key": None if limit.period is None else period,
        "cap": limit.name,
        "cap_usd": usd(limit.cap_micros),
        "used_usd": usd(used),
        "index": step.index,
    }
    return EventDraft(kind, step.pipeline_id, step.index, data)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
