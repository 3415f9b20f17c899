"""Who gets into the dashboard: bearer tokens, signed-in browsers; nobody else."""

from __future__ import annotations

import httpx

from orchestrator.api import create_api_app
from orchestrator.operations import Operations
from orchestrator.store import Store
from orchestrator.ui import Dashboard, dashboard_mount
from orchestrator.ui.session import Sessions
from tests.fakes import FakeProvider
from tests.ui.helpers import TOKEN, Board, csrf_of


async def test_a_signed_out_browser_is_sent_to_sign_in(board: Board) -> None:
    """A GET goes to the sign-in page (keeping where it was going); a POST is refused."""
    page = await board.client.get("/ui/pipelines?status=failed")
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=/pipelines"
    posted = await board.client.post("/ui/pipelines/new", data={"op": "review"})
    assert posted.status_code == 401


async def test_signing_in_sets_a_strict_http_only_cookie(board: Board) -> None:
    """The right token gives a signed, HttpOnly, SameSite=Strict cookie for /ui/ only."""
    login = await board.client.get("/ui/login")
    wrong = await board.client.post(
        "/ui/login", data={"csrf": csrf_of(login.text), "token": "nope", "next": "/pipelines"}
    )
    assert wrong.status_code == 401
    assert "not one reelay accepts" in wrong.text
    right = await board.client.post(
        "/ui/login", data={"csrf": csrf_of(login.text), "token": TOKEN, "next": "/pipelines"}
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/ui/pipelines"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/ui/" in cookie
    assert TOKEN not in cookie
    assert (await board.client.get("/ui/pipelines")).status_code == 200


async def test_sign_in_needs_the_forms_csrf_token(board: Board) -> None:
    """A sign-in form posted from elsewhere (no CSRF token) is refused."""
    await board.client.get("/ui/login")
    refused = await board.client.post("/ui/login", data={"token": TOKEN})
    assert refused.status_code == 403
    assert (await board.client.get("/ui/pipelines")).status_code == 303


async def test_sign_in_only_redirects_within_the_dashboard(board: Board) -> None:
    """``next`` pointing at another site lands on the pipelines instead."""
    login = await board.client.get("/ui/login")
    signed = await board.client.post(
        "/ui/login", data={"csrf": csrf_of(login.text), "token": TOKEN, "next": "//evil.test/x"}
    )
    assert signed.headers["location"] == "/ui/pipelines"


async def test_a_bearer_token_gets_in_without_a_cookie(board: Board) -> None:
    """Scripts use the API's header; no session is needed."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert (await board.client.get("/ui/pipelines", headers=headers)).status_code == 200
    bad = {"Authorization": "Bearer wrong-token"}
    assert (await board.client.get("/ui/pipelines", headers=bad)).status_code == 303


async def test_a_forged_cookie_is_refused(board: Board) -> None:
    """A cookie not signed by this reelay is no session."""
    board.client.cookies.set("reelay_session", "eyJzaWQiOiJ4Iiwid2hvIjoiYXBpIn0.x.y", path="/ui/")
    assert (await board.client.get("/ui/pipelines")).status_code == 303


async def test_signing_out_ends_the_session(board: Board) -> None:
    """After sign-out the browser is sent to sign in again."""
    await board.sign_in()
    out = await board.client.post("/ui/logout", data={"csrf": await board.csrf()})
    assert out.status_code == 303
    assert (await board.client.get("/ui/pipelines")).status_code == 303


async def test_every_answer_forbids_inline_scripts_and_framing(board: Board) -> None:
    """The CSP allows scripts from the dashboard only; pages are not cached or framed."""
    await board.sign_in()
    for path in ("/ui/login", "/ui/pipelines", "/ui/pipelines/new", "/ui/webhooks"):
        answer = await board.client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in answer.text  # no inline script anywhere


async def test_without_a_token_the_dashboard_is_open(store: Store, fake: FakeProvider) -> None:
    """Like the API: no REELAY_API_TOKEN, no sign-in; forms still carry a CSRF token."""
    dash = Dashboard(Sessions("s", []), {}, {"fake": fake})
    app = create_api_app(
        Operations(store, {"fake": fake}), store, api_token=None, mounts=[dashboard_mount(dash)]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as client:
        page = await client.get("/ui/pipelines/new")
        assert page.status_code == 200
        assert csrf_of(page.text)
        assert "reelay_session" in page.headers["set-cookie"]
        assert (await client.get("/ui/login")).status_code == 303


async def test_static_files_are_cached_for_good_and_carry_no_session(board: Board) -> None:
    """Their URLs change with their content, so they may be kept; no cookie is set by them."""
    answer = await board.client.get("/ui/static/app.css")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "set-cookie" not in answer.headers
    assert "script-src 'self'" in answer.headers["content-security-policy"]
