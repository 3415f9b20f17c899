"""Result links: each task's MP4, byte ranges, and expiry matching the reported ``expires_at``."""

from __future__ import annotations

import httpx
import pytest

from orchestrator.sandbox.media import RangeNotSatisfiable, byte_range
from tests.clock import Clock
from tests.sandbox.conftest import Configure

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=900-", (900, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=5-2", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=abc", None),
    ],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    """Single ranges resolve to inclusive bounds; malformed or multiple ranges mean everything."""
    assert byte_range(header, SIZE) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=-0"])
def test_unsatisfiable_range(header: str) -> None:
    """A range starting past the end, or an empty suffix, cannot be satisfied."""
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, SIZE)


async def finished_url(sandbox: httpx.AsyncClient, clock: Clock) -> tuple[str, int]:
    response = await sandbox.post("/octopusx/v1/videos", json={"model": "veo_3_1", "prompt": "p"})
    video_id = response.json()["id"]
    clock.advance(10)
    video = (await sandbox.get(f"/octopusx/v1/videos/{video_id}")).json()
    return video["video_url"], video["expires_at"]


async def test_media_ranges(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """Full GET is 200, a range is 206 with Content-Range, an impossible range 416."""
    url, _ = await finished_url(sandbox, clock)
    full = await sandbox.get(url, headers={"authorization": ""})
    data = full.content
    assert (full.status_code, data[4:8]) == (200, b"ftyp")
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4"
    part = await sandbox.get(url, headers={"range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, data[10:20])
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    beyond = await sandbox.get(url, headers={"range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    head = await sandbox.head(url)
    assert (head.status_code, head.headers["content-length"]) == (200, str(len(data)))


async def test_media_expires_at_the_reported_time(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """The link works until the reported ``expires_at`` and answers 410 from then on."""
    await configure(url_ttl_s=120)
    url, expires_at = await finished_url(sandbox, clock)
    assert expires_at == int(clock.now + 120)
    clock.now = expires_at - 1
    assert (await sandbox.get(url)).status_code == 200
    clock.now = expires_at
    assert (await sandbox.get(url)).status_code == 410


async def test_media_is_404_before_success_and_for_unknown_tokens(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """Unknown tokens and unfinished tasks have no video yet."""
    assert (await sandbox.get("/_sandbox/media/nope.mp4")).status_code == 404
    url, _ = await finished_url(sandbox, clock)
    clock.advance(-10)
    assert (await sandbox.get(url)).status_code == 404


async def test_content_route_expires_too(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """``/content`` answers 410 once the link lifetime is over."""
    await configure(url_ttl_s=60)
    response = await sandbox.post("/apifree/v1/videos", json={"model": "m", "prompt": "p"})
    content = f"/apifree/v1/videos/{response.json()['id']}/content"
    clock.advance(10)
    assert (await sandbox.get(content, headers={"range": "bytes=0-3"})).status_code == 206
    clock.advance(60)
    assert (await sandbox.get(content)).status_code == 410
