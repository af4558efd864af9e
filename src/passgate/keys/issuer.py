"""The tenant's issuer: the ``iss`` of every token, the same on every instance.

It is tenant data, kept in the database: the first start fixes it, from
``PASSGATE_ISSUER`` or else from the address that first start serves on. A later start
with another ``PASSGATE_ISSUER`` is refused rather than silently publishing a second
issuer; ``passgate issuer set URL`` changes it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from passgate.errors import ConfigurationError
from passgate.storage.tenant import TenantStore

__all__ = ["ISSUER_KEY", "MAX_ISSUER_LENGTH", "canonical_issuer", "tenant_issuer"]

#: The tenant setting that holds the issuer.
ISSUER_KEY = "issuer"
MAX_ISSUER_LENGTH = 1000
_EXAMPLE = "such as https://auth.example.com/"


def canonical_issuer(url: str) -> str:
    """``url`` as an issuer, ending with ``/``. Raises ValueError, saying what is wrong,
    unless it is an http(s) URL with a host and nothing after the path."""
    if not url:
        raise ValueError(f"expected an http(s) URL, {_EXAMPLE}")
    if len(url) > MAX_ISSUER_LENGTH:
        raise ValueError(f"at most {MAX_ISSUER_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise ValueError(
            "expected ASCII without spaces or control characters "
            "(an international host name in its xn-- form)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not url.startswith(parts.scheme + "://"):
        raise ValueError(f"expected an http:// or https:// URL, {_EXAMPLE}")
    if not parts.hostname:
        raise ValueError(f"expected a host, {_EXAMPLE}")
    if "@" in parts.netloc:
        raise ValueError("expected no user name or password in the URL")
    if "?" in url or "#" in url:
        raise ValueError("expected no query or fragment")
    try:
        parts.port  # noqa: B018 (parses the port)
    except ValueError:
        raise ValueError("expected a port between 0 and 65535") from None
    return url if url.endswith("/") else url + "/"


def tenant_issuer(
    tenant: TenantStore, *, configured: str | None, first_address: str
) -> tuple[str, bool]:
    """The tenant's issuer, and whether this call fixed it. The first call fixes it to
    ``configured`` (``PASSGATE_ISSUER``) or else ``first_address``; once fixed, a different
    ``configured`` raises :class:`ConfigurationError` naming the command that changes it.
    Several instances starting at once agree on one (the first write wins)."""
    wanted = None
    if configured is not None:
        try:
            wanted = canonical_issuer(configured)
        except ValueError as exc:
            raise ConfigurationError(f"PASSGATE_ISSUER: {exc}") from None
    stored = tenant.get(ISSUER_KEY)
    fixed_now = False
    if stored is None:
        candidate = wanted or canonical_issuer(first_address)
        stored = tenant.set_default(ISSUER_KEY, candidate)
        fixed_now = stored == candidate
    issuer = str(stored)
    if wanted is not None and wanted != issuer:
        raise ConfigurationError(
            f"PASSGATE_ISSUER is {wanted} but this tenant's issuer is {issuer} (fixed at "
            f"its first start, kept in the database): to change it, run "
            f"`passgate issuer set {wanted}` and restart every instance; or unset "
            f"PASSGATE_ISSUER"
        )
    return issuer, fixed_now
