"""``passgate issuer show|set``: the tenant's issuer, kept in the database."""

from __future__ import annotations

import click

from passgate.cli.support import emit, json_option, open_stores
from passgate.keys.issuer import ISSUER_KEY, canonical_issuer

__all__ = ["issuer"]


@click.group()
def issuer() -> None:
    """The issuer (the `iss` of every token), the same on every instance.

    The first `passgate serve` fixes it, from PASSGATE_ISSUER or else from the address it
    serves on; a later start with another PASSGATE_ISSUER is refused.
    """


@issuer.command("show")
@json_option
def show(as_json: bool) -> None:
    """Show the issuer (none before the first start)."""
    with open_stores() as stores:
        value = stores.tenant.get(ISSUER_KEY)
    emit(
        as_json,
        {"issuer": value},
        value
        or "no issuer yet: the first `passgate serve` fixes it "
        "(from PASSGATE_ISSUER, or else the address it serves on)",
    )


@issuer.command("set")
@click.argument("url")
@json_option
def set_issuer(url: str, as_json: bool) -> None:
    """Change the issuer to URL (http or https; a trailing slash is added).

    The Management API's identifier (its audience) follows: URL then `api/v2/`; its
    client grants stay. Restart every instance afterwards: running ones publish the issuer
    they started with. Tokens already issued keep the old `iss` (and Management API
    tokens the old audience), so relying parties that check it must accept the new one
    first.
    """
    try:
        value = canonical_issuer(url)
    except ValueError as exc:
        raise click.ClickException(f"not an issuer URL: {exc}") from None
    with open_stores() as stores:
        previous = stores.tenant.get(ISSUER_KEY)
        # First, as it may be refused: another API could hold the identifier to take.
        management_api = stores.applications.ensure_management_api(value)
        stores.tenant.set(ISSUER_KEY, value)
        configured = stores.settings.issuer
    note = ""
    if configured is not None and configured.rstrip("/") != value.rstrip("/"):
        note = (
            f"\nPASSGATE_ISSUER here is still {configured}: change it on every instance too, "
            f"or they will refuse to start"
        )
    emit(
        as_json,
        {
            "issuer": value,
            "previous": previous,
            "management_api_identifier": management_api.identifier,
        },
        f"issuer: {value} (was {previous or 'not set'}); restart every instance to publish it"
        f"\nManagement API (audience): {management_api.identifier}" + note,
    )
