"""Callback tokens: bound to one step and provider, expiring, rotatable."""

from __future__ import annotations

import pytest

from orchestrator.domain.callbacks import CallbackTarget
from receiver.tokens import CallbackTokens, InvalidToken, callback_url
from tests.clock import Clock

TARGET = CallbackTarget("pl_abc", 2, "apixo")


def test_round_trip() -> None:
    """A minted token verifies back to its step and provider."""
    tokens = CallbackTokens(["s1"], max_age_s=60)
    assert tokens.verify(tokens.mint(TARGET), "apixo") == TARGET


def test_other_provider_is_refused() -> None:
    """A token minted for apixo is not accepted on apimart's route."""
    tokens = CallbackTokens(["s1"], max_age_s=60)
    with pytest.raises(InvalidToken):
        tokens.verify(tokens.mint(TARGET), "apimart")


def test_expired_token_is_refused() -> None:
    """A token older than its maximum age is refused."""
    clock = Clock()
    tokens = CallbackTokens(["s1"], max_age_s=60, clock=clock)
    token = tokens.mint(TARGET)
    clock.now += 61
    with pytest.raises(InvalidToken):
        tokens.verify(token, "apixo")


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-2] + "xx", lambda t: "x" + t, lambda t: "", lambda t: t * 10]
)
def test_forged_tokens_are_refused(mangle: object) -> None:
    """Tampered, empty and oversized tokens are refused."""
    tokens = CallbackTokens(["s1"], max_age_s=60)
    with pytest.raises(InvalidToken):
        tokens.verify(mangle(tokens.mint(TARGET)), "apixo")  # type: ignore[operator]


def test_rotation() -> None:
    """The newest secret signs; an older configured one still verifies; a retired one doesn't."""
    old = CallbackTokens(["old"], max_age_s=60)
    rotated = CallbackTokens(["new", "old"], max_age_s=60)
    retired = CallbackTokens(["new"], max_age_s=60)
    token = old.mint(TARGET)
    assert rotated.verify(token, "apixo") == TARGET
    with pytest.raises(InvalidToken):
        retired.verify(token, "apixo")
    assert retired.verify(rotated.mint(TARGET), "apixo") == TARGET


def test_uses_sha256() -> None:
    """Signatures are HMAC-SHA256 (43 base64 characters), not itsdangerous's SHA-1 default."""
    token = CallbackTokens(["s1"], max_age_s=60).mint(TARGET)
    assert len(token.rsplit(".", 1)[1]) == 43


def test_url_shape() -> None:
    """The callback URL is {public}/callbacks/{provider}/{token}."""
    tokens = CallbackTokens(["s1"], max_age_s=60)
    url = callback_url("https://hooks.example/", TARGET, tokens)
    assert url.startswith("https://hooks.example/callbacks/apixo/")
