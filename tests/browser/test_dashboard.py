"""The dashboard in Chromium against a real ``reelay serve`` and the sandbox: every screen is
used the way a person would, and photographed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.browser.conftest import Stack, shoot, wait_for

pytestmark = pytest.mark.slow

XSS = "<img src=x onerror=alert(1)>"


def _mark(page: Page) -> None:
    """Tag this document: if the page reloads, the tag is gone."""
    page.evaluate("window.__noReload = true")


def _not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__noReload === true"))


def test_create_a_pipeline_through_the_form_and_watch_it_finish(page: Page, stack: Stack) -> None:
    """Fill the form (with an extend row), review, confirm; the page follows the pipeline from
    running to succeeded with no reload, and each kept video loads in the player."""
    page.goto("/ui/pipelines/new")
    page.get_by_label("Provider", exact=True).select_option("octopusx")
    page.get_by_label("Tier", exact=True).select_option("fast")
    page.get_by_label("Prompt", exact=True).fill("A paper boat drifts down a rainy street")
    with page.expect_navigation():
        page.get_by_role("button", name="+ Add an extend").click()
    page.get_by_label("Step 1 prompt").fill("It slips into a storm drain")
    page.get_by_label("Metadata").fill('{"campaign": "browser"}')
    shoot(page, "create-form")
    page.get_by_role("button", name="Review pipeline…").click()
    expect(page.get_by_role("heading", name="Create this pipeline?")).to_be_visible()
    shoot(page, "create-review")
    page.get_by_role("button", name="Yes, create the pipeline").click()
    page.wait_for_url(re.compile(r".*/ui/pipelines/pl_[0-9a-f]+$"))
    _mark(page)
    summary = page.locator("#summary")
    expect(summary.locator(".badge").first).to_contain_text(re.compile("pending|running"))
    expect(summary.locator(".badge").first).to_have_text(re.compile("succeeded"), timeout=90_000)
    assert _not_reloaded(page), "the page reloaded instead of updating in place"
    expect(page.locator("#live")).to_have_text("live")
    players = page.locator(".node video.player")
    expect(players).to_have_count(2, timeout=60_000)
    for i in range(2):
        page.wait_for_function(
            "v => v.readyState >= 1 && v.duration > 0", arg=players.nth(i).element_handle()
        )
    # Each kept video was measured when it was kept (the sandbox's: 160x90 at 8 fps; the
    # extend's file holds the base too: 15 s).
    expect(page.locator("dd", has_text="8 s · 160x90 · 8 fps · h264 + aac")).to_have_count(1)
    expect(page.locator("dd", has_text="15 s · 160x90 · 8 fps · h264 + aac")).to_have_count(1)
    whole = page.locator("#whole-videos video.player")
    expect(whole).to_have_count(1, timeout=60_000)
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 14", arg=whole.element_handle())
    expect(page.locator("#whole-videos")).to_contain_text("one file")
    shoot(page, "pipeline")
    shoot(page, "pipeline-view", full_page=False)  # the README's picture
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "pipeline-phone")


def test_the_player_seeks_with_range_requests(stack: Stack) -> None:
    """The video address answers a Range with 206 and just those bytes."""
    created = stack.create({"provider": "apimart", "tier": "fast", "prompt": "a quiet harbour"})
    pid = created["id"]

    def kept() -> bool:
        return bool(stack.client.get(f"/v1/pipelines/{pid}").json()["steps"][0]["artifact"])

    wait_for(kept, "the base video to be kept")
    video = stack.client.get(f"/ui/pipelines/{pid}/steps/0/video", headers={"Range": "bytes=10-19"})
    assert video.status_code == 206
    assert len(video.content) == 10


def test_the_list_updates_rows_live(page: Page, stack: Stack) -> None:
    """A pipeline created elsewhere appears in the list, and its row changes, without reload."""
    page.goto("/ui/pipelines")
    expect(page.locator("#live")).to_have_text("live")
    _mark(page)
    created = stack.create({"provider": "apixo", "tier": "fast", "prompt": "a moon flag"})
    row = page.locator(f"#row-{created['id']}")
    expect(row).to_be_visible()
    expect(row.locator(".badge")).to_have_text(re.compile("succeeded"), timeout=90_000)
    assert _not_reloaded(page)
    shoot(page, "pipelines")
    page.get_by_label("Search prompts and metadata").fill("moon flag")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*q=moon\+flag"))
    expect(page.locator(f"#row-{created['id']}")).to_be_visible()
    expect(page.locator("tbody#rows tr")).to_have_count(1)
    shoot(page, "pipelines-filtered")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/ui/pipelines")
    shoot(page, "pipelines-phone")


def test_extend_from_a_step(page: Page, stack: Stack) -> None:
    """Extend from the base of a finished pipeline: review, confirm, watch the new step finish."""
    created = stack.create({"provider": "apimart", "tier": "fast", "prompt": "a red fox"})
    page.goto(f"/ui/pipelines/{created['id']}")
    expect(page.locator("#summary .badge").first).to_have_text(
        re.compile("succeeded"), timeout=90_000
    )
    with page.expect_navigation():
        page.locator("#step-0").get_by_role("link", name="Extend from here").click()
    page.get_by_label("Prompt for what comes next").fill("The fox looks back")
    with page.expect_navigation():
        page.get_by_role("button", name="Review extend…").click()
    page.get_by_label("Reason (optional, kept in the event log)").fill("longer cut")
    shoot(page, "extend-review")
    page.get_by_role("button", name="Yes, extend").click()
    step = page.locator("#step-1")
    expect(step).to_be_visible()
    expect(step.locator(".badge")).to_have_text(re.compile("succeeded"), timeout=90_000)
    expect(page.locator("#events")).to_contain_text("by dashboard: “longer cut”")


def test_extend_is_greyed_out_past_the_depth_limit(page: Page, stack: Stack) -> None:
    """apixo extends only a base: its extend's node and option say why not."""
    created = stack.create(
        {
            "provider": "apixo",
            "tier": "fast",
            "prompt": "an astronaut",
            "extends": [{"prompt": "earth rises", "from": 0}],
        }
    )
    page.goto(f"/ui/pipelines/{created['id']}")
    expect(page.locator("#summary .badge").first).to_have_text(
        re.compile("succeeded"), timeout=90_000
    )
    expect(page.locator("#step-1 .node-foot")).to_contain_text("limit of 1")
    option = page.locator('#extend-from option[value="1"]')
    expect(option).to_contain_text("continue only")


