from __future__ import annotations

import email.utils

import httpx
import pytest
from pydantic import SecretStr

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
from orchestrator.providers.http import (
    CallKind,
    Failure,
    Observers,
    ProviderHttp,
    auth_headers,
    build_body,
    error_for,
    failure_from_body,
    openai_video_fields,
)
from tests.providers.conftest import NOW, FakeApi, clock

SETTINGS = ProviderSettings(
    base_url="https://gw.test/api/", api_key=SecretStr("sk-1"), timeout_s=7.5
)


def _http(client: httpx.AsyncClient, settings: ProviderSettings = SETTINGS) -> ProviderHttp:
    return ProviderHttp("demo", settings, client, clock=clock)


class Heard:
    """An observer that records what it was told (all but the seconds)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, CallKind, str]] = []

    def __call__(self, provider: str, kind: CallKind, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.told.append((provider, kind, outcome))


def test_auth_header_carries_the_bearer_key() -> None:
    """A configured key is sent as a Bearer token."""
    assert auth_headers(SETTINGS)["Authorization"] == "Bearer sk-1"


def test_no_key_sends_no_auth_header() -> None:
    """Without a key no Authorization header is sent, so the provider's 401 reports it."""
    assert "Authorization" not in auth_headers(ProviderSettings(base_url="https://x"))


