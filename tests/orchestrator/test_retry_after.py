"""The one Retry-After reading shared by providers, webhook endpoints and video links."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.common.retry_after import MAX_RETRY_AFTER_S, parse_retry_after

NOW = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        (" 0 ", 0.0),
        ("999999", MAX_RETRY_AFTER_S),
        ("9" * 5000, MAX_RETRY_AFTER_S),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:29:00 -0000", 60.0),  # no zone said: read as UTC
        ("Wed, 21 Oct 2015 09:29:00 +0200", 60.0),
        (email.utils.formatdate(NOW + 60, usegmt=True), 60.0),
        (email.utils.formatdate(NOW - 60, usegmt=True), 0.0),
        ("Fri, 01 Jan 2100 00:00:00 GMT", MAX_RETRY_AFTER_S),
        # Not delay-seconds (RFC 9110: digits only) and not a date: no advice.
        ("-5", None),
        ("1.5", None),
        ("1e3", None),
        ("nan", None),
        ("inf", None),
        ("\u00b2", None),  # a digit to str.isdigit, not to float()
        ("soon", None),
        ("Wed, 32 Oct 2015 07:28:30 GMT", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Seconds or an HTTP-date relative to ``now``, clamped to 0..max; anything else is None."""
    assert parse_retry_after(value, now=NOW) == expected


def test_the_ceiling_is_the_callers() -> None:
    """``max_s`` sets the clamp for seconds and dates alike."""
    assert parse_retry_after("120", now=NOW, max_s=60.0) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now=NOW, max_s=60.0) == 60.0


@given(st.text())
def test_any_text_is_none_or_within_the_clamp(value: str) -> None:
    """No header value raises or escapes 0..MAX_RETRY_AFTER_S."""
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER_S


@given(st.integers(min_value=0, max_value=10**30))
def test_delay_seconds_read_as_themselves_up_to_the_ceiling(n: int) -> None:
    assert parse_retry_after(str(n), now=NOW) == min(float(n), MAX_RETRY_AFTER_S)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_an_http_date_waits_until_then(offset: int) -> None:
    """A date ``offset`` seconds from now waits that long, never less than 0 or over the cap."""
    date = email.utils.formatdate(NOW + offset, usegmt=True)
    assert parse_retry_after(date, now=NOW) == min(max(float(offset), 0.0), MAX_RETRY_AFTER_S)
