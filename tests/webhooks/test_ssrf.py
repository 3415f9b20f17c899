"""The guarded webhook sender: no private destinations, no redirects, bounded time and reads.

No test sends traffic beyond 127.0.0.1: non-loopback addresses are only checked, never dialled.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from yarl import URL

from orchestrator.common.retry_after import MAX_RETRY_AFTER_S
from orchestrator.webhooks.ssrf import (
    EXCERPT_BYTES,
    GuardedResolver,
    Refused,
    WebhookSender,
    check_address,
    check_url,
    registration_refusal,
)
from tests.loopback import free_port, serve_app

HEADERS = {"webhook-id": "msg_1", "content-type": "application/json"}
BODY = b'{"type":"ping"}'


@dataclass
class FakeResolver(AbstractResolver):
    """Answers from a table (one answer list per call, the last repeating); records lookups."""

    answers: dict[str, list[list[str]]]
    lookups: list[str] = field(default_factory=list)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass


@dataclass
class Receiver:
    """A loopback webhook receiver that records what it was sent."""

    url: str
    requests: list[tuple[dict[str, str], bytes]]


def receiver_app(
    requests: list[tuple[dict[str, str], bytes]], response: Response | None = None
) -> Starlette:
    async def hook(request: Request) -> Response:
        requests.append((dict(request.headers), await request.body()))
        return response or Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    requests: list[tuple[dict[str, str], bytes]] = []
    async with serve_app(receiver_app(requests)) as url:
        yield Receiver(url + "/hook", requests)


REFUSED = [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("255.255.255.255", "reserved"),
    ("240.0.0.1", "reserved"),
    ("198.18.0.1", "non-public"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "non-public"),
    ("::ffff:127.0.0.1", "loopback address (127.0.0.1 embedded in ::ffff:7f00:1)"),
    ("::ffff:10.0.0.1", "private address (10.0.0.1 embedded"),
    ("::a00:1", "private address (10.0.0.1 embedded"),
    ("2002:a9fe:a9fe::1", "link-local address (169.254.169.254 embedded"),
    ("64:ff9b::a00:1", "private address (10.0.0.1 embedded in 64:ff9b::a00:1)"),
    ("64:ff9b:1::a00:1", "reserved"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_check_address_refuses_non_public_addresses_with_a_reason(
    address: str, reason: str
) -> None:
    """Loopback, private, link-local, CGNAT, multicast, reserved and wrapped forms are refused."""
    found = check_address(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]
)
def test_check_address_allows_public_addresses(address: str) -> None:
    """Public addresses, wrapped or not, are allowed (checked only, never dialled)."""
    assert check_address(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_check_url_refuses_literal_non_public_hosts(address: str, reason: str) -> None:
    """A URL whose host is a literal non-public IP is refused before any connection."""
    host = f"[{address.replace('%', '%25')}]" if ":" in address else address
    with pytest.raises(Refused, match="webhook URL points at a") as caught:
        check_url(f"https://{host}:8443/hook")
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/",
        "gopher://example.com/",
        "http:///nohost",
        "http://[::1",
        "http://2130706433/",
        "http://127.1/",
        "http://0177.0.0.1/",
    ],
)
def test_check_url_refuses_other_schemes_and_odd_hosts(url: str) -> None:
    """Non-http(s) schemes, hostless or malformed URLs and legacy numeric IPv4 forms are refused."""
    with pytest.raises(Refused):
        check_url(url)


def test_check_url_allows_names_and_public_literals() -> None:
    """Names are left to the resolver; public literals pass."""
    check_url("https://hooks.example.com/x")
    check_url("http://8.8.8.8/")
    check_url("http://[2606:4700::1]/")


async def test_guarded_resolver_refuses_if_any_address_is_private() -> None:
    """One private address among public ones refuses the whole name."""
    guard = GuardedResolver(FakeResolver({"mixed.test": [["8.8.8.8", "10.0.0.7"]]}))
    with pytest.raises(Refused, match=r"mixed\.test resolves to a private address \(10\.0\.0\.7\)"):
        await guard.resolve("mixed.test", 443)


async def test_guarded_resolver_checks_every_lookup_against_rebinding() -> None:
    """A name that answers public first and private next is refused on the second lookup."""
    guard = GuardedResolver(FakeResolver({"rebind.test": [["8.8.8.8"], ["127.0.0.1"]]}))
    assert [r["host"] for r in await guard.resolve("rebind.test", 443)] == ["8.8.8.8"]
    with pytest.raises(Refused, match="loopback"):
        await guard.resolve("rebind.test", 443)


async def test_sender_refuses_a_name_resolving_to_a_private_address() -> None:
    """A name resolving (via an injected resolver) to 10.0.0.7 is refused at send time."""
    fake = FakeResolver({"hooks.test": [["10.0.0.7"]]})
    async with WebhookSender(allow_private=False, resolver=fake) as sender:
        delivery = await sender.send("https://hooks.test/x", HEADERS, BODY)
    assert delivery.status is None
    assert delivery.refused
    assert (
        delivery.error
        == "refused: webhook host hooks.test resolves to a private address (10.0.0.7)"
    )
    assert fake.lookups == ["hooks.test"]


async def test_sender_refuses_localhost_and_the_server_never_hears(receiver: Receiver) -> None:
    """localhost resolves (through the real resolver) to loopback and is refused."""
    url = URL(receiver.url).with_host("localhost")
    async with WebhookSender(allow_private=False) as sender:
        delivery = await sender.send(str(url), HEADERS, BODY)
    assert delivery.refused
    assert delivery.error is not None
    assert "localhost resolves to a loopback address" in delivery.error
    assert receiver.requests == []


async def test_sender_refuses_literal_loopback_hosts(receiver: Receiver) -> None:
    """Without allow_private loopback literals are refused and the server receives nothing."""
    async with WebhookSender(allow_private=False) as sender:
        for host in ["127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"]:
            url = receiver.url.replace("127.0.0.1", host)
            delivery = await sender.send(url, HEADERS, BODY)
            assert delivery.refused
            assert delivery.error is not None
            assert delivery.error.startswith("refused: webhook URL points at a loopback address")
    assert receiver.requests == []


async def test_allow_private_delivers_to_a_loopback_server(receiver: Receiver) -> None:
    """With allow_private the request arrives with its headers and body."""
    async with WebhookSender(allow_private=True) as sender:
        delivery = await sender.send(receiver.url, HEADERS, BODY)
    assert (delivery.status, delivery.error, delivery.refused) == (204, None, False)
    assert delivery.duration_ms > 0
    [(headers, body)] = receiver.requests
    assert body == BODY
    assert headers["webhook-id"] == "msg_1"
    assert "accept-encoding" not in headers


async def test_allow_private_uses_the_injected_resolver(receiver: Receiver) -> None:
    """The injected resolver decides where a name connects, with or without the guard."""
    url = str(URL(receiver.url).with_host("hooks.test"))
    fake = FakeResolver({"hooks.test": [["127.0.0.1"]]})
    async with WebhookSender(allow_private=True, resolver=fake) as sender:
        assert (await sender.send(url, HEADERS, BODY)).status == 204
    async with WebhookSender(allow_private=False, resolver=fake) as sender:
        assert (await sender.send(url, HEADERS, BODY)).refused
    assert len(receiver.requests) == 1


async def test_sender_refuses_other_schemes_even_with_allow_private() -> None:
    """allow_private does not open file:// or other schemes."""
    async with WebhookSender(allow_private=True) as sender:
        delivery = await sender.send("file:///etc/passwd", HEADERS, BODY)
    assert delivery.refused
    assert delivery.error == "refused: webhook URL scheme 'file' is not http or https"


