"""passgate: an OAuth 2.0 / OpenID Connect token service for the password grant, with
attack protection that sees the end user's IP."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
