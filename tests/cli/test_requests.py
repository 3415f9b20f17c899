"""What the client commands send: submit's and quote's pipeline request (budget, several
providers) and ``budgets set``'s patch, checked on the bodies the API received."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.cli.money import BUDGET_COLUMNS
from tests.cli.conftest import MoneyApi

RESETS = {"day": "2023-11-15T00:00:00Z", "month": "2023-12-01T00:00:00Z"}


def test_submit_sends_budget_and_providers(
    money_api: MoneyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """--budget goes as the string typed, --providers as a list in place of provider; the
    pipeline runs on the cheapest and keeps its budget and routes."""
    argv = ["submit", "--providers", "spare, fake", "--prompt", "e", "--budget", "1.5"]
    assert main(argv) == 0
    pid = capsys.readouterr().out.strip()
    assert money_api.bodies("POST", "/v1/pipelines") == [
        {"prompt": "e", "providers": ["spare", "fake"], "budget_usd": "1.5"}
    ]
    assert main(["status", pid, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["provider"], shown["budget_usd"]) == ("fake", "1.50")
    assert [r["provider"] for r in shown["routing"]["routes"]] == ["fake", "spare"]


def test_submit_provider_auto(money_api: MoneyApi, capsys: pytest.CaptureFixture[str]) -> None:
    """--provider auto is sent as it is, and the API routes it to the cheapest provider."""
    assert main(["submit", "--provider", "auto", "--prompt", "e"]) == 0
    pid = capsys.readouterr().out.strip()
    assert money_api.bodies("POST", "/v1/pipelines") == [{"provider": "auto", "prompt": "e"}]
    assert main(["status", pid]) == 0
    assert capsys.readouterr().out.startswith(f"{pid}  fake ")


def test_providers_replace_the_files_provider(
    money_api: MoneyApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--providers overrides the provider of a --json body (the API takes only one of them)."""
    body = tmp_path / "p.json"
    body.write_text(json.dumps({"provider": "nope", "prompt": "file", "budget_usd": "9"}))
    assert main(["submit", "--json", str(body), "--providers", "spare"]) == 0
    capsys.readouterr()
    assert money_api.bodies("POST", "/v1/pipelines") == [
        {"prompt": "file", "budget_usd": "9", "providers": ["spare"]}
    ]


def test_provider_and_providers_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    """Naming one provider and several is refused before anything is sent."""
    with pytest.raises(SystemExit) as exit_:
        main(["submit", "--provider", "fake", "--providers", "fake,spare", "--prompt", "e"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_quote_prints_each_step_and_what_is_unpriced(
    money_api: MoneyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """quote posts submit's body to /v1/quotes and prints each step's estimate, the total,
    and which steps the total leaves out."""
    argv = ["quote", "--provider", "fake", "--prompt", "x", "--extend", "y", "--branch", "z"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "STEP  KIND      PROVIDER  MODEL      ESTIMATE",
        "   0  generate  fake      fake-fast     $0.20",
        "   1  extend    fake      fake-fast  unpriced",
        "   2  extend    fake      fake-fast  unpriced",
        "total: $0.20",
        "incomplete: steps 1, 2 are unpriced",
    ]
    assert money_api.bodies("POST", "/v1/quotes") == [
        {
            "provider": "fake",
            "prompt": "x",
            "extends": [{"prompt": "y"}, {"prompt": "z", "from": 0}],
        }
    ]
    assert money_api.bodies("POST", "/v1/pipelines") == []


def test_quote_routed_with_a_budget(
    money_api: MoneyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """A quote over several providers names the one chosen, the budget and every route."""
    assert main(["quote", "--providers", "spare,fake", "--prompt", "x", "--budget", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "STEP  KIND      PROVIDER  MODEL      ESTIMATE",
        "   0  generate  fake      fake-fast     $0.20",
        "total: $0.20",
        "budget: $1.00",
        "routes, best first: fake $0.20 · spare $0.30",
    ]
    assert money_api.bodies("POST", "/v1/quotes") == [
        {"prompt": "x", "providers": ["spare", "fake"], "budget_usd": "1"}
    ]


def test_quote_raw(money_api: MoneyApi, capsys: pytest.CaptureFixture[str]) -> None:
    """--raw prints the route's answer as it is (--json names the request body's file)."""
    assert main(["quote", "--provider", "fake", "--prompt", "x", "--extend", "y", "--raw"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["total_usd"], shown["complete"], shown["unpriced_steps"]) == ("0.20", False, [1])


def test_budgets_set_sends_only_the_fields_given(
    money_api: MoneyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cap given is sent as typed, "none" as null (lifting it), one left out not at all (so
    it keeps its cap); --reset alone goes back to the settings; each prints the new table."""

    def spare_rows() -> list[list[str]]:
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == list(BUDGET_COLUMNS)
        return [line.split() for line in lines if line.startswith("spare ")]

    assert main(["budgets", "set", "spare", "--per-day", "2.5", "--per-month", "9.00"]) == 0
    assert spare_rows() == [
        ["spare", "day", "$2.50", "$0.30", "$2.20", "runtime", RESETS["day"]],
        ["spare", "month", "$9.00", "$0.30", "$8.70", "runtime", RESETS["month"]],
    ]
    assert main(["budgets", "set", "spare", "--per-day", "none"]) == 0
    assert spare_rows() == [
        ["spare", "day", "none", "$0.30", "-", "runtime", RESETS["day"]],
        ["spare", "month", "$9.00", "$0.30", "$8.70", "runtime", RESETS["month"]],
    ]
    assert main(["budgets", "set", "spare", "--reset"]) == 0
    assert spare_rows() == [
        ["spare", "day", "none", "$0.30", "-", "none", RESETS["day"]],
        ["spare", "month", "none", "$0.30", "-", "none", RESETS["month"]],
    ]
    assert money_api.bodies("PATCH", "/v1/budgets") == [
        {"scope": "spare", "per_day_usd": "2.5", "per_month_usd": "9.00"},
        {"scope": "spare", "per_day_usd": None},
        {"scope": "spare", "reset": True},
    ]


def test_budgets_set_refusal_is_one_line(
    money_api: MoneyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cap the API refuses (422) is one line naming the field, exit code 2."""
    assert main(["budgets", "set", "spare", "--per-month", "1.0000001"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("reelay: HTTP 422: per_month_usd: ")
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize(
    "argv", [["budgets", "set", "spare"], ["budgets", "set", "spare", "--reset", "--per-day", "1"]]
)
def test_budgets_set_without_one_change_is_refused(
    money_api: MoneyApi, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing to change, or --reset with caps, is a usage error; nothing is sent (an empty
    patch would pin the settings' caps as run-time ones)."""
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("reelay: budgets set: ")
    assert money_api.bodies("PATCH", "/v1/budgets") == []