async def test_redirect_is_returned_not_followed(receiver: Receiver) -> None:
    """A 302 comes back as the Delivery; its target (a loopback receiver) is never contacted."""
    target = str(URL(receiver.url).with_host("internal.test"))
    fake = FakeResolver({"internal.test": [["127.0.0.1"]]})
    redirect = Response(status_code=302, headers={"Location": target}, content="moved")
    hits: list[tuple[dict[str, str], bytes]] = []
    async with (
        serve_app(receiver_app(hits, redirect)) as url,
        WebhookSender(allow_private=True, resolver=fake) as sender,
    ):
        delivery = await sender.send(url + "/hook", HEADERS, BODY)
    assert (delivery.status, delivery.excerpt, delivery.error) == (302, "moved", None)
    assert len(hits) == 1
    assert receiver.requests == []
    assert fake.lookups == []


async def test_timeout_gives_no_status_and_says_so() -> None:
    """A server slower than timeout_s yields status None and a timeout error."""
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        await release.wait()
        return Response(status_code=200)

    app = Starlette(routes=[Route("/", slow, methods=["POST"])])
    async with serve_app(app) as url, WebhookSender(allow_private=True, timeout_s=0.2) as sender:
        delivery = await sender.send(url + "/", HEADERS, BODY)
        release.set()
    assert (delivery.status, delivery.error, delivery.refused) == (
        None,
        "timeout after 0.2 s",
        False,
    )
    assert delivery.duration_ms > 0  # measured, however long a loaded machine took


