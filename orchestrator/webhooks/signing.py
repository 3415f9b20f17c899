"""Standard Webhooks signatures (https://www.standardwebhooks.com): secrets, signing, verifying.

A secret is ``whsec_`` + base64 of the key. A message is signed as
``HMAC-SHA256(key, f"{msg_id}.{timestamp}." + body)`` and sent in ``webhook-signature`` as
``v1,<base64>``, one entry per secret: while a secret is rotated, both the new and the old
one sign, so a receiver holding either verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Mapping, Sequence

from orchestrator.errors import Rejected, Unauthorized

_PREFIX = "whsec_"
_KEY_BYTES = 32
# Below 128 bits an HMAC key is guessable; the spec asks for 24-64 bytes, Svix-style secrets are 24.
_MIN_KEY_BYTES = 16


class SecretError(Rejected, ValueError):
    """A webhook secret that is not ``whsec_`` + base64 of a long enough key."""


class SignatureError(Unauthorized):
    """A webhook whose headers do not prove it came from the holder of the secret just now."""


def new_secret() -> str:
    """A fresh secret: ``whsec_`` + base64 of 32 random bytes."""
    return _PREFIX + base64.b64encode(_random.token_bytes(_KEY_BYTES)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside ``secret`` (the ``whsec_`` prefix is optional, padding too)."""
    raw = secret.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("webhook secret is not 'whsec_' followed by base64") from None
    if len(key) < _MIN_KEY_BYTES:
        raise SecretError(
            f"webhook secret holds {len(key)} bytes; at least {_MIN_KEY_BYTES} are required"
        )
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<sig>`` per secret, space-separated, in order."""
    # A bare str is a Sequence[str] too: it would sign with each character as a secret.
    if isinstance(secrets, str):
        raise TypeError("sign() takes a sequence of secrets, not one secret")
    if not secrets:
        raise SecretError("no webhook secret to sign with")
    return " ".join(
        "v1," + base64.b64encode(_digest(decode_secret(s), msg_id, timestamp, body)).decode()
        for s in secrets
    )


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one signed delivery of the JSON ``body``."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance_s: int = 300
) -> None:
    """Raise SignatureError unless one of the v1 signatures matches and the timestamp is fresh."""
    key = decode_secret(secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise SignatureError("webhook-timestamp is not a whole number of seconds")
    timestamp = int(stamp)
    if timestamp < now - tolerance_s:
        raise SignatureError("webhook-timestamp is too old")
    if timestamp > now + tolerance_s:
        raise SignatureError("webhook-timestamp is in the future")
    expected = _digest(key, msg_id, timestamp, body)
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise SignatureError("no matching webhook signature")
