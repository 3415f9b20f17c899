"""Webhook deliveries that cannot be aimed at reelay's own network (server-side request forgery).

A user chooses the URL, so without a guard they could make reelay POST to its own admin ports,
the cloud metadata service (169.254.169.254) or anything else on the private network. Every
address is checked where aiohttp connects: ``GuardedResolver`` refuses a host if *any* of its
addresses is not public, and aiohttp connects only to the addresses it returned, so a DNS answer
that changes between a check and the connect (rebinding) cannot slip through. aiohttp never asks
the resolver about literal IP hosts, so ``check_url`` checks those before the request.
Redirects are not followed, and proxies from the environment are ignored.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from orchestrator.common.retry_after import parse_retry_after
from orchestrator.common.transport import aiohttp_session
from orchestrator.errors import Rejected

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

EXCERPT_BYTES = 2048
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class Refused(Rejected):
    """The webhook URL points somewhere reelay must not send to; ``reason`` says where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one POST: ``status`` is None when no HTTP answer came (``error`` says why)."""

    status: int | None
    excerpt: str
    duration_ms: float
    error: str | None
    refused: bool
    retry_after: float | None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # :: and ::1 are not wrappers
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip in _CGNAT:
        return "shared (CGNAT) address"
    if any(ip in network for network in _PRIVATE):
        return "private address"
    if ip.is_reserved:
        return "reserved address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local address"
    if not ip.is_global:  # documentation, benchmarking, protocol-assignment ranges, Teredo...
        return "non-public address"
    return None


def check_address(ip: IPAddress) -> str | None:
    """Why reelay must not connect to ``ip`` (e.g. "private address (10.0.0.7)"); None if public."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        # Decided by the IPv4 address alone: the IPv6 ranges wrapping it count as "reserved".
        kind = _kind(inner)
        return None if kind is None else f"{kind} ({inner} embedded in {ip})"
    kind = _kind(ip)
    return None if kind is None else f"{kind} ({ip})"


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Raise Refused for a non-http(s) URL, or one whose host is a literal non-public IP."""
    try:
        parsed = URL(url)
    except ValueError as exc:
        raise Refused(f"webhook URL is not valid: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise Refused(f"webhook URL scheme {parsed.scheme!r} is not http or https")
    host = parsed.host
    if not host:
        raise Refused("webhook URL has no host")
    if allow_private:
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        # socket would read 2130706433 or 127.1 as 127.0.0.1; aiohttp treats them as literals.
        if ":" in host or host.replace(".", "").isdigit():
            raise Refused(f"webhook URL host {host!r} is not a canonical IP address") from None
        return
    if (reason := check_address(ip)) is not None:
        raise Refused(f"webhook URL points at a {reason}")


ALLOW_PRIVATE_SETTING = "REELAY_WEBHOOK_ALLOW_PRIVATE"


def registration_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why every delivery to ``url`` would be refused, as far as the URL alone tells (a literal
    non-public IP, ``localhost``); None if it may be sent to. Names resolving to private
    addresses are refused when sending: a registration does no DNS."""
    try:
        check_url(url, allow_private=True)
    except Refused as exc:
        return exc.reason
    if allow_private:
        return None
    host = (URL(url).host or "").rstrip(".").lower()
    try:
        if host == "localhost" or host.endswith(".localhost"):
            raise Refused(f"webhook URL host {host!r} is a loopback name")
        check_url(url, allow_private=False)
    except Refused as exc:
        return (
            f"{exc.reason}, so every delivery would be refused; {ALLOW_PRIVATE_SETTING}=true "
            "allows loopback and private destinations (local development only)"
        )
    return None


class GuardedResolver(AbstractResolver):
    """Resolves through ``inner``; raises Refused if any address of the host is not public."""

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            try:
                reason = check_address(ipaddress.ip_address(result["host"]))
            except ValueError:
                reason = f"unreadable address ({result['host']!r})"
            if reason is not None:
                raise Refused(f"webhook host {host} resolves to a {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    data = bytearray()
    # The excerpt is only a diagnostic: the status already answered, so a body that stalls or
    # breaks off leaves the delivery's outcome as it is.
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        while len(data) < EXCERPT_BYTES:
            chunk = await response.content.read(EXCERPT_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", "replace")


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts included
        return f"timeout after {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):
            return f"DNS lookup failed: {exc.os_error}"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


class WebhookSender:
    """POSTs signed webhook bodies; returns a Delivery and never raises for network trouble."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_s: float = 15.0,
        max_connections: int = 100,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._resolver = resolver
        self._guard: GuardedResolver | None = None
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            resolver = self._resolver
            if not self._allow_private:
                self._guard = GuardedResolver(resolver or aiohttp.ThreadedResolver())
                resolver = self._guard
            self._session = aiohttp_session(
                max_connections=self._max_connections,
                resolver=resolver,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                # One session serves every user's endpoint: no cookies carried from one to another.
                # Bodies arrive uncompressed, so the 2 KiB excerpt is text and nothing is inflated.
                cookies=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Delivery:
        """POST ``body`` to ``url`` once, without following redirects."""
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        excerpt, refused = "", False
        try:
            check_url(url, allow_private=self._allow_private)
            async with self._get_session().post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                status, excerpt = response.status, await _excerpt(response)
                if status in (429, 503):
                    header = response.headers.get("Retry-After")
                    retry_after = parse_retry_after(header, now=time.time())
        except Refused as exc:
            error, refused = f"refused: {exc}", True
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = _describe(exc, self._timeout_s)
        return Delivery(
            status=status,
            excerpt=excerpt,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=error,
            refused=refused,
            retry_after=retry_after,
        )

    async def aclose(self) -> None:
        """Close the connection pool (and the resolver this sender created)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._guard is not None and self._resolver is None:
            await self._guard.close()
        self._guard = None

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
