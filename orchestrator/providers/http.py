"""One HTTP exchange with a provider, and every way it can fail mapped onto our error tree.

Transport failures split on one question: could the request have reached the provider?
Connect errors and pool timeouts could not (``RequestNotSent``, safe to repeat even for a
submit); anything later, including a keep-alive connection the server dropped, could have
(``OutcomeUnknown``). HTTP error answers are read leniently, whatever their body, and keep the
provider's own code and message.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from orchestrator.common.retry_after import parse_retry_after
from orchestrator.domain.values import VideoParams
from orchestrator.providers.config import ProviderSettings
from orchestrator.providers.errors import (
    AuthError,
    InsufficientBalance,
    InvalidRequest,
    OutcomeUnknown,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
    SourceInvalid,
    SourceNotReady,
    TaskNotFound,
)
from orchestrator.providers.states import dig, loads, mapping, pick_code, text

CallKind = Literal["submit", "extend", "status"]


class HttpAnswer(Protocol):
    """What an adapter reads of an answer (``httpx.Response`` is one)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def reason_phrase(self) -> str: ...


class HttpClient(Protocol):
    """What an adapter needs of an HTTP client: the runtime's ``ProviderClient``, or an
    ``httpx.AsyncClient`` (tests give one over a mock transport)."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpx.AsyncClient.request's name
    ) -> HttpAnswer: ...


Observer = Callable[[str, CallKind, str, float], None]
"""Told of every exchange: (provider, kind, HTTP status or error class name, seconds)."""

log = logging.getLogger("reelay.providers")

VIDEO_SIZES = {"16:9": "1280x720", "9:16": "720x1280"}

_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
)
# No provider documents the body of a refused extend, so its reason is read from the text:
# "not yet completed" / "still processing" / "status must be success" can succeed later;
# "not found" / "expired" / "cannot be remixed" / TASKID_ERROR never will.
_NOT_READY = re.compile(
    r"\bnot\s+(?:yet\s+)?(?:been\s+)?(?:completed?|finished|ready|succeeded|successful)\b"
    r"|not_ready|\bstill\s+(?:pending|processing|running|in[ _]progress)\b"
    r"|\bstatus\s+must\s+be\s+(?:success|completed)\b",
    re.IGNORECASE,
)
_SOURCE_GONE = re.compile(
    r"not[ _]found|expired|cannot be (?:remixed|extended)|invalid[_ ]source|did not succeed"
    r"|taskid_error",
    re.IGNORECASE,
)
_NO_BALANCE = re.compile(r"quota|balance|credits?\b|insufficient[_ ]funds", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Failure:
    """An error answer: the HTTP status and whatever code and message its body carried."""

    status: int
    code: str | None
    message: str
    retry_after: float | None = None


Classify = Callable[[Failure, str, CallKind], ProviderError]


class Observers:
    """Everyone told of the exchanges of the adapters built with it: the runtime's metrics
    and provider health. Observers are added as they come into being (the adapters exist
    before the engine whose health they feed); each runtime has its own, so two in one
    process never hear each other's requests."""

    def __init__(self, *observers: Observer) -> None:
        self._observers = list(observers)

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def __call__(self, provider: str, kind: CallKind, outcome: str, seconds: float) -> None:
        for observer in self._observers:
            _tell(observer, provider, kind, outcome, seconds)


def _tell(observer: Observer, provider: str, kind: CallKind, outcome: str, seconds: float) -> None:
    try:
        observer(provider, kind, outcome, seconds)
    except Exception:
        # Measuring must never change a call's outcome (a submit would turn ambiguous).
        log.exception("provider request observer failed")


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    """Bearer auth when a key is configured; without one the provider's 401 says so."""
    headers = {"Accept": "application/json"}
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
    return headers


def build_body(fields: Mapping[str, object], options: Mapping[str, Any]) -> dict[str, Any]:
    """Our fields without the unset ones, then ``provider_options`` on top: options win."""
    body = {key: value for key, value in fields.items() if value is not None}
    body.update(options)
    return body


def openai_video_fields(model: str, prompt: str, params: VideoParams) -> dict[str, object]:
    """The OpenAI-style create fields octopusx and apifree share.

    ``seconds`` is always sent: 8 is the only length we allow there, and an OpenAI-style
    gateway's own default is 4.
    """
    return {
        "model": model,
        "prompt": prompt,
        "size": VIDEO_SIZES.get(params.aspect_ratio or ""),
        "seconds": str(params.duration or 8),
    }


