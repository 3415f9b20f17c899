"""What the dashboard shows of money: a pipeline's cost, each step's, how a routed pipeline chose
its provider, the list's cost column and the budgets in force."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, cast

from orchestrator.api.services import ApiServices
from orchestrator.domain.ledger import LedgerEntry
from orchestrator.plans import PipelineRequest
from orchestrator.providers.errors import InsufficientBalance, OutcomeUnknown
from orchestrator.store import Store
from tests.ui.helpers import Board, PricedBoard, sig_of, text_of


async def _create(board: PricedBoard, **body: object) -> str:
    request = PipelineRequest.model_validate({"prompt": "a lighthouse", **body})
    view, _ = await board.ops.create(request)
    return view.pipeline.id


async def _page(board: Board, path: str) -> str:
    answer = await board.client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_the_cost_summary_follows_the_pipeline(priced: PricedBoard) -> None:
    """Before any submit the summary shows the estimate and the budget; once run, what was
    charged, and the budget left. A cost change changes the summary's and the steps' sigs."""
    await priced.sign_in()
    pid = await _create(
        priced, provider="apixo", extends=[{"prompt": "the beam sweeps"}], budget_usd="1.00"
    )
    before = await _page(priced, f"/ui/pipelines/{pid}")
    cost = text_of(before, "cost")
    assert "Estimated $0.35" in cost
    assert "Charged $0.00" in cost
    assert "Budget $1.00 $1.00 left" in cost
    assert "uncertain" not in cost.lower()
    await priced.run(10)
    after = await _page(priced, f"/ui/pipelines/{pid}")
    cost = text_of(after, "cost")
    assert "Charged $0.35" in cost
    assert "Reserved $0.00" in cost
    assert "Budget $1.00 $0.65 left" in cost
    for part in ("cost", "step-0", "step-1"):
        assert sig_of(before, part) != sig_of(after, part), part


async def test_each_step_shows_its_estimate_and_charge(priced: PricedBoard) -> None:
    """One muted line per step: the estimate alone until money moves, then what was charged."""
    await priced.sign_in()
    pid = await _create(priced, provider="apixo", extends=[{"prompt": "the beam sweeps"}])
    html = await _page(priced, f"/ui/pipelines/{pid}")
    assert _cost_line(html, 0) == "est. $0.20"
    assert _cost_line(html, 1) == "est. $0.15"
    await priced.run(10)
    html = await _page(priced, f"/ui/pipelines/{pid}")
    assert _cost_line(html, 0) == "est. $0.20 · charged $0.20"
    assert _cost_line(html, 1) == "est. $0.15 · charged $0.15"


def _cost_line(html: str, index: int) -> str:
    node = html[html.index(f'id="step-{index}"') :]
    found = re.search(r'<p class="cost-line">(.*?)</p>', node, re.S)
    assert found is not None, f"step {index} has no cost line"
    return found.group(1).strip()


async def test_a_refund_and_an_uncertain_submit_are_shown(priced: PricedBoard) -> None:
    """A failed task refunded shows charged and refunded; a lost submit answer stays reserved
    and is flagged "billing uncertain" on the page, the step and the list."""
    await priced.sign_in()
    priced.fake.fail_prompts.add("doomed")
    refunded = await _create(priced, provider="apixo", prompt="doomed")
    await priced.run(5)
    priced.fake.submit_errors.append(OutcomeUnknown("the answer was lost", provider="apixo"))
    lost = await _create(priced, provider="apixo", prompt="lost")
    await priced.run(5)
    html = await _page(priced, f"/ui/pipelines/{refunded}")
    cost = text_of(html, "cost")
    assert "Charged $0.20 $0.00 net of refunds Refunded $0.20" in cost
    assert _cost_line(html, 0) == "est. $0.20 · charged $0.20 · refunded $0.20"
    html = await _page(priced, f"/ui/pipelines/{lost}")
    cost = text_of(html, "cost")
    assert "Reserved $0.20 awaiting the provider's answer" in cost
    assert "Billing uncertain: a submit's answer was lost" in cost
    assert "est. $0.20 · reserved $0.20 · " in _cost_line(html, 0)
    assert "billing uncertain" in _cost_line(html, 0)
    listing = await _page(priced, "/ui/pipelines")
    assert _cost_cell(listing, refunded) == "$0.00"
    assert _cost_cell(listing, lost) == "— ⚠ billing uncertain"


async def test_an_unpriced_provider_reads_unpriced_never_zero(priced: PricedBoard) -> None:
    """octopusx has no price: its estimate and its charge say "unpriced", naming the steps,
    and nothing says $0.00 for them."""
    await priced.sign_in()
    pid = await _create(priced, provider="octopusx", extends=[{"prompt": "the beam sweeps"}])
    cost = text_of(await _page(priced, f"/ui/pipelines/{pid}"), "cost")
    assert "Estimated unpriced no price for #0 generate, #1 extend" in cost
    assert "Estimated $0.00" not in cost
    await priced.run(10)
    html = await _page(priced, f"/ui/pipelines/{pid}")
    cost = text_of(html, "cost")
    assert "Charged unpriced amount unknown for #0, #1" in cost
    assert "Charged $0.00" not in cost
    assert _cost_line(html, 0) == "est. unpriced · charged unpriced"
    listing = await _page(priced, "/ui/pipelines")
    assert _cost_cell(listing, pid) == "unpriced"


async def test_a_routed_pipeline_shows_each_choice(priced: PricedBoard) -> None:
    """The first choice and its reason, then the move after apixo refused for want of balance."""
    await priced.sign_in()
    priced.fake.submit_errors.append(InsufficientBalance("balance is zero", provider="apixo"))
    pid = await _create(priced, providers=["octopusx", "apixo"])
    html = await _page(priced, f"/ui/pipelines/{pid}")
    routing = text_of(html, "routing")
    assert "Chose apixo" in routing
    assert "cheapest healthy of apixo $0.20, octopusx unpriced" in routing
    assert "Routes, best first: apixo $0.20 · octopusx unpriced" in routing
    first = sig_of(html, "routing")
    await priced.run(10)
    html = await _page(priced, f"/ui/pipelines/{pid}")
    routing = text_of(html, "routing")
    assert "Moved to octopusx" in routing
    assert "apixo refused the submit before any task existed" in routing
    assert routing.index("Chose apixo") < routing.index("Moved to octopusx")
    assert sig_of(html, "routing") != first


async def test_a_pipeline_that_was_not_routed_has_no_routing_section(priced: PricedBoard) -> None:
    """Naming one provider is not routing."""
    await priced.sign_in()
    pid = await _create(priced, provider="apixo")
    assert 'id="routing"' not in await _page(priced, f"/ui/pipelines/{pid}")


class _CountingStore:
    """The store, counting ledger reads."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.ledger_reads = 0

    async def ledger(self, pipeline_ids: Any) -> list[LedgerEntry]:
        self.ledger_reads += 1
        return await self._store.ledger(pipeline_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _cost_cell(html: str, pid: str) -> str:
    row = html[html.index(f'id="row-{pid}"') :]
    found = re.search(r'<td data-label="Cost"[^>]*>(.*?)</td>', row, re.S)
    assert found is not None
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def test_the_list_shows_net_charged_from_one_ledger_read(priced: PricedBoard) -> None:
    """A run pipeline shows what it was charged, one not yet submitted a dash; the whole page
    reads the ledger once, and a row's sig changes with its cost."""
    await priced.sign_in()
    ran = await _create(priced, provider="apixo")
    before = await _page(priced, "/ui/pipelines")
    await priced.run(10)
    waiting = await _create(priced, provider="apixo", prompt="not yet")
    state = cast(Any, priced.app).state
    services: ApiServices = state.services
    counting = _CountingStore(services.store)
    state.services = replace(services, store=cast(Store, counting))
    listing = await _page(priced, "/ui/pipelines")
    assert counting.ledger_reads == 1
    assert _cost_cell(listing, ran) == "$0.20"
    assert _cost_cell(listing, waiting) == "—"
    assert '<th scope="col" class="num">Cost</th>' in listing
    assert sig_of(before, f"row-{ran}") != sig_of(listing, f"row-{ran}")


async def test_the_budgets_section_lists_each_cap_in_force(priced: PricedBoard) -> None:
    """Each cap with what it has used and left, where it comes from, the scopes without a cap
    on one line, and the steps waiting for a budget."""
    await priced.sign_in()
    await priced.spending.set_caps("global", {"day": 100_000})
    await _create(priced, provider="apixo")
    await priced.run(3)
    html = await _page(priced, "/ui/providers")
    budgets = text_of(html, "budgets")
    assert "1 step waiting for a budget" in budgets
    assert "No cap on: apimart, octopusx, apifree" in budgets
    month = text_of(html, "budget-apixo-month")
    assert month.startswith("apixo month")
    assert "$50.00 REELAY_APIXO_BUDGET_USD_PER_MONTH $0.00 $50.00" in month  # used, remaining
    day = text_of(html, "budget-global-day")
    assert "$0.10 set at run time $0.00 $0.10" in day
    assert 'id="budget-global-month"' not in html
    assert 'id="budget-apixo-day"' not in html


async def test_without_any_cap_the_budgets_say_so_in_one_line(board: Board) -> None:
    """Every scope uncapped: no table, one line naming them all."""
    await board.sign_in()
    budgets = text_of(await _page(board, "/ui/providers"), "budgets")
    assert "No step is waiting for a budget." in budgets
    assert (
        "No cap on: global, apimart, octopusx, apixo, apifree: spending is not limited." in budgets
    )
    assert "Resets" not in budgets
