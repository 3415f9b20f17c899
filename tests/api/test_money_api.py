"""The money routes over ASGI on a real SQLite file: quotes create nothing, a pipeline shows
what it costs, budgets are read and changed at run time, spend is summed, /metrics says it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.domain.prices import PriceBook
from orchestrator.engine.budget import settings_caps
from orchestrator.metrics import Metrics
from orchestrator.plans import PipelineRequest
from orchestrator.settings import Settings
from orchestrator.spending import Spending
from orchestrator.store import Store
from tests.api.helpers import TOKEN
from tests.fakes import FakeProvider
from tests.orchestrator.money_helpers import EXTEND, Rig, book

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY: dict[str, Any] = {
    "provider": "fake",
    "prompt": "a lighthouse at dusk",
    "extends": [{"prompt": "waves"}],
}


@pytest.fixture
def rig(settings: Settings, store: Store, fake: FakeProvider) -> Rig:
    limited = settings.model_copy(update={"budget_usd_per_day": Decimal("10.00")})
    return Rig(store, limited, {"fake": fake}, book("fake"))


@pytest.fixture
def client(rig: Rig, store: Store, settings: Settings) -> httpx.AsyncClient:
    limited = settings.model_copy(update={"budget_usd_per_day": Decimal("10.00")})
    spending = Spending(store, settings_caps(limited), clock=rig.clock)
    app = create_api_app(rig.ops, store, api_token=TOKEN, spending=spending)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers=AUTH
    )


async def test_a_quote_prices_each_step_and_creates_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    answer = await client.post("/v1/quotes", json=BODY)
    assert answer.status_code == 200
    quote = answer.json()
    assert [s["estimated_usd"] for s in quote["steps"]] == ["0.20", "0.30"]
    assert (quote["total_usd"], quote["complete"], quote["unpriced_steps"]) == ("0.50", True, [])
    assert await store.list_pipelines() == []
    created = (await client.post("/v1/pipelines", json=BODY)).json()
    assert created["cost"]["estimated_usd"] == quote["total_usd"]  # the same estimate


async def test_a_quote_lists_unpriced_steps_and_never_counts_them(
    client: httpx.AsyncClient, rig: Rig
) -> None:
    rig.ops.prices = PriceBook(r for r in book("fake").rows if r.kind == "generate")
    quote = (await client.post("/v1/quotes", json=BODY)).json()
    assert [s["estimated_usd"] for s in quote["steps"]] == ["0.20", None]
    assert (quote["total_usd"], quote["complete"], quote["unpriced_steps"]) == ("0.20", False, [1])


async def test_money_amounts_are_decimal_strings_and_floats_are_refused(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/v1/pipelines", json={**BODY, "budget_usd": 0.5})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "budget_usd"
    over = await client.post("/v1/pipelines", json={**BODY, "budget_usd": "0.40"})
    assert over.status_code == 422
    problem = over.json()["error"]["fields"][0]
    assert problem["field"] == "budget_usd"
    assert "$0.50" in problem["message"]


async def test_a_pipeline_shows_what_each_step_cost(client: httpx.AsyncClient, rig: Rig) -> None:
    created = (await client.post("/v1/pipelines", json={**BODY, "budget_usd": "1.00"})).json()
    assert created["budget_usd"] == "1.00"
    assert created["cost"]["charged_usd"] == "0.00"
    await rig.drive()
    done = (await client.get(f"/v1/pipelines/{created['id']}")).json()
    assert done["status"] == "succeeded"
    assert done["cost"] == {
        "estimated_usd": "0.50",
        "reserved_usd": "0.00",
        "charged_usd": "0.50",
        "refunded_usd": "0.00",
        "net_usd": "0.50",
        "billing_uncertain": False,
        "unpriced_steps": [],
        "unpriced_submits": 0,
    }
    assert [s["cost"]["charged_usd"] for s in done["steps"]] == ["0.20", "0.30"]
    assert [s["provider"] for s in done["steps"]] == ["fake", "fake"]


async def test_budgets_are_read_and_changed_at_run_time(
    client: httpx.AsyncClient, rig: Rig
) -> None:
    await client.post("/v1/pipelines", json=BODY)
    await rig.drive()
    found = (await client.get("/v1/budgets")).json()
    day = next(b for b in found["budgets"] if b["scope"] == "global" and b["period"] == "day")
    assert (day["cap_usd"], day["used_usd"], day["remaining_usd"], day["source"]) == (
        "10.00",
        "0.50",
        "9.50",
        "setting",
    )
    assert day["setting"] == "REELAY_BUDGET_USD_PER_DAY"
    changed = await client.patch("/v1/budgets", json={"scope": "fake", "per_month_usd": "2.5"})
    assert changed.status_code == 422  # "fake" is no scope
    assert changed.json()["error"]["fields"][0]["field"] == "scope"
    changed = await client.patch("/v1/budgets", json={"scope": "global", "per_month_usd": "2.5"})
    assert changed.status_code == 200
    lines = {(b["period"]): b for b in changed.json()["budgets"] if b["scope"] == "global"}
    assert lines["day"]["cap_usd"] == "10.00"  # left out: kept
    assert (lines["month"]["cap_usd"], lines["month"]["source"]) == ("2.50", "runtime")
    lifted = await client.patch("/v1/budgets", json={"scope": "global", "per_day_usd": None})
    day = next(b for b in lifted.json()["budgets"] if b["scope"] == "global")
    assert day["cap_usd"] is None
    reset = await client.patch("/v1/budgets", json={"scope": "global", "reset": True})
    day = next(b for b in reset.json()["budgets"] if b["scope"] == "global")
    assert (day["cap_usd"], day["source"]) == ("10.00", "setting")
    bad = await client.patch("/v1/budgets", json={"scope": "global", "per_day_usd": 5.5})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "per_day_usd"


async def test_spend_is_grouped_over_days(client: httpx.AsyncClient, rig: Rig) -> None:
    first = (await client.post("/v1/pipelines", json=BODY)).json()
    await client.post("/v1/pipelines", json={**BODY, "extends": []})
    await rig.drive()
    by_pipeline = (await client.get("/v1/spend", params={"group_by": "pipeline"})).json()
    nets = {g["key"]: g["net_usd"] for g in by_pipeline["groups"]}
    assert nets[first["id"]] == "0.50"
    assert by_pipeline["total"]["net_usd"] == "0.70"
    assert by_pipeline["total"]["submits"] == 3
    by_model = (await client.get("/v1/spend", params={"group_by": "model"})).json()
    assert by_model["total"]["charged_usd"] == "0.70"
    day = by_pipeline["last_day"]  # today; the default range starts on the 1st
    none = await client.get("/v1/spend", params={"from": "2001-01-01", "to": "2001-01-31"})
    assert none.json()["groups"] == []
    same = (await client.get("/v1/spend", params={"from": day, "to": day})).json()
    assert same["total"]["net_usd"] == "0.70"
    bad = await client.get("/v1/spend", params={"group_by": "week"})
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"][0]["field"] == "group_by"


async def test_metrics_show_spend_and_what_each_budget_has_left(
    rig: Rig, store: Store, settings: Settings
) -> None:
    limited = settings.model_copy(update={"budget_usd_per_day": Decimal("10.00")})
    metrics = Metrics(store, ["fake"], Spending(store, settings_caps(limited), clock=rig.clock))
    await rig.ops.create(PipelineRequest.model_validate(BODY))
    await rig.drive()
    text = (await metrics.render()).decode()
    assert (
        f'reelay_spend_usd_total{{model="fake-fast",provider="fake"}} {0.2 + EXTEND / 1e6}' in text
    )
    assert 'reelay_budget_remaining_usd{scope="global/day"} 9.5' in text
