"""What the dashboard's pages show: escaped values, linkable filters, the step tree, events."""

from __future__ import annotations

import re

import httpx

from orchestrator.plans import PipelineRequest
from tests.loopback import serve_app
from tests.ui.helpers import TOKEN, Board, csrf_of

XSS = "<img src=x onerror=alert(1)>"


async def _create(board: Board, **body: object) -> str:
    request = PipelineRequest.model_validate({"provider": "fake", "prompt": "a fox", **body})
    view, _ = await board.ops.create(request)
    return view.pipeline.id


async def test_values_from_users_and_providers_are_escaped(board: Board) -> None:
    """A prompt, metadata and a provider's error text are shown as text, never as markup."""
    await board.sign_in()
    board.fake.fail_prompts.add(XSS)
    pid = await _create(board, prompt=XSS, metadata={"<b>key</b>": "<script>alert(2)</script>"})
    await board.run(5)
    for path in ("/ui/pipelines", f"/ui/pipelines/{pid}", "/ui/pipelines?q=%3Cimg"):
        html = (await board.client.get(path)).text
        assert XSS not in html, path
        assert "<script>alert" not in html, path
        assert "<b>key" not in html, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path


async def test_filters_live_in_the_url(board: Board) -> None:
    """Status, provider and text filters come from the URL, are shown, and survive paging."""
    await board.sign_in()
    board.fake.fail_prompts.add("storm at sea")
    keep = await _create(board, prompt="storm at sea", metadata={"campaign": "winter"})
    other = await _create(board, prompt="calm meadow")
    await board.run(5)
    page = await board.client.get("/ui/pipelines?status=failed&q=storm")
    assert page.status_code == 200
    assert f'id="row-{keep}"' in page.text
    assert f'id="row-{other}"' not in page.text
    assert 'value="storm"' in page.text
    assert '<option value="failed" selected>' in page.text
    by_metadata = await board.client.get("/ui/pipelines?q=WINTER")
    assert f'id="row-{keep}"' in by_metadata.text
    assert f'id="row-{other}"' not in by_metadata.text
    counts = re.search(r'<nav id="counts".*?</nav>', page.text, re.S)
    assert counts is not None
    assert re.search(
        r'<span class="n">1</span> <span aria-hidden="true">✕</span> failed', counts[0]
    )


async def test_a_bad_filter_is_dropped_and_said_so(board: Board) -> None:
    """A filter the dashboard cannot read does not break the page."""
    await board.sign_in()
    page = await board.client.get("/ui/pipelines?status=exploded&from=yesterday&cursor=zzz")
    assert page.status_code == 200
    assert "status &#39;exploded&#39; is not one of" in page.text
    assert "from &#39;yesterday&#39; is not a date" in page.text
    assert "the page cursor is not a pipeline id" in page.text


async def test_pages_of_fifty_link_to_the_next(board: Board) -> None:
    """With more than a page, an Older link carries the filters and the cursor."""
    await board.sign_in()
    ids = []
    for n in range(51):
        board.clock.advance(1)
        ids.append(await _create(board, prompt=f"scene {n}"))
    first = await board.client.get("/ui/pipelines?q=scene")
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older is not None
    assert "q=scene" in older.group(1)
    assert f"cursor={ids[1]}" in older.group(1)
    second = await board.client.get("/ui/pipelines" + older.group(1).replace("&amp;", "&"))
    assert f'id="row-{ids[0]}"' in second.text
    assert f'id="row-{ids[50]}"' not in second.text


async def test_the_tree_puts_branches_side_by_side(board: Board) -> None:
    """Two extends of the base are one branching list under it; a chain nests below."""
    await board.sign_in()
    pid = await _create(
        board,
        extends=[{"prompt": "left", "from": 0}, {"prompt": "right", "from": 0}, {"prompt": "on"}],
    )
    await board.run(10)
    html = (await board.client.get(f"/ui/pipelines/{pid}")).text
    tree = html[html.index('id="tree"') :]
    branches = tree.index('class="children branches"')
    assert tree.index('id="step-0"') < branches < tree.index('id="step-1"')
    assert tree.index('id="step-2"') < tree.index('id="step-3"')
    assert "Learned by</dt><dd>polling" in html
    assert html.count("✓</span> succeeded") >= 4


