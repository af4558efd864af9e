"""Small server-rendered pages (password reset, unblock): escaped, no external assets,
never cached, no referrer, a strict Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape
from importlib.resources import files
from string import Template

from starlette.responses import HTMLResponse

from passgate.web.responses import NO_STORE

__all__ = ["PAGE_HEADERS", "message_page", "page", "template"]


def template(name: str) -> Template:
    return Template(files("passgate.web").joinpath("templates", name).read_text("utf-8"))


_PAGE = template("page.html")
_STYLE = re.search(r"<style>(.*?)</style>", _PAGE.template, re.DOTALL)
_STYLE_HASH = base64.b64encode(
    hashlib.sha256(_STYLE.group(1).encode() if _STYLE else b"").digest()
).decode()
PAGE_HEADERS = {
    **NO_STORE,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def page(title: str, content: str, status_code: int = 200) -> HTMLResponse:
    """A page around ``content`` (HTML the caller has escaped)."""
    body = _PAGE.substitute(title=escape(title), content=content)
    return HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)


def message_page(title: str, message: str, status_code: int) -> HTMLResponse:
    return page(title, f"<p>{escape(message)}</p>", status_code)
