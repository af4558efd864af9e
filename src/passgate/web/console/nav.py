"""The console's navigation: one entry per page, in the order shown.

A new page adds its :class:`NavItem` here and its routes to ``routes.PAGES``.
"""

from __future__ import annotations

import dataclasses

__all__ = ["NAV", "NavItem"]


@dataclasses.dataclass(frozen=True, slots=True)
class NavItem:
    #: What pages name the entry by (``current`` in a template).
    key: str
    label: str
    href: str


NAV: list[NavItem] = [
    NavItem("dashboard", "Dashboard", "/admin"),
    NavItem("logs", "Logs", "/admin/logs"),
    NavItem("blocks", "Blocks", "/admin/blocks"),
    NavItem("protection", "Attack protection", "/admin/attack-protection"),
    NavItem("applications", "Applications", "/admin/applications"),
    NavItem("users", "Users", "/admin/users"),
    NavItem("connections", "Connections", "/admin/connections"),
    NavItem("apis", "APIs", "/admin/apis"),
    NavItem("keys", "Signing keys", "/admin/keys"),
    NavItem("check", "Settings check", "/admin/settings-check"),
]
