"""``/admin/apis`` (resource servers: list, create, delete), ``/admin/keys`` (signing
keys: rotate, revoke a previous one) and ``/admin/settings-check`` (what ``passgate
doctor`` reports), through the Management API's services."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.login import RequestContext
from passgate.errors import BadRequest
from passgate.management.resource_servers import NewResourceServer
from passgate.web.console.console import Console, Done
from passgate.web.console.forms import Form
from passgate.web.console.session import Visit

__all__ = ["tenant_routes"]


def tenant_routes(console: Console) -> list[Route]:
    services = console.services
    apis = services.applications.resource_servers
    keys = services.tenant.signing_keys

    async def apis_page(request: Request, visit: Visit) -> Response:
        found = await console.run_io(apis.all)
        context = {"title": "APIs", "current": "apis", "apis": found}
        return console.render(request, visit, "apis.html", context)

    async def create_api(
        request: Request, visit: Visit, form: Form, context: RequestContext
    ) -> Done:
        lifetime = form.text("token_lifetime", max_length=12) or "86400"
        if not lifetime.isdigit():
            raise_bad("token_lifetime", lifetime)
        body: dict[str, Any] = {
            "identifier": form.text("identifier", max_length=1000),
            "name": form.text("name", max_length=1000) or None,
            "scopes": [
                {"value": scope} for scope in form.text("scopes", max_length=10_000).split()
            ],
            "token_lifetime": int(lifetime),
            "allow_offline_access": form.flag("allow_offline_access"),
        }
        if body["name"] is None:
            del body["name"]
        made = await console.run_io(apis.create, NewResourceServer.from_body(body))
        return Done(
            changes={"id": made.id, **body}, redirect="/admin/apis?done=created", status=201
        )

    async def delete_api(
        request: Request, visit: Visit, form: Form, context: RequestContext
    ) -> Done:
        api_id = str(request.path_params["api_id"])
        gone = await console.run_io(apis.delete, api_id)
        changes = {"id": gone.id, "identifier": gone.identifier, "deleted": True}
        return Done(changes=changes, redirect="/admin/apis?done=deleted")

    async def keys_page(request: Request, visit: Visit) -> Response:
        found = await console.run_io(keys.list_keys)
        context = {
            "title": "Signing keys",
            "current": "keys",
            "keys": found,
            "done": request.query_params.get("done", ""),
        }
        return console.render(request, visit, "keys.html", context)

    async def rotate(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        _, kids = await console.run_io(keys.rotate)
        return Done(changes={"rotated": kids}, redirect="/admin/keys?done=rotated", status=201)

    async def revoke(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        kid = str(request.path_params["kid"])
        await console.run_io(keys.revoke, kid)
        return Done(changes={"kid": kid, "revoked": True}, redirect="/admin/keys?done=revoked")

    async def check_page(request: Request, visit: Visit) -> Response:
        report = await console.run_io(services.doctor.report, None)
        context = {"title": "Settings check", "current": "check", "findings": report["findings"]}
        return console.render(request, visit, "check.html", context)

    return [
        console.page("/admin/apis", apis_page),
        console.action(
            "/admin/apis/create", create_api, summary="Create a resource server", back="/admin/apis"
        ),
        console.action(
            "/admin/apis/{api_id}/delete",
            delete_api,
            summary="Delete a resource server",
            back="/admin/apis",
        ),
        console.page("/admin/keys", keys_page),
        console.action(
            "/admin/keys/rotate", rotate, summary="Rotate the signing keys", back="/admin/keys"
        ),
        console.action(
            "/admin/keys/{kid}/revoke", revoke, summary="Revoke a signing key", back="/admin/keys"
        ),
        console.page("/admin/settings-check", check_page),
    ]


def raise_bad(name: str, value: str) -> None:
    raise BadRequest(f"{name}: a whole number of seconds is expected, not {value[:20]!r}")
