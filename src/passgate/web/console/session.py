"""Console sessions: the cookie, its expiry and the CSRF token bound to it.

The cookie holds a random token; the database holds only its keyed digest
(``storage.admins``). A session ends after ``idle_s`` without a request or ``absolute_s``
after the login (:func:`~passgate.domain.admins.session_expired`, with the injected
clock); logging out or removing the administrator ends it at once. The cookie is
``HttpOnly``, ``SameSite=Strict``, scoped to ``/admin`` and ``Secure`` when the console is
served over https.

The CSRF token of a session is an HMAC of the session's token: forms carry it, nothing
stores it, and it changes with every login. The login form, which has no session yet,
carries a random token that must equal a cookie of its own (double submit).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from passgate.domain.admins import Admin, AdminSession, session_expired
from passgate.domain.clock import Clock
from passgate.storage.admins import AdminStore
from passgate.support.crypto import constant_time_equal, new_secret

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "Sessions",
    "Visit",
    "csrf_for",
    "is_https",
]

SESSION_COOKIE = "passgate_console"
LOGIN_COOKIE = "passgate_console_login"
COOKIE_PATH = "/admin"
#: A session's ``last_seen`` is written at most this often (seconds): page views within
#: it do not each cost a write.
TOUCH_EVERY_S = 10.0
_MAX_TOKEN = 200


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"passgate console csrf", hashlib.sha256).hexdigest()


def is_https(request: Request) -> bool:
    """Served over https: by passgate itself (TLS settings), or (``public_url``) behind a
    proxy that terminates TLS; ``Sessions(secure=True)`` covers the second."""
    return request.url.scheme == "https"


@dataclasses.dataclass(frozen=True, slots=True)
class Visit:
    """A request made in a live session: who, and the CSRF token its forms carry."""

    admin: Admin
    csrf: str
    session: AdminSession

    @property
    def can_change(self) -> bool:
        return self.admin.can_change


class Sessions:
    """Starts, reads and ends console sessions (blocking: the store is SQL)."""

    def __init__(
        self,
        store: AdminStore,
        *,
        clock: Clock,
        idle_s: float,
        absolute_s: float,
        secure: bool = False,
    ) -> None:
        self._store = store
        #: Cookies are Secure even on requests that arrive as http (TLS ends at a proxy).
        self.secure = secure
        self._clock = clock
        self.idle_s = idle_s
        self.absolute_s = absolute_s

    def start(self, admin: Admin) -> str:
        """A new session's token (for the cookie)."""
        token = new_secret(32)
        self._store.start_session(admin.id, token, self._clock())
        return token

    def visit(self, token: str | None, *, touch: bool = True) -> Visit | None:
        """The live session of ``token`` (its idle time restarted unless ``touch`` is
        False), None when there is none or it has ended (an ended one is deleted)."""
        if not token or len(token) > _MAX_TOKEN or not token.isascii():
            return None
        session = self._store.session(token)
        if session is None:
            return None
        now = self._clock()
        if session_expired(session, now, idle_s=self.idle_s, absolute_s=self.absolute_s):
            self._store.end_session(session.digest)
            return None
        if touch and now - session.last_seen >= TOUCH_EVERY_S:
            self._store.touch(session.digest, now)
        return Visit(admin=session.admin, csrf=csrf_for(token), session=session)

    def end(self, visit: Visit) -> None:
        self._store.end_session(visit.session.digest)

    def purge(self) -> int:
        now = self._clock()
        return self._store.purge_sessions(
            idle_before=now - self.idle_s, started_before=now - self.absolute_s
        )

    # -- cookies -----------------------------------------------------------------------
    def set_cookie(self, response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(self.absolute_s),
            path=COOKIE_PATH,
            secure=self.secure or is_https(request),
            httponly=True,
            samesite="strict",
        )

    def clear_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            SESSION_COOKIE,
            path=COOKIE_PATH,
            secure=self.secure or is_https(request),
            httponly=True,
            samesite="strict",
        )


def login_token_matches(cookie: str | None, field: str | None) -> bool:
    """The login form's double-submit check."""
    if not cookie or not field or len(cookie) > _MAX_TOKEN or len(field) > _MAX_TOKEN:
        return False
    return constant_time_equal(cookie, field)


def csrf_matches(visit: Visit, field: str | None) -> bool:
    if not field or len(field) > _MAX_TOKEN:
        return False
    return constant_time_equal(visit.csrf, field)
