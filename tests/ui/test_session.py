"""Session cookies and CSRF tokens: signed, expiring, bound to the configured tokens."""

from __future__ import annotations

from orchestrator.ui.session import MAX_AGE_S, Sessions
from tests.clock import Clock


def test_a_session_survives_the_round_trip() -> None:
    """What was signed is read back: the session id and the token's name."""
    sessions = Sessions("secret", ["t1"])
    session = sessions.new("api")
    assert sessions.load(sessions.dump(session)) == session


def test_a_tampered_cookie_is_no_session() -> None:
    """Changing one character, or signing with another secret, gives no session."""
    sessions = Sessions("secret", ["t1"])
    cookie = sessions.dump(sessions.new("api"))
    # Not the last character: its low bits are base64 padding, and some changes decode to
    # the same signature.
    flipped = cookie[:-10] + ("A" if cookie[-10] != "A" else "B") + cookie[-9:]
    assert sessions.load(flipped) is None
    assert Sessions("other", ["t1"]).load(cookie) is None
    assert sessions.load("") is None
    assert sessions.load("not-a-cookie") is None


def test_changing_a_token_signs_every_browser_out() -> None:
    """A session made under one set of tokens is not accepted under another."""
    cookie = Sessions("secret", ["t1"]).dump(Sessions("secret", ["t1"]).new("api"))
    assert Sessions("secret", ["t1"]).load(cookie) is not None
    assert Sessions("secret", ["t2"]).load(cookie) is None


def test_a_session_expires() -> None:
    """A cookie older than MAX_AGE_S is refused."""
    clock = Clock()
    sessions = Sessions("secret", ["t1"], clock=clock)
    cookie = sessions.dump(sessions.new("api"))
    clock.advance(MAX_AGE_S - 5)
    assert sessions.load(cookie) is not None
    clock.advance(10)
    assert sessions.load(cookie) is None


def test_csrf_tokens_are_bound_to_their_session() -> None:
    """One session's CSRF token does not pass for another's."""
    sessions = Sessions("secret", ["t1"])
    a, b = sessions.new("api"), sessions.new("api")
    assert sessions.csrf_ok(a, sessions.csrf(a))
    assert not sessions.csrf_ok(b, sessions.csrf(a))
    assert not sessions.csrf_ok(a, "")
