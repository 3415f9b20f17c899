"""The ledger, pure: which row each change of a step's billing moves, and the periods a
reservation counts in.

Every submit reserves one ledger row, ``(pipeline, step, billing_seq)``. The step's ``billing``
says where that row must stand; a change of it is one compare-and-set of the row, from the state
the step had to the state it has. A replay, a duplicate callback or a second replica finds the
row already moved and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.domain.models import Billing, EventDraft, Step
from orchestrator.domain.prices import usd

COMMITTED = (Billing.RESERVED, Billing.UNCERTAIN, Billing.CHARGED)
"""The states whose amount counts against budgets."""


@dataclass(frozen=True, slots=True)
class Reserve:
    """A new row, reserved at the step's estimate."""

    step: Step
    day: str


@dataclass(frozen=True, slots=True)
class Move:
    """Row ``seq`` of the step from ``was`` to ``to``; ``amount`` replaces the row's amount
    when the provider reported the cost."""

    pipeline_id: str
    index: int
    seq: int
    was: Billing
    to: Billing
    amount: int | None = None


LedgerChange = Reserve | Move


def day_of(now: float) -> str:
    """The UTC day a reservation made at ``now`` counts in: ``2026-12-04``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def month_of(day: str) -> str:
    return day[:7]


def charged_amount(step: Step) -> int | None:
    """What the latest submit costs: the provider's word, else the estimate."""
    return step.reported_micros if step.reported_micros is not None else step.estimate_micros


def ledger_changes(before: Step | None, after: Step, now: float) -> list[LedgerChange]:
    """The ledger rows that ``before`` becoming ``after`` moves."""
    old_seq = before.billing_seq if before is not None else 0
    old_billing = before.billing if before is not None else None
    if after.billing_seq != old_seq:
        return [Reserve(after, day_of(now))] if after.billing is Billing.RESERVED else []
    if after.billing is None or old_billing is None:
        return []
    reported = before is not None and after.reported_micros != before.reported_micros
    if after.billing is old_billing and not reported:
        return []
    amount = after.reported_micros if reported else None
    return [
        Move(after.pipeline_id, after.index, after.billing_seq, old_billing, after.billing, amount)
    ]


def cost_events(before: Step | None, after: Step) -> list[EventDraft]:
    """``cost.charged`` when a task's cost is known (at the accepted submit, again when the
    provider reports another amount), ``cost.refunded`` when a failed task is refunded."""
    if before is None or before.billing_seq != after.billing_seq:
        return []
    amount = charged_amount(after)
    reported = after.reported_micros != before.reported_micros
    if after.billing is Billing.CHARGED and (before.billing is not Billing.CHARGED or reported):
        return [_cost_event("cost.charged", after, amount)]
    if after.billing is Billing.REFUNDED and before.billing is not Billing.REFUNDED:
        return [_cost_event("cost.refunded", after, amount)]
    return []


def _cost_event(kind: str, step: Step, amount: int | None) -> EventDraft:
    data: dict[str, Any] = {
        "index": step.index,
        "provider": step.provider,
        "model": step.model,
        "submit": step.billing_seq,
        "usd": None if amount is None else usd(amount),
        "priced": amount is not None,
        "reported_by_provider": step.reported_micros is not None,
    }
    return EventDraft(kind, step.pipeline_id, step.index, data)


GLOBAL = "global"
"""The scope of the caps over every provider; a provider's own scope is its name."""

UsageKey = tuple[str, str]
"""(scope, period): ``("global", "2026-12-04")``, ``("apixo", "2026-12")``."""


def usage_keys(provider: str, day: str) -> list[UsageKey]:
    """Every sum a reservation on ``provider`` made on ``day`` counts in."""
    month = month_of(day)
    return [(GLOBAL, day), (GLOBAL, month), (provider, day), (provider, month)]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One submit's money, as the ledger holds it."""

    pipeline_id: str
    step: int
    seq: int
    provider: str
    model: str
    kind: str
    state: Billing
    estimate_micros: int | None
    amount_micros: int | None
    """What the submit costs: the estimate, or the provider's figure once it reported one."""
    day: str
    created_at: float
    updated_at: float
