"""Frame URLs on the public listener: a signed, expiring token per stored frame; anything
else is 401 and says nothing more."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from receiver.app import create_receiver_app
from receiver.frames import FrameTokens, frame_url
from tests.clock import Clock

KEY = "ab/" + "ab" * 32 + ".png"
PNG = b"\x89PNG\r\n\x1a\n-the-picture"
PUBLIC = "https://reelay.example"


def app_with(tokens: FrameTokens, frames: dict[str, bytes]) -> httpx.AsyncClient:
    async def read(key: str) -> bytes | None:
        return frames.get(key)

    app = create_receiver_app(frames=(tokens, read))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)


def path_of(url: str) -> str:
    return url.removeprefix(PUBLIC)


async def test_a_minted_url_serves_the_frame() -> None:
    tokens = FrameTokens(["s1"], max_age_s=3600)
    url = frame_url(PUBLIC + "/", KEY, tokens)
    assert url.startswith(f"{PUBLIC}/frames/")
    assert url.endswith(".png")
    async with app_with(tokens, {KEY: PNG}) as client:
        answer = await client.get(path_of(url))
        head = await client.head(path_of(url))
    assert answer.status_code == 200
    assert answer.content == PNG
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["cache-control"] == "private, no-store"
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(PNG))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-10] + ("A" if t[-10] != "A" else "B") + t[-9:],  # inside the signature
        lambda t: "x" + t,
        lambda t: t * 10,
        lambda t: "not-a-token",
    ],
)
async def test_a_forged_token_is_401_and_says_nothing(mangle: Callable[[str], str]) -> None:
    tokens = FrameTokens(["s1"], max_age_s=3600)
    token = tokens.mint(KEY)
    async with app_with(tokens, {KEY: PNG}) as client:
        answer = await client.get(f"/frames/{mangle(token)}.png")
    assert answer.status_code == 401
    assert answer.json() == {"ok": False, "message": "unauthorized"}


async def test_an_expired_token_is_401() -> None:
    clock = Clock()
    tokens = FrameTokens(["s1"], max_age_s=60, clock=clock)
    token = tokens.mint(KEY)
    clock.now += 61
    async with app_with(tokens, {KEY: PNG}) as client:
        answer = await client.get(f"/frames/{token}.png")
    assert answer.status_code == 401


async def test_a_token_of_another_secret_or_a_pruned_frame_is_401() -> None:
    ours, theirs = FrameTokens(["s1"], max_age_s=60), FrameTokens(["s2"], max_age_s=60)
    async with app_with(ours, {}) as client:
        pruned = await client.get(f"/frames/{ours.mint(KEY)}.png")
    async with app_with(ours, {KEY: PNG}) as client:
        foreign = await client.get(f"/frames/{theirs.mint(KEY)}.png")
    assert pruned.status_code == foreign.status_code == 401
    assert pruned.json() == foreign.json()


async def test_nothing_is_listable() -> None:
    tokens = FrameTokens(["s1"], max_age_s=60)
    async with app_with(tokens, {KEY: PNG}) as client:
        for path in ("/frames/", "/frames", f"/frames/{KEY}", "/frames/.png"):
            answer = await client.get(path)
            assert answer.status_code in (401, 404), path
            assert PNG not in answer.content


def test_only_a_stored_frames_key_can_be_minted() -> None:
    tokens = FrameTokens(["s1"], max_age_s=60)
    with pytest.raises(ValueError, match="not a stored frame"):
        tokens.mint("../../etc/passwd")
