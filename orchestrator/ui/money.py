"""Money as the dashboard shows it: dollar amounts, a pipeline's and each step's cost, and the
budgets in force. Pure: the sums come from ``orchestrator.spending``.

A missing price reads "unpriced", never $0.00: neither for an estimate nor for a submit charged
at a price nobody knows (an unpriced step the provider reported no cost for).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.domain.ledger import LedgerEntry
from orchestrator.domain.models import Billing, PipelineView, Routing
from orchestrator.domain.prices import usd
from orchestrator.spending import BudgetLine, Budgets, Cost, pipeline_costs

UNPRICED = "unpriced"


def dollars(micros: int | None) -> str:
    """``$0.20``; ``unpriced`` for None."""
    return UNPRICED if micros is None else f"${usd(micros)}"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _amount(known: int, unknown: bool) -> str:
    if not unknown:
        return dollars(known)
    return f"{dollars(known)} + {UNPRICED}" if known else UNPRICED


@dataclass(frozen=True, slots=True)
class Money:
    """A step's or a pipeline's cost, with what the sums cannot say."""

    cost: Cost
    unpriced_charges: tuple[int, ...] = ()
    """Steps with a submit charged at no known amount."""
    unpriced_refunds: tuple[int, ...] = ()
    """Steps with a submit refunded at no known amount."""
    budget: int | None = None
    """The pipeline's own ``budget_usd`` (micro-USD); None when it has none."""

    @property
    def estimated(self) -> str:
        return dollars(self.cost.estimated)

    @property
    def charged(self) -> str:
        return _amount(self.cost.charged, bool(self.unpriced_charges))

    @property
    def refunded(self) -> str:
        return _amount(self.cost.refunded, bool(self.unpriced_refunds))

    @property
    def reserved(self) -> str:
        return dollars(self.cost.reserved)

    @property
    def committed(self) -> int:
        """What counts against a budget: reserved, and charged less refunds."""
        return self.cost.reserved + self.cost.net

    @property
    def left(self) -> int | None:
        return None if self.budget is None else max(self.budget - self.committed, 0)

    @property
    def parts(self) -> list[str]:
        """A step's one line: its estimate, then only the amounts there are."""
        c = self.cost
        shown = [f"est. {self.estimated}"]
        if c.charged or self.unpriced_charges:
            shown.append(f"charged {self.charged}")
        if c.refunded or self.unpriced_refunds:
            shown.append(f"refunded {self.refunded}")
        if c.reserved:
            shown.append(f"reserved {self.reserved}")
        return shown

    @property
    def net(self) -> str:
        """The list's cost cell: net charged, or "—" while nothing is charged."""
        c = self.cost
        if not c.charged and not self.unpriced_charges:
            return "—"
        return _amount(c.net, bool(self.unpriced_charges))

    @property
    def summary(self) -> str:
        """Every amount, in a sentence (the list cell's tooltip)."""
        said = [f"estimated {self.estimated}", *self.parts[1:]]
        if self.cost.uncertain:
            said.append("billing uncertain")
        return ", ".join(said)

    @property
    def sig(self) -> str:
        """Changes whenever anything shown of it changes."""
        return _digest(repr(self))


def pipeline_money(
    view: PipelineView, ledger: Sequence[LedgerEntry]
) -> tuple[Money, dict[int, Money]]:
    """The pipeline's money and each step's, from its ledger rows (others are ignored)."""
    rows = [e for e in ledger if e.pipeline_id == view.pipeline.id]
    total, costs = pipeline_costs(view, rows)
    unknown = [e for e in rows if e.amount_micros is None]
    charges = sorted({e.step for e in unknown if e.state in (Billing.CHARGED, Billing.REFUNDED)})
    refunds = sorted({e.step for e in unknown if e.state is Billing.REFUNDED})
    steps = {
        i: Money(c, (i,) if i in charges else (), (i,) if i in refunds else ())
        for i, c in costs.items()
    }
    return Money(total, tuple(charges), tuple(refunds), view.pipeline.budget_micros), steps


def list_money(views: Sequence[PipelineView], ledger: Sequence[LedgerEntry]) -> dict[str, Money]:
    """Each pipeline's money, by id, from the ledger rows of them all (one read for a page)."""
    rows: dict[str, list[LedgerEntry]] = {}
    for entry in ledger:
        rows.setdefault(entry.pipeline_id, []).append(entry)
    return {v.pipeline.id: pipeline_money(v, rows.get(v.pipeline.id, []))[0] for v in views}


def routing_sig(routing: Routing | None) -> str:
    if routing is None:
        return ""
    return _digest(repr((routing.routes, routing.skipped, routing.decisions)))


@dataclass(frozen=True, slots=True)
class BudgetBoard:
    """The providers page's budgets: each cap in force, and the scopes with none."""

    capped: list[BudgetLine]
    uncapped: list[str]
    """Scopes with no cap for any period."""
    waiting_steps: int

    @classmethod
    def of(cls, budgets: Budgets) -> BudgetBoard:
        scopes: dict[str, list[BudgetLine]] = {}
        for line in budgets.lines:
            scopes.setdefault(line.scope, []).append(line)
        return cls(
            capped=[line for line in budgets.lines if line.cap is not None],
            uncapped=[s for s, lines in scopes.items() if all(x.cap is None for x in lines)],
            waiting_steps=budgets.waiting_steps,
        )


def used_percent(line: BudgetLine) -> int:
    """How much of a cap is used, 0-100 (a zero cap is full)."""
    if not line.cap:
        return 100
    return min(100, line.used * 100 // line.cap)