def test_continue_past_the_depth_limit_from_the_page(page: Page, stack: Stack) -> None:
    """apixo cannot extend its extend, but a continuation can start from its last frame; the
    branch's whole video then joins the two, the repeated frame dropped."""
    created = stack.create(
        {"provider": "apixo", "tier": "fast", "prompt": "a kite", "extends": [{"prompt": "up"}]}
    )
    page.goto(f"/ui/pipelines/{created['id']}")
    expect(page.locator("#summary .badge").first).to_have_text(
        re.compile("succeeded"), timeout=90_000
    )
    with page.expect_navigation():
        page.locator("#step-1").get_by_role("link", name="Continue from its last frame").click()
    expect(page.get_by_label("Continue: a new generation", exact=False)).to_be_checked()
    page.get_by_label("Prompt for what comes next").fill("The string snaps")
    with page.expect_navigation():
        page.get_by_role("button", name="Review extend…").click()
    expect(page.get_by_role("heading", name="Continue from step #1?")).to_be_visible()
    shoot(page, "continue-review")
    page.get_by_role("button", name="Yes, continue").click()
    step = page.locator("#step-2")
    expect(step.locator("h3")).to_contain_text("continuation")
    expect(step.locator(".badge")).to_have_text(re.compile("succeeded"), timeout=90_000)
    videos = page.locator("#whole-videos")
    expect(videos).to_contain_text("1 repeated frame(s) dropped", timeout=60_000)
    expect(videos).to_contain_text("joined without re-encoding")
    shoot(page, "whole-videos")