async def test_excerpt_is_capped_at_2_kib() -> None:
    """Only the first 2048 bytes of a 1 MB answer are read."""
    big = Response(content=b"x" * 1_000_000, status_code=500)
    async with (
        serve_app(receiver_app([], big)) as url,
        WebhookSender(allow_private=True) as sender,
    ):
        delivery = await sender.send(url + "/", HEADERS, BODY)
    assert delivery.status == 500
    assert delivery.excerpt == "x" * EXCERPT_BYTES


async def test_429_retry_after_seconds_is_parsed() -> None:
    """A 429's Retry-After in seconds becomes retry_after."""
    busy = Response(status_code=429, headers={"Retry-After": "7"})
    async with (
        serve_app(receiver_app([], busy)) as url,
        WebhookSender(allow_private=True) as sender,
    ):
        delivery = await sender.send(url + "/", HEADERS, BODY)
    assert (delivery.status, delivery.retry_after, delivery.error) == (429, 7.0, None)


async def test_503_retry_after_http_date_is_parsed_and_capped() -> None:
    """A 503's Retry-After may be an HTTP-date; one far ahead waits no longer than the cap."""
    busy = Response(status_code=503, headers={"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"})
    async with (
        serve_app(receiver_app([], busy)) as url,
        WebhookSender(allow_private=True) as sender,
    ):
        delivery = await sender.send(url + "/", HEADERS, BODY)
    assert (delivery.status, delivery.retry_after) == (503, MAX_RETRY_AFTER_S)


async def test_connection_refused_is_reported() -> None:
    """A closed port gives status None and 'connection refused'."""
    async with WebhookSender(allow_private=True) as sender:
        delivery = await sender.send(f"http://127.0.0.1:{free_port()}/", HEADERS, BODY)
    assert (delivery.status, delivery.error, delivery.refused) == (
        None,
        "connection refused",
        False,
    )


async def test_unresolvable_name_is_reported() -> None:
    """A name that does not resolve gives status None and a DNS error."""
    async with WebhookSender(allow_private=False, resolver=FakeResolver({})) as sender:
        delivery = await sender.send("https://nowhere.test/", HEADERS, BODY)
    assert delivery.status is None
    assert delivery.error is not None
    assert delivery.error.startswith("DNS lookup failed")
    assert not delivery.refused


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://127.0.0.1:8080/h", True),
        ("https://localhost/h", True),
        ("https://api.LOCALHOST./h", True),
        ("https://[::ffff:10.0.0.1]/h", True),
        ("https://169.254.169.254/latest", True),
        ("https://2130706433/h", True),
        ("http://hooks.example.com/h", False),
        ("https://hooks.example.com/h", False),
    ],
)
def test_registration_refusal_without_dns(url: str, refused: bool) -> None:
    """At registration a literal non-public IP or localhost is refused, naming the setting that
    allows it; names are left to the send-time check; the setting lets everything through."""
    reason = registration_refusal(url, allow_private=False)
    assert (reason is not None) is refused
    if reason is not None:
        assert "REELAY_WEBHOOK_ALLOW_PRIVATE=true" in reason
    assert registration_refusal(url, allow_private=True) is None


def test_registration_refusal_of_a_malformed_url_does_not_blame_the_setting() -> None:
    reason = registration_refusal("ftp://hooks.example.com/h", allow_private=True)
    assert reason is not None
    assert "scheme" in reason
    assert "ALLOW_PRIVATE" not in reason
