"""``/admin/applications``: clients (list, create with the secret shown once, rotate the
secret, grant types, delete), their client grants, and the ``auth0-forwarded-for`` trust
toggle beside the client's forwarding health. Each change is the Management API's body
for ``management.clients`` / ``management.client_grants`` (their checks, their refusals)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.login import RequestContext
from passgate.domain.models import GRANT_TYPES, Client
from passgate.management.client_grants import ClientGrantQuery, NewClientGrant
from passgate.management.clients import ClientChange, NewClient
from passgate.management.forwarding import forwarding_health
from passgate.web.console.console import Console, Done
from passgate.web.console.forms import Form
from passgate.web.console.session import Visit

__all__ = ["applications_routes"]

_PATH = "/admin/applications"
APP_TYPES = ("regular_web", "non_interactive", "native", "spa")
AUTH_METHODS = ("client_secret_post", "client_secret_basic", "none")


def _href(client_id: str) -> str:
    return f"{_PATH}/{quote(client_id, safe='')}"


def applications_routes(console: Console) -> list[Route]:
    services = console.services
    clients = services.applications.clients
    grants = services.client_grants
    apis = services.applications.resource_servers

    def secret_page(
        request: Request, visit: Visit, client: Client, secret: str, what: str
    ) -> Response:
        context = {
            "title": "Client secret",
            "current": "applications",
            "client": client,
            "secret": secret,
            "what": what,
        }
        return console.render(request, visit, "application_secret.html", context)

    async def listing(request: Request, visit: Visit) -> Response:
        found = await console.run_io(clients.all)
        context = {
            "title": "Applications",
            "current": "applications",
            "clients": found,
            "grant_types": GRANT_TYPES,
            "app_types": APP_TYPES,
            "auth_methods": AUTH_METHODS,
            "done": request.query_params.get("done", ""),
        }
        return console.render(request, visit, "applications.html", context)

    async def detail(request: Request, visit: Visit) -> Response:
        client_id = request.path_params["client_id"]

        def read() -> dict[str, Any]:
            client = clients.get(client_id)
            listed = grants.list_grants(ClientGrantQuery.from_query([("client_id", client_id)]))
            return {
                "client": client,
                "grants": listed if isinstance(listed, list) else listed["client_grants"],
                "apis": apis.all(),
                "health": forwarding_health(services.logs, client_id, console.clock),
            }

        found = await console.run_io(read)
        context = {
            "title": found["client"].name,
            "current": "applications",
            **found,
            "grant_types": GRANT_TYPES,
            "href": _href(client_id),
            "done": request.query_params.get("done", ""),
        }
        return console.render(request, visit, "application.html", context)

    async def create(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        body: dict[str, Any] = {
            "name": form.text("name", max_length=1000),
            "app_type": form.text("app_type", max_length=40) or "regular_web",
            "token_endpoint_auth_method": form.text("auth_method", max_length=40) or None,
            "grant_types": form.many("grant_types"),
            "is_token_endpoint_ip_header_trusted": form.flag("trusted"),
        }
        if body["token_endpoint_auth_method"] is None:
            del body["token_endpoint_auth_method"]
        client, secret = await console.run_io(clients.create, NewClient.from_body(body))
        changes = {**body, "client_id": client.client_id}
        if secret is None:
            return Done(
                changes=changes, redirect=_href(client.client_id) + "?done=created", status=201
            )
        page = secret_page(request, visit, client, secret, "created")
        return Done(changes=changes, response=page, status=201)

    def client_of(request: Request) -> str:
        return str(request.path_params["client_id"])

    async def settings(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        client_id = client_of(request)
        body = {"name": form.text("name", max_length=1000), "grant_types": form.many("grant_types")}
        change = ClientChange.from_body(body)
        await console.run_io(clients.update, client_id, change)
        return Done(
            changes={"client_id": client_id, **body}, redirect=_href(client_id) + "?done=saved"
        )

    async def trust(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        client_id = client_of(request)
        trusted = form.text("trusted", max_length=5) == "on"
        change = ClientChange.from_body({"is_token_endpoint_ip_header_trusted": trusted})
        await console.run_io(clients.update, client_id, change)
        changes = {"client_id": client_id, "is_token_endpoint_ip_header_trusted": trusted}
        return Done(changes=changes, redirect=_href(client_id) + "?done=trust")

    async def rotate(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        client, secret = await console.run_io(clients.rotate_secret, client_of(request))
        page = secret_page(request, visit, client, secret, "rotated")
        return Done(
            changes={"client_id": client.client_id, "client_secret": "(rotated)"}, response=page
        )

    async def delete(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
        client = await console.run_io(clients.delete, client_of(request))
        return Done(
            changes={"client_id": client.client_id, "deleted": True},
            redirect=_PATH + "?done=deleted",
        )

    async def add_grant(
        request: Request, visit: Visit, form: Form, context: RequestContext
    ) -> Done:
        client_id = client_of(request)
        scope = form.text("scope", max_length=10_000).replace(",", " ").split()
        body = {
            "client_id": client_id,
            "audience": form.text("audience", max_length=600),
            "scope": scope,
        }
        made = await console.run_io(grants.create, NewClientGrant.from_body(body))
        return Done(changes=made, redirect=_href(client_id) + "?done=grant", status=201)

    async def remove_grant(
        request: Request, visit: Visit, form: Form, context: RequestContext
    ) -> Done:
        client_id = client_of(request)
        grant_id = str(request.path_params["grant_id"])
        await console.run_io(grants.delete, grant_id)
        return Done(
            changes={"id": grant_id, "deleted": True}, redirect=_href(client_id) + "?done=ungrant"
        )

    one = _PATH + "/{client_id}"
    return [
        console.page(_PATH, listing),
        console.page(one, detail),
        console.action(_PATH + "/create", create, summary="Create a client", back=_PATH),
        console.action(one + "/settings", settings, summary="Update a client", back=_PATH),
        console.action(
            one + "/trust", trust, summary="Update a client's IP header trust", back=_PATH
        ),
        console.action(one + "/rotate", rotate, summary="Rotate a client secret", back=_PATH),
        console.action(one + "/delete", delete, summary="Delete a client", back=_PATH),
        console.action(one + "/grants", add_grant, summary="Create client grant", back=_PATH),
        console.action(
            one + "/grants/{grant_id}/delete",
            remove_grant,
            summary="Delete client grant",
            back=_PATH,
        ),
    ]
