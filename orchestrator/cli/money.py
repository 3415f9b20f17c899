"""What ``reelay spend``, ``budgets``, ``quote`` and ``status`` print about money.

The API gives amounts as decimal strings in USD (``"0.20"``); they are shown as they come,
with a dollar sign, never through a float.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from orchestrator.cli.table import aligned

SPEND_COLUMNS = ("SUBMITS", "CHARGED", "REFUNDED", "NET", "RESERVED", "UNPRICED")
BUDGET_COLUMNS = ("SCOPE", "PERIOD", "CAP", "USED", "REMAINING", "SOURCE", "RESETS")
QUOTE_COLUMNS = ("STEP", "KIND", "PROVIDER", "MODEL", "ESTIMATE")


def dollars(amount: str) -> str:
    """``"0.20"`` -> ``"$0.20"``, ``"-0.10"`` -> ``"-$0.10"``."""
    return f"-${amount[1:]}" if amount.startswith("-") else f"${amount}"


def spend_table(report: Mapping[str, Any]) -> list[str]:
    """The lines of ``reelay spend``: the range, a row per group (headed by what it groups
    by), then the total row."""
    head = f"spend {report['first_day']} to {report['last_day']} by {report['group_by']}"
    rows = [_spend_row(g["key"], g) for g in report["groups"]]
    total = report["total"]
    columns = (report["group_by"].upper(), *SPEND_COLUMNS)
    lines = [head, *aligned(columns, [*rows, _spend_row("total", total)], SPEND_COLUMNS)]
    if total["unpriced_submits"]:
        lines.append(
            f"{total['unpriced_submits']} unpriced submit(s): their cost is not in the sums"
        )
    return lines


def _spend_row(key: str, g: Mapping[str, Any]) -> tuple[str, ...]:
    amounts = (g["charged_usd"], g["refunded_usd"], g["net_usd"], g["reserved_usd"])
    return (key, str(g["submits"]), *map(dollars, amounts), str(g["unpriced_submits"]))


def budget_table(report: Mapping[str, Any]) -> list[str]:
    """The lines of ``reelay budgets``: a row per scope and period, then the waiting steps."""
    rows = [
        (
            b["scope"],
            b["period"],
            "none" if b["cap_usd"] is None else dollars(b["cap_usd"]),
            dollars(b["used_usd"]),
            "-" if b["remaining_usd"] is None else dollars(b["remaining_usd"]),
            b["source"],
            b["resets_at"],
        )
        for b in report["budgets"]
    ]
    lines = aligned(BUDGET_COLUMNS, rows, ("CAP", "USED", "REMAINING"))
    if report["waiting_steps"] > 0:
        lines.append(f"{report['waiting_steps']} step(s) waiting for a budget")
    return lines


def quote_lines(quote: Mapping[str, Any]) -> list[str]:
    """The lines of ``reelay quote``: each step's estimate, the total, and what it leaves out."""
    rows = [
        (
            str(s["index"]),
            s["kind"],
            s["provider"],
            s["model"],
            _estimate(s["estimated_usd"]),
        )
        for s in quote["steps"]
    ]
    lines = [
        *aligned(QUOTE_COLUMNS, rows, ("STEP", "ESTIMATE")),
        f"total: {dollars(quote['total_usd'])}",
    ]
    if not quote["complete"]:
        lines.append(f"incomplete: {_steps(quote['unpriced_steps'])} unpriced")
    if quote["budget_usd"] is not None:
        lines.append(f"budget: {dollars(quote['budget_usd'])}")
    if quote["routes"]:
        routes = (f"{r['provider']} {_estimate(r['estimated_usd'])}" for r in quote["routes"])
        lines.append(f"routes, best first: {' · '.join(routes)}")
    lines += [f"skipped {name}: {why}" for name, why in quote["skipped"].items()]
    return lines


def _steps(indexes: Sequence[int]) -> str:
    if len(indexes) == 1:
        return f"step {indexes[0]} is"
    return f"steps {', '.join(map(str, indexes))} are"


def _estimate(amount: str | None) -> str:
    return "unpriced" if amount is None else dollars(amount)


def cost_line(cost: Mapping[str, Any], budget_usd: str | None = None) -> str:
    """A pipeline's money in one line: estimated, charged, refunded, reserved (and budget)."""
    parts = [
        f"estimated {_estimate(cost['estimated_usd'])}",
        f"charged {_charged(cost['charged_usd'], cost.get('unpriced_submits', 0))}",
        f"refunded {dollars(cost['refunded_usd'])}",
        f"reserved {dollars(cost['reserved_usd'])}",
    ]
    if budget_usd is not None:
        parts.append(f"budget {dollars(budget_usd)}")
    if cost["billing_uncertain"]:
        parts.append("billing uncertain")
    return "cost: " + " · ".join(parts)


def _charged(known: str, unpriced: int) -> str:
    """The charged sum, saying what it leaves out: submits made at no known price (never
    counted as $0)."""
    if not unpriced:
        return dollars(known)
    submits = f"{unpriced} unpriced submit{'s' if unpriced > 1 else ''}"
    return submits if Decimal(known) == 0 else f"{dollars(known)} + {submits}"


def step_charge(step: Mapping[str, Any]) -> str:
    """What a step was charged (and refunded), or "" when nothing was."""
    cost = step.get("cost")
    if cost is None or Decimal(cost["charged_usd"]) == 0:
        return ""
    refunded = cost["refunded_usd"]
    return f"charged {dollars(cost['charged_usd'])}" + (
        f", refunded {dollars(refunded)}" if Decimal(refunded) != 0 else ""
    )
