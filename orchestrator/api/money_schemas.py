"""The money shapes of the API: costs, quotes, budgets and spend. Amounts are decimal
strings in USD (``"0.20"``), never JSON numbers: a binary float is not exact."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.api.schemas import Usd, iso, usd_or_none
from orchestrator.domain.prices import usd
from orchestrator.plans import usd_amount
from orchestrator.spending import Budgets, SpendGroup, SpendReport


class QuoteStepOut(BaseModel):
    index: int
    kind: Literal["generate", "extend"]
    mode: Literal["extend", "continue"] | None = None
    """How the step follows its parent (null for the base)."""
    parent: int | None = None
    provider: str
    model: str
    estimated_usd: Usd | None


class QuoteRouteOut(BaseModel):
    provider: str
    estimated_usd: Usd | None


class QuoteOut(BaseModel):
    provider: str
    """Where the pipeline would run (the routed choice, when several were named)."""
    steps: list[QuoteStepOut]
    total_usd: Usd
    """The priced steps' sum; see ``complete``."""
    complete: bool
    """Every step is priced, so ``total_usd`` is the whole estimate."""
    unpriced_steps: list[int]
    budget_usd: Usd | None
    routes: list[QuoteRouteOut] = []
    """A routed request: every provider that can serve it, best first."""
    skipped: dict[str, str] = {}
    """A routed request: providers that cannot serve it, and why."""
    planned_seconds: float | None = None
    """How long the longest branch's whole video should be once every step succeeds."""


class BudgetOut(BaseModel):
    scope: str
    """``global`` (every provider) or a provider's name."""
    period: Literal["day", "month"]
    period_key: str
    """The UTC day (``2026-12-04``) or month (``2026-12``) now running."""
    cap_usd: Usd | None
    source: Literal["setting", "runtime", "none"]
    setting: str
    used_usd: Usd
    """Reserved and charged in this period (refunds and releases give room back)."""
    remaining_usd: Usd | None
    resets_at: str


class BudgetsOut(BaseModel):
    budgets: list[BudgetOut]
    waiting_steps: int
    """Steps waiting for a cap (or for a price a cap needs)."""


def budgets_out(found: Budgets) -> BudgetsOut:
    return BudgetsOut(
        budgets=[
            BudgetOut(
                scope=line.scope,
                period=line.period,
                period_key=line.period_key,
                cap_usd=usd_or_none(line.cap),
                source=line.source,
                setting=line.setting,
                used_usd=usd(line.used),
                remaining_usd=usd_or_none(line.remaining),
                resets_at=iso(line.resets_at) or "",
            )
            for line in found.lines
        ],
        waiting_steps=found.waiting_steps,
    )


class BudgetPatch(BaseModel):
    """Change one scope's caps at run time. A field left out keeps its cap; ``null`` lifts
    it; ``reset: true`` goes back to the settings' caps for the scope."""

    model_config = ConfigDict(extra="forbid")

    scope: str = Field(description='"global" or a provider name')
    per_day_usd: str | None = Field(default=None, description='USD per UTC day ("50.00")')
    per_month_usd: str | None = Field(default=None, description="USD per UTC month")
    reset: bool = False

    @field_validator("per_day_usd", "per_month_usd", mode="before")
    @classmethod
    def _exact(cls, value: object) -> object:
        checked = usd_amount(value)
        return None if checked is None else str(checked)


class SpendGroupOut(BaseModel):
    key: str
    submits: int
    charged_usd: Usd
    refunded_usd: Usd
    net_usd: Usd
    reserved_usd: Usd
    unpriced_submits: int
    """Submits without a price: their cost is not in the sums."""


class SpendOut(BaseModel):
    first_day: str
    """The first UTC day counted (``from``), inclusive."""
    last_day: str
    """The last UTC day counted (``to``), inclusive."""
    group_by: str
    groups: list[SpendGroupOut]
    total: SpendGroupOut


def _group(g: SpendGroup) -> SpendGroupOut:
    return SpendGroupOut(
        key=g.key,
        submits=g.submits,
        charged_usd=usd(g.charged),
        refunded_usd=usd(g.refunded),
        net_usd=usd(g.net),
        reserved_usd=usd(g.reserved),
        unpriced_submits=g.unpriced_submits,
    )


def spend_out(report: SpendReport) -> SpendOut:
    return SpendOut(
        first_day=report.first_day,
        last_day=report.last_day,
        group_by=report.group_by,
        groups=[_group(g) for g in report.groups],
        total=_group(report.total),
    )
