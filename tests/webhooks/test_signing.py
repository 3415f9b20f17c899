"""Standard Webhooks signing, checked against the independent ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from orchestrator.webhooks.signing import (
    SecretError,
    SignatureError,
    decode_secret,
    headers,
    new_secret,
    sign,
    verify,
)

OLD = new_secret()
NEW = new_secret()
OTHER = new_secret()
BODY = b'{"type":"pipeline.succeeded","data":{"id":"p_1"}}'


def oracle_accepts(secret: str, hdrs: dict[str, str], body: bytes) -> bool:
    try:
        Webhook(secret).verify(body, hdrs, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def ours_accepts(secret: str, hdrs: dict[str, str], body: bytes) -> bool:
    try:
        verify(secret, hdrs, body, now=time.time())
    except SignatureError:
        return False
    return True


def signed(secrets: list[str], *, timestamp: int | None = None) -> dict[str, str]:
    return headers(secrets, "msg_1", int(time.time()) if timestamp is None else timestamp, BODY)


def test_new_secret_is_prefixed_base64_of_32_random_bytes() -> None:
    """A new secret is whsec_ + base64 of 32 bytes, different every time."""
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != new_secret()


def test_decode_secret_accepts_the_prefix_as_optional() -> None:
    """The key is the same with or without the whsec_ prefix and its padding."""
    key = bytes(range(24))
    encoded = base64.b64encode(key).decode()
    assert decode_secret("whsec_" + encoded) == key
    assert decode_secret(encoded) == key
    assert decode_secret(base64.b64encode(bytes(range(16))).decode().rstrip("=")) == bytes(
        range(16)
    )


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "whsec_",
        "whsec_not base64!",
        "whsec_ÿÿÿÿ",
        "whsec_" + base64.b64encode(b"short").decode(),
    ],
)
def test_decode_secret_rejects_garbage_and_short_keys(secret: str) -> None:
    """Empty, non-base64, non-ASCII and shorter-than-16-byte secrets raise SecretError."""
    with pytest.raises(SecretError, match="webhook secret"):
        decode_secret(secret)


def test_sign_gives_one_v1_signature_per_secret_in_order() -> None:
    """Each secret contributes one v1 entry, in the order given."""
    both = sign([NEW, OLD], "msg_1", 1_700_000_000, BODY).split(" ")
    assert both == [
        sign([NEW], "msg_1", 1_700_000_000, BODY),
        sign([OLD], "msg_1", 1_700_000_000, BODY),
    ]
    assert all(entry.startswith("v1,") for entry in both)


def test_sign_refuses_a_bare_string_or_no_secret() -> None:
    """A str (which would sign per character) or an empty list is an error, not a weak header."""
    with pytest.raises(TypeError):
        sign(NEW, "msg_1", 1, BODY)
    with pytest.raises(SecretError):
        sign([], "msg_1", 1, BODY)


def test_headers_carry_id_timestamp_signature_and_content_type() -> None:
    """The header set is webhook-id, webhook-timestamp, webhook-signature, content-type."""
    assert headers([NEW], "msg_9", 1_700_000_000, BODY) == {
        "webhook-id": "msg_9",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign([NEW], "msg_9", 1_700_000_000, BODY),
        "content-type": "application/json",
    }


def test_oracle_verifies_our_signature() -> None:
    """standardwebhooks accepts what we sign."""
    assert oracle_accepts(NEW, signed([NEW]), BODY)


def test_oracle_rejects_a_tampered_body() -> None:
    """One changed byte of the body fails verification."""
    assert not oracle_accepts(NEW, signed([NEW]), BODY.replace(b"p_1", b"p_2"))


def test_oracle_rejects_a_stale_timestamp() -> None:
    """A signature from an hour ago fails verification."""
    assert not oracle_accepts(NEW, signed([NEW], timestamp=int(time.time()) - 3600), BODY)


@pytest.mark.parametrize(("receiver", "ok"), [(NEW, True), (OLD, True), (OTHER, False)])
def test_rotation_verifies_for_new_and_old_secret_only(receiver: str, ok: bool) -> None:
    """Signed with new and old secrets, a receiver holding either verifies; an unrelated fails."""
    assert oracle_accepts(receiver, signed([NEW, OLD]), BODY) is ok


def _drop(name: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda h: {k: v for k, v in h.items() if k != name}


CASES: list[tuple[str, str, Callable[[dict[str, str]], dict[str, str]], bytes, bool]] = [
    ("valid", NEW, lambda h: h, BODY, True),
    ("old secret after rotation", OLD, lambda h: h, BODY, True),
    ("unrelated secret", OTHER, lambda h: h, BODY, False),
    ("tampered body", NEW, lambda h: h, BODY + b" ", False),
    ("stale", NEW, lambda h: {**h, "webhook-timestamp": str(int(time.time()) - 3600)}, BODY, False),
    (
        "future",
        NEW,
        lambda h: {**h, "webhook-timestamp": str(int(time.time()) + 3600)},
        BODY,
        False,
    ),
    ("other id", NEW, lambda h: {**h, "webhook-id": "msg_2"}, BODY, False),
    ("no id", NEW, _drop("webhook-id"), BODY, False),
    ("no timestamp", NEW, _drop("webhook-timestamp"), BODY, False),
    ("no signature", NEW, _drop("webhook-signature"), BODY, False),
    ("upper-case names", NEW, lambda h: {k.upper(): v for k, v in h.items()}, BODY, True),
    (
        "unknown version first",
        OLD,
        lambda h: {**h, "webhook-signature": "v1a,AAAA " + h["webhook-signature"]},
        BODY,
        True,
    ),
]


@pytest.mark.parametrize(
    ("secret", "mutate", "body", "ok"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_our_verify_agrees_with_the_oracle(
    secret: str, mutate: Callable[[dict[str, str]], dict[str, str]], body: bytes, ok: bool
) -> None:
    """Our verify and standardwebhooks accept and reject the same deliveries."""
    hdrs = mutate(signed([NEW, OLD]))
    assert ours_accepts(secret, hdrs, body) is ok
    assert oracle_accepts(secret, hdrs, body) is ok


def test_our_verify_accepts_an_oracle_signature() -> None:
    """A signature made by standardwebhooks verifies with ours."""
    now = datetime.now(tz=UTC)
    hdrs = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(NEW).sign("msg_1", now, BODY.decode()),
    }
    verify(NEW, hdrs, BODY, now=now.timestamp())


@pytest.mark.parametrize("timestamp", ["1700000000.5", "-1", "\uff19\uff19", "9" * 5000])
def test_verify_rejects_malformed_timestamps(timestamp: str) -> None:
    """A timestamp that is not plain ASCII digits of sane length raises SignatureError."""
    hdrs = {**signed([NEW]), "webhook-timestamp": timestamp}
    with pytest.raises(SignatureError, match="whole number"):
        verify(NEW, hdrs, BODY, now=time.time())


def test_verify_uses_the_injected_clock_and_tolerance() -> None:
    """Freshness is judged against ``now`` within ``tolerance_s`` either way."""
    hdrs = headers([NEW], "msg_1", 1_000_000, BODY)
    verify(NEW, hdrs, BODY, now=1_000_300)
    verify(NEW, hdrs, BODY, now=999_700)
    with pytest.raises(SignatureError, match="too old"):
        verify(NEW, hdrs, BODY, now=1_000_301)
    with pytest.raises(SignatureError, match="future"):
        verify(NEW, hdrs, BODY, now=1_000_000 - 61, tolerance_s=60)


def test_verify_skips_garbage_signature_entries() -> None:
    """Non-base64, non-ASCII and comma-less entries are ignored, not errors."""
    good = signed([NEW])
    hdrs = {**good, "webhook-signature": "v1,!!! v1,ÿÿ junk " + good["webhook-signature"]}
    verify(NEW, hdrs, BODY, now=time.time())
    with pytest.raises(SignatureError, match="no matching"):
        verify(NEW, {**good, "webhook-signature": "v1,!!! v1,ÿÿ junk"}, BODY, now=time.time())


ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@given(msg_id=ids, body=st.binary(max_size=512))
def test_sign_then_verify_round_trips(msg_id: str, body: bytes) -> None:
    """Any id and body signed with two secrets verifies with either, and not with a third."""
    hdrs = headers([NEW, OLD], msg_id, 1_700_000_000, body)
    verify(NEW, hdrs, body, now=1_700_000_000)
    verify(OLD, hdrs, body, now=1_700_000_000)
    with pytest.raises(SignatureError):
        verify(OTHER, hdrs, body, now=1_700_000_000)


@given(msg_id=ids, text=st.text(max_size=512))
def test_oracle_agrees_on_random_messages(msg_id: str, text: str) -> None:
    """For any id and UTF-8 body, the oracle accepts our signature and rejects a tampered body."""
    body = text.encode()
    hdrs = headers([NEW], msg_id, int(time.time()), body)
    assert oracle_accepts(NEW, hdrs, body)
    assert ours_accepts(NEW, hdrs, body)
    assert not oracle_accepts(NEW, hdrs, body + b"!")
    assert not ours_accepts(NEW, hdrs, body + b"!")