async def test_failed_only_events(board: Board) -> None:
    """The failed-only view lists the failures and none of the rest."""
    await board.sign_in()
    board.fake.fail_prompts.add("doomed")
    pid = await _create(board, prompt="doomed")
    await board.run(5)
    every = (await board.client.get(f"/ui/pipelines/{pid}")).text
    failed = (await board.client.get(f"/ui/pipelines/{pid}?events=failed")).text
    assert "<code>pipeline.created</code>" in every
    assert "<code>step.failed</code>" in failed
    assert "<code>pipeline.failed</code>" in failed
    assert "<code>pipeline.created</code>" not in failed


async def test_an_unknown_pipeline_is_a_404_page(board: Board) -> None:
    """Not JSON: a page saying what was not found."""
    await board.sign_in()
    page = await board.client.get("/ui/pipelines/pl_000000000000000000000000")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "no pipeline pl_000000000000000000000000" in page.text


async def test_webhook_endpoint_secret_is_shown_once(board: Board) -> None:
    """Create shows the secret on its answer only; disable and enable flip the endpoint."""
    await board.sign_in()
    csrf = await board.csrf("/ui/webhooks")
    created = await board.client.post(
        "/ui/webhooks/endpoints",
        data={"csrf": csrf, "url": "https://hooks.example.com/x", "event_types": "step.*"},
    )
    assert created.status_code == 200
    secret = re.search(
        r'id="secret-value" class="mono secret" readonly value="([^"]+)"', created.text
    )
    assert secret is not None
    assert secret.group(1).startswith("whsec_")
    listing = await board.client.get("/ui/webhooks")
    assert "https://hooks.example.com/x" in listing.text
    assert secret.group(1) not in listing.text
    (endpoint,) = await board.store.endpoints()
    off = await board.client.post(
        f"/ui/webhooks/endpoints/{endpoint.id}/enabled", data={"csrf": csrf, "enabled": "no"}
    )
    assert off.status_code == 303
    assert not (await board.store.endpoints())[0].enabled
    rotated = await board.client.post(
        f"/ui/webhooks/endpoints/{endpoint.id}/rotate", data={"csrf": csrf}
    )
    assert "Secret rotated" in rotated.text
    assert len((await board.store.endpoints())[0].secrets) == 2


async def test_a_refused_endpoint_names_the_field(board: Board) -> None:
    """A URL that is not http(s) comes back with the message beside the URL field."""
    await board.sign_in()
    csrf = await board.csrf("/ui/webhooks")
    refused = await board.client.post(
        "/ui/webhooks/endpoints", data={"csrf": csrf, "url": "ftp://x"}
    )
    assert refused.status_code == 422
    assert 'id="ep-url-error"' in refused.text
    assert await board.store.endpoints() == []


async def test_recover_failed_since_a_time(board: Board) -> None:
    """Recover answers with how many go out again; a bad time names the field."""
    await board.sign_in()
    csrf = await board.csrf("/ui/webhooks")
    done = await board.client.post(
        "/ui/webhooks/recover", data={"csrf": csrf, "since": "2026-12-01T00:00"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/webhooks?recovered=0"
    bad = await board.client.post("/ui/webhooks/recover", data={"csrf": csrf, "since": "soon"})
    assert bad.status_code == 422
    assert "is not a date or time" in bad.text


async def test_the_live_stream_sends_unnamed_messages(board: Board) -> None:
    """The dashboard's stream (real HTTP over loopback) carries each event as an unnamed SSE
    message, so one ``onmessage`` gets them all; it needs the session like every page."""
    pid = await _create(board)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    lines: list[str] = []
    async with serve_app(board.app, lifespan="off") as url, httpx.AsyncClient() as client:
        refused = await client.get(f"{url}/ui/events?after=0")
        assert refused.status_code == 303
        path = f"{url}/ui/events?pipeline_id={pid}&after=0"
        async with client.stream("GET", path, headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    break
    assert not any(line.startswith("event:") for line in lines)
    assert '"type":"pipeline.created"' in lines[-1]


async def test_the_pipeline_page_stays_within_its_live_parts(board: Board) -> None:
    """Every live part has an id and a sig, so the script can swap exactly what changed."""
    await board.sign_in()
    pid = await _create(board, extends=[{"prompt": "on"}])
    html = (await board.client.get(f"/ui/pipelines/{pid}")).text
    live = re.findall(r"<\w+ id=\"([\w-]+)\"[^>]*data-live data-sig=\"([^\"]+)\"", html)
    ids = {i for i, _ in live}
    assert {"summary", "tree", "step-0", "step-1", "extend", "events", "raw"} <= ids
    assert f"/ui/events?pipeline_id={pid}&amp;after=" in html
    assert csrf_of(html)
