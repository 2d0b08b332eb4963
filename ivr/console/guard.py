"""Who is signed in, and who is kept out: the session cookie, CSRF tokens, the login lockout.

The session lives in one signed cookie (no server-side session is needed to read it),
so the console adds nothing to the webhooks' requests. A logged-out session's id is
remembered in the store until it would have expired anyway, so a copied cookie stops
working at logout.

Failed logins are counted per address, keyed by an HMAC of the address (never the
address itself), in the line's store with a TTL; when the store does not answer, in
this process instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from ..store import PREFIX, EmbeddedStore, Store, StoreDown, Tally

COOKIE = "ivr_console"
IDLE_SECONDS = 8 * 60 * 60
FREE_TRIES = 3  # wrong passwords from one address before each try must wait
LOCK_AFTER = 10  # wrong passwords from one address before it is refused for LOCK_SECONDS
LOCK_SECONDS = 15 * 60
MAX_WAIT_SECONDS = 60


def cookie_key(secret: bytes) -> bytes:
    """Derive the cookie-signing key from the line's secret, separate from the callers' key."""
    return hmac.new(secret, b"ivr console cookies", hashlib.sha256).digest()


@dataclass(frozen=True)
class Session:
    """One browser's visit: who signed in ("" for nobody yet), its id, its CSRF token, when last seen."""

    operator: str
    sid: str
    csrf: str
    seen: float

    @classmethod
    def fresh(cls, operator: str, now: float) -> Session:
        """Start a new session with a new id and CSRF token."""
        return cls(operator, secrets.token_hex(16), secrets.token_urlsafe(32), now)


class Sessions:
    """Write sessions into signed cookies and read them back, refusing forged or idle ones."""

    def __init__(self, secret: bytes, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._serializer = URLSafeSerializer(cookie_key(secret), salt="ivr-console-session")
        self._store = store
        self._ended = _Fallback(store)
        self.clock = clock

    def read(self, cookie: str | None) -> Session:
        """Return the cookie's session, or a fresh anonymous one if it is forged, idle or ended."""
        now = self.clock()
        session = self._decode(cookie)
        if session is None or now - session.seen > IDLE_SECONDS:
            return Session.fresh("", now)
        if session.operator and self._ended.counts(_ended_key(session.sid)):
            return Session.fresh("", now)
        return replace(session, seen=now)

    def _decode(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data: Any = self._serializer.loads(cookie)
            return Session(str(data["o"]), str(data["s"]), str(data["c"]), float(data["t"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def write(self, session: Session) -> str:
        """Sign a session for the cookie."""
        return self._serializer.dumps({"o": session.operator, "s": session.sid, "c": session.csrf, "t": session.seen})

    def end(self, session: Session) -> None:
        """Remember that this session logged out, for as long as it could otherwise live."""
        self._ended.add(Tally(_ended_key(session.sid), (("ended", 1),), IDLE_SECONDS))


def _ended_key(sid: str) -> str:
    return f"{PREFIX}console:ended:{sid[:32]}"


def csrf_ok(session: Session, token: str) -> bool:
    """Say whether a form's token is this session's, in constant time."""
    return bool(token) and hmac.compare_digest(session.csrf.encode(), token.encode())


class Lockout:
    """Count wrong passwords per address: after a few, each try must wait; after many, a pause."""

    def __init__(self, store: Store, secret: bytes) -> None:
        self._counts = _Fallback(store)
        self._secret = secret

    def _keys(self, address: str) -> tuple[str, str]:
        digest = hmac.new(self._secret, f"console login {address}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{PREFIX}console:fails:{digest}", f"{PREFIX}console:wait:{digest}"

    def refusal(self, address: str) -> str:
        """Say why this address may not try now ("" when it may)."""
        fails, wait = self._keys(address)
        if self._counts.counts(fails).get("failed", 0) >= LOCK_AFTER:
            minutes = LOCK_SECONDS // 60
            return f"Too many wrong passwords from this address. Sign-in is paused for {minutes} minutes."
        if self._counts.counts(wait):
            return "Too many wrong passwords from this address. Wait a moment, then try again."
        return ""

    def failed(self, address: str) -> int:
        """Count one wrong password; from the FREE_TRIES-th on, make the next try wait a while."""
        fails, wait = self._keys(address)
        self._counts.add(Tally(fails, (("failed", 1),), LOCK_SECONDS))
        count = self._counts.counts(fails).get("failed", 0)
        if count >= FREE_TRIES:
            seconds = min(2 ** (count - FREE_TRIES), MAX_WAIT_SECONDS)
            self._counts.add(Tally(wait, (("wait", 1),), seconds))
        return count

    def succeeded(self, address: str) -> None:
        """Forget this address's wrong passwords."""
        self._counts.forget(*self._keys(address))


class _Fallback:
    """The line's store for small console counters, or this process's memory while it is down."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._memory = EmbeddedStore()

    def counts(self, key: str) -> dict[str, int]:
        try:
            found = self._store.counts([key])[0]
        except StoreDown:
            found = {}
        return found or self._memory.counts([key])[0]

    def add(self, tally: Tally) -> None:
        try:
            self._store.count(tally)
        except StoreDown:
            self._memory.count(tally)

    def forget(self, *keys: str) -> None:
        self._memory.forget(*keys)
        try:
            self._store.forget(*keys)
        except StoreDown:
            pass
