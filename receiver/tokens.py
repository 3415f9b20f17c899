"""Callback tokens: the unguessable, signed path segment that makes a callback URL ours.

Neither apixo nor apimart signs its callbacks, so the URL itself is the credential: a token
signed with HMAC-SHA256 (itsdangerous, not its SHA-1 default) binds one step and one provider
and expires. Several secrets may be configured for rotation: the newest signs, any verifies.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from orchestrator.domain.callbacks import CallbackTarget


class InvalidToken(Exception):
    """Bad, expired or rotated-out token. Deliberately says nothing more."""


def clocked_signer(clock: Callable[[], float]) -> type[TimestampSigner]:
    """An HMAC timestamp signer reading ``clock``, with its key derivation cached."""

    class ClockedSigner(TimestampSigner):
        _derived: dict[bytes | None, bytes]

        def get_timestamp(self) -> int:
            return int(clock())

        def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
            # The derivation is a pure function of (secret, salt): do it once per secret, not
            # once per request (it was a third of the token check's cost).
            cache = self.__dict__.setdefault("_derived", {})
            key = secret_key.encode() if isinstance(secret_key, str) else secret_key
            if key not in cache:
                cache[key] = super().derive_key(secret_key)
            derived: bytes = cache[key]
            return derived

    return ClockedSigner


MAX_TOKEN = 512
"""Longer is never ours: refused before any work."""


class SignedTokens:
    """Payloads signed with HMAC-SHA256 under the subclass's ``SALT``, expiring ``max_age_s``
    after they were minted. ``secrets`` newest first (at least one): the newest signs, any
    verifies."""

    SALT: str

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        max_age_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        salt = self.SALT
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty signing secret is required")
        self._max_age_s = max_age_s
        self._clock = clock
        # itsdangerous signs with the last key and verifies with any.
        self._serializer = URLSafeTimedSerializer(
            list(reversed(secrets)),
            salt=salt,
            signer=clocked_signer(clock),
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        # One signer holding every secret, built once instead of once per request.
        self._unsigner = self._serializer.make_signer(salt)

    def _dumps(self, payload: object) -> str:
        return str(self._serializer.dumps(payload))

    def _loads(self, token: str) -> object:
        """The payload; ``InvalidToken`` unless the token is ours and fresh."""
        if len(token) > MAX_TOKEN:
            raise InvalidToken
        try:
            raw = self._unsigner.unsign(token, max_age=self._max_age_s)  # type: ignore[call-arg]
            payload: object = self._serializer.load_payload(raw)
        except (SignatureExpired, BadSignature, ValueError, TypeError) as exc:
            raise InvalidToken from exc
        return payload


class CallbackTokens(SignedTokens):
    SALT = "reelay.callback.v1"

    def mint(self, target: CallbackTarget) -> str:
        return self._dumps([target.pipeline_id, target.step, target.provider])

    def verify(self, token: str, provider: str) -> CallbackTarget:
        """The step a token was minted for; ``InvalidToken`` unless it is ours, fresh and for
        ``provider``."""
        match self._loads(token):
            case [str(pipeline_id), int(step), str(bound)] if bound == provider:
                return CallbackTarget(pipeline_id, step, bound)
        raise InvalidToken


def callback_url(public_url: str, target: CallbackTarget, tokens: CallbackTokens) -> str:
    return f"{public_url.rstrip('/')}/callbacks/{target.provider}/{tokens.mint(target)}"