def test_cancel_a_slow_pipeline(page: Page, stack: Stack) -> None:
    """A pipeline whose task takes minutes is cancelled from its page, with a reason."""
    stack.sandbox_config(task_seconds=600)
    try:
        created = stack.create({"provider": "octopusx", "tier": "fast", "prompt": "a slow tide"})
        page.goto(f"/ui/pipelines/{created['id']}")
        expect(page.locator("#step-0 .badge")).to_have_text(re.compile("submitted|running"))
        page.get_by_text("Cancel pipeline…").click()
        page.get_by_label("Reason (optional, kept in the event log)").fill("too slow")
        shoot(page, "cancel-confirm")
        page.get_by_role("button", name="Yes, cancel the pipeline").click()
        expect(page.locator("#summary .badge").first).to_have_text(re.compile("cancelled"))
        expect(page.locator("#events")).to_contain_text("by dashboard: “too slow”")
    finally:
        stack.sandbox_config(task_seconds=1.0)


def test_a_hostile_prompt_is_text(page: Page, stack: Stack) -> None:
    """A prompt that is markup shows as text on the list and the pipeline page; nothing runs."""
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    created = stack.create(
        {"provider": "apifree", "model": "veo-3.1-fast", "prompt": XSS, "metadata": {"x": XSS}}
    )
    page.goto("/ui/pipelines")
    expect(page.locator(f"#row-{created['id']} td.prompt")).to_contain_text(XSS)
    page.goto(f"/ui/pipelines/{created['id']}")
    expect(page.locator("#step-0 .prompt")).to_have_text(XSS)
    assert page.locator("main img").count() == 0
    assert dialogs == []


def test_a_failing_webhook_is_redelivered_from_the_page(page: Page, stack: Stack) -> None:
    """A delivery the receiver refused for good (410) goes out again from its message page."""
    stack.hooks.status = 410
    created = stack.create(
        {
            "provider": "apimart",
            "tier": "fast",
            "prompt": "a lighthouse",
            "webhook_url": stack.hooks.url,
        }
    )
    page.goto("/ui/webhooks?status=failed")
    row = page.locator("tr", has_text=created["id"]).first

    def listed() -> bool:
        page.reload()
        return row.count() > 0

    wait_for(listed, "a failed delivery of the pipeline's webhook")
    shoot(page, "webhooks")
    row.get_by_role("link").first.click()
    expect(page.locator(".summary-head .badge")).to_have_text(re.compile("failed"))
    shoot(page, "webhook-message")
    before = len(stack.hooks.received)
    stack.hooks.status = 204
    with page.expect_navigation():  # the form posts, then comes back to this page
        page.get_by_role("button", name="Redeliver now").click()

    def delivered() -> bool:
        page.reload()
        return "delivered" in page.locator(".summary-head .badge").inner_text()

    wait_for(delivered, "the redelivery to succeed")
    assert len(stack.hooks.received) > before
    assert stack.hooks.received[-1]["status"] == 204
    assert created["id"] in stack.hooks.received[-1]["body"]


def test_a_request_without_the_csrf_token_is_refused(context: BrowserContext, stack: Stack) -> None:
    """The signed-in browser's cookie alone cannot change anything."""
    created = stack.create({"provider": "octopusx", "tier": "fast", "prompt": "a kite"})
    refused = context.request.post(
        f"/ui/pipelines/{created['id']}/cancel", form={"reason": "forged"}
    )
    assert refused.status == 403
    assert stack.client.get(f"/v1/pipelines/{created['id']}").json()["status"] != "cancelled"


def test_the_other_screens(page: Page, stack: Stack) -> None:
    """Providers, webhooks, sign-in and an error page render; the skip link comes first."""
    page.goto("/ui/providers")
    for name in ("apimart", "octopusx", "apixo", "apifree"):
        expect(page.locator(f"#provider-{name}")).to_be_visible()
    shoot(page, "providers")
    page.goto("/ui/pipelines/pl_000000000000000000000000")
    expect(page.get_by_role("heading", name=re.compile("Not found"))).to_be_visible()
    shoot(page, "not-found")
    page.goto("/ui/pipelines")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_sign_in_page(browser: Browser, stack: Stack) -> None:
    """A new browser is sent to the sign-in page, its token field focused."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=stack.api)
    try:
        page = ctx.new_page()
        page.goto("/ui/pipelines")
        page.wait_for_url("**/ui/login?next=/pipelines")
        expect(page.get_by_label("API token")).to_be_focused()
        shoot(page, "login")
        page.get_by_label("API token").fill("not-the-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("not one reelay accepts")
    finally:
        ctx.close()
