"""A console client for in-process tests: logs in through the form as a browser does,
keeps the cookies, and reads the CSRF token off each page."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from passgate.domain.admins import Admin
from passgate.storage.admins import AdminStore
from tests.protection_e2e.helpers import APP_SERVER_IP, BASE_URL, Stack

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "the console's long passphrase 7"
VIEWER_EMAIL = "viewer@example.com"
VIEWER_PASSWORD = "the viewer's long passphrase 8"
#: Where administrators connect from (the TCP peer), unless a test says otherwise.
ADMIN_IP = "192.0.2.50"

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def add_admin(stack: Stack, email: str, password: str, role: str = "admin") -> Admin:
    passgate = stack.passgate
    store = AdminStore(passgate.engine, passgate.tenant.digest_key())
    return store.create(
        email=email,
        role="viewer" if role == "viewer" else "admin",
        password_hash=passgate.hasher.hash(password),
        now=stack.clock(),
    )


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


@dataclasses.dataclass
class Browser:
    """An httpx client with a cookie jar, as one browser."""

    http: httpx.AsyncClient

    async def login_page(self, path: str = "/admin/login") -> tuple[httpx.Response, str]:
        page = await self.http.get(path)
        found = _LOGIN_TOKEN.search(page.text)
        assert found is not None, page.text
        return page, found.group(1)

    async def login(self, email: str, password: str, **extra: str) -> httpx.Response:
        _, token = await self.login_page()
        form = {"email": email, "password": password, "login_token": token, **extra}
        return await self.http.post("/admin/login", data=form)

    async def csrf(self, path: str = "/admin") -> str:
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

    async def post(
        self, path: str, data: dict[str, Any], *, csrf: str | None = None
    ) -> httpx.Response:
        token = csrf if csrf is not None else await self.csrf()
        return await self.http.post(path, data={"csrf": token, **data})


def browser(stack: Stack, peer: str = ADMIN_IP, *, https: bool = True) -> Browser:
    """A browser at the stack (its public URL is https, so its cookies are Secure: they
    are sent over https only)."""
    base = BASE_URL.replace("http://", "https://") if https else BASE_URL
    return Browser(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stack.app, client=(peer, 4321)),
            base_url=base,
            follow_redirects=False,
        )
    )


__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_IP",
    "ADMIN_PASSWORD",
    "APP_SERVER_IP",
    "VIEWER_EMAIL",
    "VIEWER_PASSWORD",
    "Browser",
    "add_admin",
    "browser",
    "csrf_of",
]


@contextlib.asynccontextmanager
async def logged_in_admin(stack: Stack) -> AsyncIterator[Browser]:
    """A browser logged in as the stack's administrator."""
    client = browser(stack)
    async with client.http:
        assert (await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
        yield client