def failure_from_body(status: int, body: object, fallback: str) -> Failure:
    """Read ``{"error": {code, message, type}}`` (apimart, OpenAI style) or
    ``{"code", "message", "data": {"error"}}`` (apixo, new-api task errors)."""
    outer = mapping(body) or {}
    inner = mapping(outer.get("error"))
    if inner is not None:
        code = pick_code(inner.get("code"), inner.get("type"))
        message = text(inner.get("message"))
    else:
        data = outer.get("data")
        code = pick_code(outer.get("code"), dig(data, ["failCode"]), dig(data, ["code"]))
        message = text(outer.get("message")) or text(outer.get("error"))
        detail = text(dig(data, ["error"]))
        if detail is not None:
            message = f"{message}: {detail}" if message else detail
    return Failure(status=status, code=code, message=message or fallback)


def read_failure(response: HttpAnswer, now: float) -> Failure:
    try:
        body: object = json.loads(response.content)
    except (ValueError, RecursionError):
        body = None
    fallback = f"HTTP {response.status_code} {response.reason_phrase}"
    if "html" in response.headers.get("content-type", ""):
        fallback += " (an HTML page)"
    failure = failure_from_body(response.status_code, body, fallback)
    if response.status_code != 429:
        return failure
    retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
    return Failure(failure.status, failure.code, failure.message, retry_after)


def error_for(failure: Failure, provider: str, call: CallKind) -> ProviderError:
    """The error class for an HTTP failure; ``call`` decides what a 404 or 410 means."""
    status, message = failure.status, failure.message
    if status == 429:
        return RateLimited(
            message, provider=provider, code=failure.code, retry_after=failure.retry_after
        )
    said = f"{message} {failure.code or ''}"
    cls: type[ProviderError]
    if call == "extend" and status in (400, 404, 409, 410, 422) and _NOT_READY.search(said):
        cls = SourceNotReady
    elif call == "extend" and status in (400, 404, 409, 410, 422) and _SOURCE_GONE.search(said):
        cls = SourceInvalid
    elif status in (408, 504) and call != "status":
        # A timeout reported by a gateway in front of the provider: the submit may have
        # gone through, so it must not be repeated blindly.
        cls = OutcomeUnknown
    elif status >= 500 or status == 408:
        cls = ProviderUnavailable
    elif status == 402 or (status in (401, 403) and _NO_BALANCE.search(said)):
        cls = InsufficientBalance
    elif status in (401, 403):
        cls = AuthError
    elif status in (404, 410):
        cls = {"status": TaskNotFound, "extend": SourceInvalid, "submit": InvalidRequest}[call]
    elif 400 <= status < 500:
        cls = InvalidRequest
    else:
        cls = ProviderResponseError
    return cls(message, provider=provider, status_code=status, code=failure.code)


class ProviderHttp:
    """Sends requests to one provider and returns decoded JSON bodies, or raises.

    ``observe`` is told of every exchange (the runtime passes its metrics and provider
    health); without it nothing is measured.
    """

    def __init__(
        self,
        provider: str,
        settings: ProviderSettings,
        client: HttpClient,
        *,
        clock: Callable[[], float],
        classify: Classify = error_for,
        observe: Observer | None = None,
    ) -> None:
        self.provider = provider
        self._settings = settings
        self._client = client
        self._clock = clock
        self._classify = classify
        self._observe = observe

    def url(self, path: str) -> str:
        return self._settings.base_url.rstrip("/") + path

    async def call(
        self,
        method: str,
        path: str,
        kind: CallKind,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        response = await self._send(method, path, kind, body, params)
        if not response.is_success:
            raise self._classify(read_failure(response, self._clock()), self.provider, kind)
        decoded = loads(response.content, self.provider, f"the answer to {method} {path}")
        # apimart and apixo wrap answers in {"code": ...}; an error code there is an error
        # even when the HTTP status says 200.
        code = dig(decoded, ["code"])
        if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
            failure = failure_from_body(code, decoded, f"error code {code} in a 2xx answer")
            raise self._classify(failure, self.provider, kind)
        return decoded

    async def _send(
        self,
        method: str,
        path: str,
        kind: CallKind,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> HttpAnswer:
        where = f"{method} {path}"
        started = time.perf_counter()
        outcome = ""
        try:
            response = await self._client.request(
                method,
                self.url(path),
                json=body,
                params=params,
                headers=auth_headers(self._settings),
                timeout=self._settings.timeout_s,
            )
        except _NOT_SENT as exc:
            outcome = type(exc).__name__
            raise RequestNotSent(f"{where} not sent: {exc!r}", provider=self.provider) from exc
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
            raise OutcomeUnknown(f"{where} interrupted: {exc!r}", provider=self.provider) from exc
        except BaseException as exc:  # cancelled at shutdown, or a bug: measured and passed on
            outcome = type(exc).__name__
            raise
        else:
            outcome = str(response.status_code)
            return response
        finally:
            if self._observe is not None:
                seconds = time.perf_counter() - started
                _tell(self._observe, self.provider, kind, outcome, seconds)
