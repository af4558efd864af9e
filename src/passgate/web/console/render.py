"""The console's pages: Jinja2 templates (every value escaped), the vendored assets, and
the headers every answer carries.

No page runs inline script or style: the Content-Security-Policy allows only the
console's own files under ``/admin/static/``. Every page is ``no-store``, cannot be framed,
and sends no referrer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from passgate.web.console.nav import NavItem
from passgate.web.responses import NO_STORE

__all__ = ["PAGE_HEADERS", "STATIC_FILES", "Renderer", "static_file", "when"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS: Mapping[str, str] = {
    **NO_STORE,
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: The vendored assets, by name: their media type.
STATIC_FILES: Mapping[str, str] = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}


def when(moment: float | None, precision: str = "second") -> Markup:
    """A ``<time>`` in UTC; the console's script shows it in the browser's time zone.

    ``precision`` ``"minute"`` leaves the seconds out (an hour of the dashboard)."""
    if moment is None:
        return Markup("<span class=muted>never</span>")
    stamp = datetime.fromtimestamp(moment, UTC)
    iso = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if precision == "minute":
        shown = stamp.strftime("%Y-%m-%d %H:%M UTC")
        return Markup('<time datetime="{}" data-precision="minute">{}</time>').format(iso, shown)
    shown = stamp.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}">{}</time>').format(iso, shown)


def _iso_when(text: str | None, precision: str = "second") -> Markup:
    """:func:`when` for an ISO 8601 text (what the Management API's shapes hold)."""
    if not text:
        return when(None)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return Markup("{}").format(text)
    return when(moment.timestamp(), precision)


def static_file(name: str) -> tuple[bytes, str] | None:
    """The asset ``name`` and its media type, None for any other name."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return None
    data = files("passgate.web.console").joinpath("static", name).read_bytes()
    return data, media_type


class Renderer:
    """Renders a template inside the console's layout."""

    def __init__(self, nav: Sequence[NavItem]) -> None:
        self._nav = nav
        self._env = Environment(
            loader=PackageLoader("passgate.web.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals.update(when=when, iso_when=_iso_when)

    def html(self, template: str, context: Mapping[str, Any]) -> str:
        return self._env.get_template(template).render({"nav": self._nav, **context})

    def page(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        body = self.html(template, {"path": request.url.path, **context})
        return HTMLResponse(
            body, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})}
        )


def text(value: object) -> Markup:
    """``value`` escaped (for Python code that assembles markup)."""
    return escape(str(value))
