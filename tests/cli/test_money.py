"""``reelay spend``, ``budgets`` and ``status``: the money the API reports, as tables and
lines with dollar amounts, or as the API's JSON."""

from __future__ import annotations

import json

import httpx
import pytest

from orchestrator.cli import main
from orchestrator.cli.money import cost_line, dollars
from tests.cli.conftest import MoneyApi

BUDGETS = [
    "SCOPE   PERIOD    CAP   USED  REMAINING  SOURCE   RESETS",
    "global  day     $0.60  $0.50      $0.10  runtime  2023-11-15T00:00:00Z",
    "global  month    none  $0.50          -  runtime  2023-12-01T00:00:00Z",
    "fake    day      none  $0.20          -  none     2023-11-15T00:00:00Z",
    "fake    month    none  $0.20          -  none     2023-12-01T00:00:00Z",
    "spare   day      none  $0.30          -  none     2023-11-15T00:00:00Z",
    "spare   month    none  $0.30          -  none     2023-12-01T00:00:00Z",
    "1 step(s) waiting for a budget",
]


def test_spend_table_and_total(money_api: MoneyApi, capsys: pytest.CaptureFixture[str]) -> None:
    """A row per provider with its amounts in dollars, then the total row, and a note of the
    unpriced submits the sums leave out."""
    assert main(["spend"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "spend 2023-11-01 to 2023-11-14 by provider",
        "PROVIDER  SUBMITS  CHARGED  REFUNDED    NET  RESERVED  UNPRICED",
        "fake            2    $0.20     $0.00  $0.20     $0.00         1",
        "spare           1    $0.30     $0.00  $0.30     $0.00         0",
        "total           3    $0.50     $0.00  $0.50     $0.00         1",
        "1 unpriced submit(s): their cost is not in the sums",
    ]


def test_spend_json_passes_the_filters(
    money_api: MoneyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the route's answer as it is, for the range, grouping and provider given."""
    argv = ["spend", "--from", "2023-11-14", "--to", "2023-11-14", "--group-by", "model"]
    assert main([*argv, "--provider", "spare", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["first_day"], shown["last_day"], shown["group_by"]) == (
        "2023-11-14",
        "2023-11-14",
        "model",
    )
    assert shown["groups"] == [
        {
            "key": "fake-fast",
            "submits": 1,
            "charged_usd": "0.30",
            "refunded_usd": "0.00",
            "net_usd": "0.30",
            "reserved_usd": "0.00",
            "unpriced_submits": 0,
        }
    ]
    assert shown["total"]["charged_usd"] == "0.30"


def test_spend_with_a_bad_day_is_one_line(
    money_api: MoneyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """A day the API refuses is reported in one line naming the parameter, exit code 2."""
    assert main(["spend", "--from", "yesterday"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("reelay: HTTP 400: from:")
    assert captured.err.count("\n") == 1


def test_budgets_table(money_api: MoneyApi, capsys: pytest.CaptureFixture[str]) -> None:
    """A row per scope and period with cap (or none), used, remaining, source and reset, then
    how many steps wait for a budget."""
    assert main(["budgets"]) == 0
    assert capsys.readouterr().out.splitlines() == BUDGETS


def test_budgets_json(money_api: MoneyApi, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the route's answer as it is."""
    assert main(["budgets", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    served = httpx.get(
        f"{money_api.url}/v1/budgets", headers={"Authorization": "Bearer tok"}
    ).json()
    assert shown == served
    assert shown["waiting_steps"] == 1


def test_status_shows_the_cost(money_api: MoneyApi, capsys: pytest.CaptureFixture[str]) -> None:
    """status prints the pipeline's cost line (estimated unpriced while a step has no price,
    the budget when it has one) and what each step was charged."""
    assert main(["status", money_api.chain]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{money_api.chain}  fake      succeeded",
        "  cost: estimated unpriced · charged $0.20 + 1 unpriced submit · refunded $0.00"
        " · reserved $0.00",
        "  step 0 generate       succeeded  charged $0.20",
        "  step 1 extend   <- 0  succeeded",
    ]
    assert main(["status", money_api.budgeted]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  cost: estimated $0.30 · charged $0.30 · refunded $0.00 · reserved $0.00 · budget $1.00",
        "  step 0 generate       succeeded  charged $0.30",
    ]


def test_cost_line_says_when_billing_is_uncertain() -> None:
    """A lost submit answer is flagged at the end of the cost line."""
    cost = {
        "estimated_usd": "0.40",
        "charged_usd": "0.20",
        "refunded_usd": "0.00",
        "reserved_usd": "0.20",
        "net_usd": "0.20",
        "billing_uncertain": True,
        "unpriced_steps": [],
    }
    assert cost_line(cost) == (
        "cost: estimated $0.40 · charged $0.20 · refunded $0.00 · reserved $0.20"
        " · billing uncertain"
    )


def test_dollars_keep_the_api_digits() -> None:
    """Amounts are shown as the API wrote them, the sign before the dollar sign."""
    assert [dollars(a) for a in ("0.20", "1.234567", "-0.10")] == ["$0.20", "$1.234567", "-$0.10"]
