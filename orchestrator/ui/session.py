"""The browser's session: a signed cookie, and the CSRF token that goes with it.

A browser signs in once with an API token; from then on it carries ``reelay_session``, a
signed (itsdangerous, SHA-256), timestamped value holding a random session id and the name of
the token it signed in with — never the token. The signing key is derived from a secret kept in
the database (so every replica accepts every session) and from the configured tokens, so
changing a token signs every browser out.

Every form the dashboard renders carries ``csrf``, an HMAC of the session id: a page of
another site can make the browser send the cookie (SameSite=Strict already stops most of
that), never read the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

COOKIE = "reelay_session"
MAX_AGE_S = 12 * 3600
"""A session lasts 12 hours from sign-in; signing in again starts a new one."""
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    who: str | None
    """The name of the token signed in with; None before sign-in."""


class Sessions:
    """Issues and reads session cookies and their CSRF tokens."""

    def __init__(
        self, secret: str, tokens: Iterable[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        material = "\n".join([secret, *sorted(tokens)]).encode()
        key = hashlib.sha256(b"reelay dashboard session\n" + material).digest()
        self._csrf_key = hashlib.sha256(b"reelay dashboard csrf\n" + material).digest()

        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializer = URLSafeTimedSerializer(
            key,
            salt="reelay.ui.session",
            signer=Signer,
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def new(self, who: str | None) -> Session:
        return Session(secrets.token_urlsafe(18), who)

    def dump(self, session: Session) -> str:
        return self._serializer.dumps({"sid": session.sid, "who": session.who})

    def load(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``; None when absent, forged, malformed or expired."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        sid, who = data.get("sid"), data.get("who")
        if not isinstance(sid, str) or not (who is None or isinstance(who, str)):
            return None
        return Session(sid, who)

    def csrf(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, given: str) -> bool:
        return hmac.compare_digest(self.csrf(session).encode(), given.encode())
