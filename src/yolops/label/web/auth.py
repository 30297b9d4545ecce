"""Who is calling the studio's API: a person with a session cookie (the browser), or
a script with an API key (``Authorization: Bearer yk_...`` or ``X-API-Key``).

The cookie is HttpOnly and SameSite=Strict, so another site cannot make a browser
send it; on top of that, a request carrying the cookie that changes something must
come from the studio's own origin (``Origin`` checked when the browser sends it).
Logins that keep failing for a name are slowed down (:class:`LoginThrottle`).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from fastapi import Request

from yolops.api_errors import ApiError
from yolops.identity import Actor, KeyStore, UserStore

COOKIE = "yolops_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class LoginThrottle:
    """At most ``attempts`` failed logins per name in ``window`` seconds; then 429
    until the oldest failure leaves the window."""

    def __init__(self, attempts: int = 10, window: float = 60.0):
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, name: str) -> None:
        with self._lock:
            recent = self._recent(name)
            if len(recent) >= self.attempts:
                wait = int(self.window - (time.monotonic() - recent[0])) + 1
                raise ApiError(
                    429,
                    "too_many_attempts",
                    f"too many failed logins for {name!r}; try again in {wait} s",
                    {"Retry-After": str(wait)},
                )

    def failed(self, name: str) -> None:
        with self._lock:
            self._recent(name).append(time.monotonic())

    def _recent(self, name: str) -> deque:
        recent = self._failures[name]
        while recent and time.monotonic() - recent[0] > self.window:
            recent.popleft()
        return recent


def actor_of(request: Request, users: UserStore, keys: KeyStore) -> Actor:
    """The caller, or 401."""
    key = request.headers.get("x-api-key") or _bearer(request)
    if key:
        info = keys.verify(key)
        if info is None or not info.active:
            why = "has been revoked" if info is not None else "is not valid"
            raise ApiError(401, "unauthenticated", f"the API key {why}")
        return Actor(f"key:{info.name}", info.role)
    token = request.cookies.get(COOKIE)
    user = users.session_user(token) if token else None
    if user is None:
        raise ApiError(
            401,
            "unauthenticated",
            "log in first (POST /api/login), or send an API key",
        )
    if request.method not in SAFE_METHODS:
        check_origin(request)
    return Actor(user.name, user.role)


def check_origin(request: Request) -> None:
    """A cookie-authenticated change must come from this site."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or a same-origin request that did not say
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise ApiError(403, "forbidden", f"requests from {origin} may not change anything here")


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
