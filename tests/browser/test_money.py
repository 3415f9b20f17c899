"""Money in Chromium against a real ``reelay serve`` and the sandbox (apixo fast is priced at
$0.20 by default, octopusx has no price): the charge appears on an open page, budgets and routing
are shown, and every screen is photographed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Stack, shoot, wait_for

pytestmark = pytest.mark.slow


def _mark(page: Page) -> None:
    """Tag this document: if the page reloads, the tag is gone."""
    page.evaluate("window.__noReload = true")


def _not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__noReload === true"))


def _amount(page: Page, label: str) -> Locator:
    return page.locator("#cost .stat").filter(has=page.locator("dt", has_text=label)).locator(".v")


def test_the_charge_appears_on_the_open_page(page: Page, stack: Stack) -> None:
    """A cap of $0.10 holds apixo's $0.20 submit: the providers page shows the cap and the
    waiting step, the pipeline page the estimate and nothing charged. Once the cap is lifted,
    the open page shows the $0.20 charge as the pipeline succeeds, without a reload."""
    capped = {"scope": "apixo", "per_day_usd": "0.10"}
    stack.client.patch("/v1/budgets", json=capped).raise_for_status()
    try:
        body = {"provider": "apixo", "tier": "fast", "prompt": "A lantern swings on a pier"}
        pid = stack.create({**body, "budget_usd": "1.00"})["id"]

        def waiting() -> bool:
            return bool(stack.client.get("/v1/budgets").json()["waiting_steps"] == 1)

        wait_for(waiting, "the submit to wait for the apixo cap")
        page.goto("/ui/providers")
        budgets = page.locator("#budgets")
        expect(budgets).to_contain_text("1 step waiting for a budget")
        expect(page.locator("#budget-apixo-day")).to_contain_text("$0.10")
        expect(budgets).to_contain_text("No cap on: global, apimart, octopusx, apifree")
        shoot(page, "providers-budgets")

        page.goto(f"/ui/pipelines/{pid}")
        expect(page.locator("#live")).to_have_text("live")
        _mark(page)
        expect(_amount(page, "Estimated")).to_have_text("$0.20")
        expect(_amount(page, "Charged")).to_have_text("$0.00")
        expect(page.locator("#step-0 .cost-line")).to_have_text("est. $0.20")
        shoot(page, "pipeline-cost-waiting", full_page=False)
    finally:
        stack.client.patch("/v1/budgets", json={"scope": "apixo", "reset": True})

    summary = page.locator("#summary .badge").first
    expect(summary).to_have_text(re.compile("succeeded"), timeout=90_000)
    expect(_amount(page, "Charged")).to_have_text("$0.20")
    expect(_amount(page, "Budget")).to_have_text("$1.00")
    expect(page.locator("#cost")).to_contain_text("$0.80 left")
    expect(page.locator("#step-0 .cost-line")).to_have_text("est. $0.20 · charged $0.20")
    assert _not_reloaded(page), "the page reloaded instead of updating in place"
    shoot(page, "pipeline-cost", full_page=False)


def test_routing_and_unpriced_steps(page: Page, stack: Stack) -> None:
    """A pipeline routed away from apixo (out of balance) to octopusx shows both choices and
    its reasons; octopusx's steps read "unpriced"; the list shows each pipeline's cost."""
    stack.sandbox_config(out_of_balance=["apixo"])
    try:
        routed = stack.create(
            {
                "providers": ["octopusx", "apixo"],
                "tier": "fast",
                "prompt": "A heron lifts off a misty lake",
            }
        )
        page.goto(f"/ui/pipelines/{routed['id']}")
        expect(page.locator("#summary .badge").first).to_have_text(
            re.compile("succeeded"), timeout=90_000
        )
    finally:
        stack.sandbox_config(out_of_balance=[])
    routing = page.locator("#routing")
    expect(routing).to_contain_text("Chose apixo")
    expect(routing).to_contain_text("Moved to octopusx")
    expect(_amount(page, "Estimated")).to_have_text("unpriced")
    expect(_amount(page, "Charged")).to_have_text("unpriced")
    shoot(page, "pipeline-routed")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "pipeline-routed-phone", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/ui/pipelines")
    expect(page.locator(f"#row-{routed['id']} td.cost")).to_have_text("unpriced")
    shoot(page, "pipelines-cost", full_page=False)
