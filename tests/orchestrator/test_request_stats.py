"""The last hour of requests per provider: percentiles, error rate, an hour's window, bounded
memory, and the last errors redacted and capped."""

from __future__ import annotations

import httpx
import pytest

from orchestrator.engine import request_stats
from orchestrator.engine.request_stats import RequestStats
from orchestrator.providers import errors as pe
from tests.clock import Clock


def board() -> tuple[RequestStats, Clock]:
    clock = Clock()
    return RequestStats(["apixo", "apimart"], clock=clock), clock


def test_percentiles_and_error_rate() -> None:
    """p50 and p95 of 1..100 ms are 50 and 95 ms (within the bins' 5 %); the error rate counts
    5xx, 408 and transport errors over every request, not a request's own 4xx."""
    stats, _ = board()
    for ms in range(1, 101):
        outcome = "200"
        if ms % 10 == 0:
            outcome = "503" if ms % 20 else "ReadTimeout"
        elif ms % 10 == 5:
            outcome = "404"
        stats.observe("apixo", "status", outcome, ms / 1000)
    hour = stats.hour("apixo")
    assert (hour.requests, hour.failed) == (100, 10)
    assert hour.error_rate == pytest.approx(0.10)
    assert hour.p50_ms == pytest.approx(50, rel=0.05)
    assert hour.p95_ms == pytest.approx(95, rel=0.05)


def test_a_slow_tail_shows_in_p95_not_p50() -> None:
    stats, _ = board()
    for _ in range(90):
        stats.observe("apixo", "submit", "200", 0.2)
    for _ in range(10):
        stats.observe("apixo", "submit", "200", 12.0)
    hour = stats.hour("apixo")
    assert hour.p50_ms == pytest.approx(200, rel=0.05)
    assert hour.p95_ms == pytest.approx(12_000, rel=0.05)


def test_no_requests_is_null_not_zero() -> None:
    """A provider never asked has no latency and no error rate (0 of 0), and providers are
    counted apart."""
    stats, _ = board()
    stats.observe("apixo", "status", "200", 0.1)
    stats.observe("elsewhere", "status", "503", 0.1)  # not one of ours: ignored
    hour = stats.hour("apimart")
    assert (hour.requests, hour.error_rate, hour.p50_ms, hour.p95_ms) == (0, None, None, None)
    assert stats.hour("apixo").requests == 1


def test_requests_fall_out_after_an_hour() -> None:
    """A request counts for the hour after it (in whole minutes), then no more."""
    stats, clock = board()
    stats.observe("apixo", "status", "503", 5.0)
    clock.advance(1800)
    stats.observe("apixo", "status", "200", 0.1)
    clock.advance(1739)  # 59 minutes after the first: both still in the hour
    assert stats.hour("apixo").requests == 2
    clock.advance(61)  # an hour after the first
    hour = stats.hour("apixo")
    assert (hour.requests, hour.error_rate) == (1, 0.0)
    assert hour.p95_ms == pytest.approx(100, rel=0.05)
    clock.advance(1800)
    assert stats.hour("apixo").requests == 0
    assert stats.hour("apixo").p50_ms is None


def test_memory_is_bounded_whatever_the_rate() -> None:
    """Three hours of traffic at every latency from 10 µs to 1000 s hold no more than an
    hour's buckets of capped histograms: what is held does not grow with time or rate."""
    stats, clock = board()
    latencies = [10 ** (e / 10) for e in range(-50, 31)]  # 1e-5 s .. 1e3 s

    def an_hour() -> None:
        for _ in range(60):
            for seconds in latencies:
                stats.observe("apixo", "status", "200", seconds)
            clock.advance(60)

    an_hour()
    after_one = stats.size("apixo")
    an_hour()
    an_hour()
    assert stats.size("apixo") == after_one
    assert after_one <= request_stats.MINUTES * (request_stats.BINS + 2)
    # The clock stands at the start of a minute with no requests yet: the 59 before it count.
    assert stats.hour("apixo").requests == 59 * len(latencies)


def test_recent_errors_are_redacted_capped_and_short() -> None:
    """The last 20 errors are kept, oldest first, with their outcome and operation; keys,
    bearer tokens and callback tokens never survive, and a long message is cut."""
    stats, clock = board()
    for n in range(25):
        clock.advance(1)
        stats.error(
            "apixo",
            "generate",
            pe.InsufficientBalance(
                f"#{n} key sk-live-abcdef123456 refused; Authorization: Bearer tok-{n} "
                f"for https://hooks.example/callbacks/apixo/SIGNEDTOKEN{n}",
                provider="apixo",
                status_code=402,
                code="insufficient_quota",
            ),
        )
    errors = stats.recent_errors("apixo")
    assert len(errors) == request_stats.RECENT_ERRORS
    assert [e.message.split()[1] for e in errors] == [f"#{n}" for n in range(5, 25)]
    assert errors[-1].at == clock.now
    assert (errors[-1].operation, errors[-1].outcome) == ("generate", "402")
    said = " ".join(e.message for e in errors)
    assert "sk-live" not in said
    assert "tok-" not in said
    assert "SIGNEDTOKEN" not in said
    assert said.startswith("insufficient_quota: #5")

    stats.error("apixo", "status", pe.ProviderUnavailable("x" * 5000, provider="apixo"))
    assert len(stats.recent_errors("apixo")[-1].message) == request_stats.MESSAGE_CHARS


def test_an_error_without_an_answer_is_named_by_its_transport_error() -> None:
    """A request that got no answer shows the transport error's class, as the HTTP observer
    names it; an error of ours with neither shows its own class."""
    stats, _ = board()
    try:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as exc:
            raise pe.RequestNotSent("POST /v1/videos not sent", provider="apimart") from exc
    except pe.RequestNotSent as sent:
        stats.error("apimart", "extend", sent)
    stats.error("apimart", "status", pe.ProviderResponseError("not JSON", provider="apimart"))
    assert [e.outcome for e in stats.recent_errors("apimart")] == [
        "ConnectError",
        "ProviderResponseError",
    ]
    assert stats.recent_errors("apixo") == []