async def test_call_builds_absolute_url_headers_and_timeout(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A call joins base URL and path, sends JSON with auth, and applies the per-request timeout."""
    api.reply(200, {"ok": True})
    answer = await _http(client).call("POST", "/v1/things", "submit", body={"a": 1})
    assert answer == {"ok": True}
    sent = api.last
    assert (sent.method, str(sent.url)) == ("POST", "https://gw.test/api/v1/things")
    assert sent.headers["Authorization"] == "Bearer sk-1"
    assert sent.headers["Content-Type"] == "application/json"
    assert api.sent_json() == {"a": 1}
    assert sent.extensions["timeout"]["read"] == 7.5


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError, RequestNotSent),
        (httpx.ConnectTimeout, RequestNotSent),
        (httpx.PoolTimeout, RequestNotSent),
        (httpx.ReadTimeout, OutcomeUnknown),
        (httpx.WriteTimeout, OutcomeUnknown),
        (httpx.ReadError, OutcomeUnknown),
        (httpx.WriteError, OutcomeUnknown),
        (httpx.RemoteProtocolError, OutcomeUnknown),
    ],
)
async def test_transport_failures_split_on_whether_the_request_left(
    api: FakeApi,
    client: httpx.AsyncClient,
    error: type[Exception],
    expected: type[ProviderError],
) -> None:
    """Connect-phase failures are RequestNotSent; anything after sending is OutcomeUnknown."""
    api.fail(error)
    with pytest.raises(expected) as raised:
        await _http(client).call("POST", "/v1/x", "submit", body={})
    assert type(raised.value) is expected
    assert raised.value.provider == "demo"


async def test_each_exchange_is_told_to_every_observer_it_was_built_with(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """Provider, call kind and HTTP status (or the transport error's class) reach each
    observer, added before or after the adapter was built; other observers hear nothing."""
    first, second, elsewhere = Heard(), Heard(), Heard()
    observers = Observers(first)
    Observers(elsewhere)
    http = ProviderHttp("demo", SETTINGS, client, clock=clock, observe=observers)
    observers.add(second)
    api.reply(200, {"ok": True})
    api.fail(httpx.ConnectError)
    api.reply(503, {"error": {"message": "busy"}})
    await http.call("POST", "/v1/x", "submit", body={})
    with pytest.raises(RequestNotSent):
        await http.call("GET", "/v1/x", "status")
    with pytest.raises(ProviderUnavailable):
        await http.call("GET", "/v1/x", "status")
    expected = [
        ("demo", "submit", "200"),
        ("demo", "status", "ConnectError"),
        ("demo", "status", "503"),
    ]
    assert first.told == second.told == expected
    assert elsewhere.told == []


async def test_a_failing_observer_changes_no_outcome(
    api: FakeApi, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An observer that raises is logged; the answer still comes back and the others are told."""

    def broken(provider: str, kind: CallKind, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics bug")

    heard = Heard()
    api.reply(200, {"ok": True})
    api.reply(200, {"ok": 2})
    alone = ProviderHttp("demo", SETTINGS, client, clock=clock, observe=broken)
    assert await alone.call("POST", "/v1/x", "submit", body={}) == {"ok": True}
    shared = ProviderHttp("demo", SETTINGS, client, clock=clock, observe=Observers(broken, heard))
    assert await shared.call("POST", "/v1/x", "submit", body={}) == {"ok": 2}
    assert heard.told == [("demo", "submit", "200")]
    failed = [r for r in caplog.records if r.getMessage() == "provider request observer failed"]
    assert len(failed) == 2


async def test_non_json_success_is_a_response_error(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A 2xx whose body is not JSON cannot be read."""
    api.reply(200, content=b"<html>ok</html>", headers={"content-type": "text/html"})
    with pytest.raises(ProviderResponseError):
        await _http(client).call("GET", "/v1/x", "status")


async def test_html_5xx_is_unavailable(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A 5xx HTML error page is ProviderUnavailable, with the status in the message."""
    api.reply(502, content=b"<html>Bad Gateway</html>", headers={"content-type": "text/html"})
    with pytest.raises(ProviderUnavailable) as raised:
        await _http(client).call("GET", "/v1/x", "status")
    assert raised.value.status_code == 502
    assert "HTML" in raised.value.message


async def test_error_code_inside_a_2xx_envelope_is_an_error(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """An envelope ``code`` of 4xx/5xx is honoured even when the HTTP status is 200."""
    api.reply(200, {"code": 402, "message": "Insufficient credits", "data": None})
    with pytest.raises(InsufficientBalance) as raised:
        await _http(client).call("POST", "/v1/x", "submit", body={})
    assert raised.value.message == "Insufficient credits"


async def test_429_reads_retry_after_seconds(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A 429 carries Retry-After seconds as ``retry_after``."""
    api.reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "17"})
    with pytest.raises(RateLimited) as raised:
        await _http(client).call("GET", "/v1/x", "status")
    assert raised.value.retry_after == 17.0


async def test_429_reads_retry_after_http_date(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A 429 with an HTTP-date Retry-After waits until that date, by the injected clock."""
    date = email.utils.formatdate(NOW + 45, usegmt=True)
    api.reply(429, content=b"busy", headers={"Retry-After": date})
    with pytest.raises(RateLimited) as raised:
        await _http(client).call("GET", "/v1/x", "status")
    assert raised.value.retry_after == 45.0


@pytest.mark.parametrize(
    ("status", "call", "message", "expected"),
    [
        (400, "submit", "bad", InvalidRequest),
        (422, "submit", "bad", InvalidRequest),
        (401, "status", "no key", AuthError),
        (403, "submit", "forbidden", AuthError),
        (403, "submit", "quota exceeded", InsufficientBalance),
        (402, "submit", "pay", InsufficientBalance),
        (404, "status", "gone", TaskNotFound),
        (404, "extend", "Video not found", SourceInvalid),
        (404, "submit", "no such model", InvalidRequest),
        (410, "status", "expired", TaskNotFound),
        (400, "extend", "Video is not yet completed", SourceNotReady),
        (400, "extend", "The original video task status must be success", SourceNotReady),
        (400, "extend", "TaskId is still processing", SourceNotReady),
        (400, "extend", "TaskId not found, expired or not a veo-3-1 task.", SourceInvalid),
        (400, "extend", "model must match the original video's model", InvalidRequest),
        (400, "submit", "Video is not yet completed", InvalidRequest),
        (500, "submit", "oops", ProviderUnavailable),
        (503, "status", "model unavailable", ProviderUnavailable),
        (504, "status", "gateway timeout", ProviderUnavailable),
        (504, "submit", "gateway timeout", OutcomeUnknown),
        (408, "extend", "request timeout", OutcomeUnknown),
        (301, "status", "moved", ProviderResponseError),
    ],
)
def test_error_for_maps_status_and_call(
    status: int, call: CallKind, message: str, expected: type[ProviderError]
) -> None:
    """Each HTTP failure maps to the class that tells the caller what to do next."""
    error = error_for(Failure(status, "the_code", message), "demo", call)
    assert type(error) is expected
    assert (error.message, error.code, error.status_code) == (message, "the_code", status)


def test_error_for_keeps_taskid_error_code_as_source_invalid() -> None:
    """An extend refused with code TASKID_ERROR is SourceInvalid whatever the message."""
    error = error_for(Failure(400, "TASKID_ERROR", "bad task"), "demo", "extend")
    assert isinstance(error, SourceInvalid)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"error": {"code": 400, "message": "Invalid", "type": "invalid_request_error"}},
            "invalid_request_error",
            "Invalid",
        ),
        (
            {"error": {"message": "m", "type": "t", "param": None, "code": "video_not_found"}},
            "video_not_found",
            "m",
        ),
        (
            {"code": 400, "message": "Invalid request", "data": {"error": "Missing input.prompt"}},
            "400",
            "Invalid request: Missing input.prompt",
        ),
        (
            {"code": "task_not_exist", "message": "no task", "data": None},
            "task_not_exist",
            "no task",
        ),
        ({"error": "plain text"}, None, "plain text"),
        ("not an object", None, "fallback"),
    ],
)
def test_failure_from_body_reads_each_error_shape(
    body: object, code: str | None, message: str
) -> None:
    """The provider's code and message are found in every documented error shape."""
    failure = failure_from_body(400, body, "fallback")
    assert (failure.code, failure.message) == (code, message)


def test_build_body_drops_unset_fields_and_lets_options_win() -> None:
    """Unset fields are omitted and provider_options override our normalized fields."""
    body = build_body({"a": 1, "b": None, "c": 3}, {"c": "mine", "d": [1]})
    assert body == {"a": 1, "c": "mine", "d": [1]}


def test_openai_video_fields_map_aspect_to_size_and_send_string_seconds() -> None:
    """The OpenAI-style fields carry size from the aspect ratio and seconds as a string."""
    fields = openai_video_fields("m", "p", VideoParams(aspect_ratio="9:16"))
    assert fields == {"model": "m", "prompt": "p", "size": "720x1280", "seconds": "8"}
