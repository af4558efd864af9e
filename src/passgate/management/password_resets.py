"""An administrator sends a user the password-reset email (Auth0's password-change
ticket, delivered): the same ticket, link and email as ``POST
/dbconnections/change_password`` sends, events ``scpr`` / ``fcpr``. The link names an
application that logs users in with passwords (the first one with the ``password``
grant, or the one asked for)."""

from __future__ import annotations

from passgate.accounts.model import PendingReset
from passgate.accounts.service import Accounts
from passgate.domain.login import RequestContext
from passgate.domain.models import PASSWORD_REALM, Client
from passgate.errors import BadRequest
from passgate.management.clients import ClientsService
from passgate.management.users import UsersService

__all__ = ["PasswordResets"]


class PasswordResets:
    def __init__(self, *, accounts: Accounts, users: UsersService, clients: ClientsService) -> None:
        self._accounts = accounts
        self._users = users
        self._clients = clients

    def _client(self, client_id: str | None) -> Client:
        if client_id:
            return self._clients.get(client_id)
        for client in self._clients.all():
            if {"password", PASSWORD_REALM} & set(client.grant_types):
                return client
        raise BadRequest(
            "No application logs users in with passwords: create one with the password "
            "grant first (the reset link names it)."
        )

    def send(self, user_id: str, context: RequestContext, client_id: str | None = None) -> Client:
        """Email ``user_id`` a reset link; the application the link names. Blocking."""
        user = self._users.get(user_id)
        client = self._client(client_id)
        sent = self._accounts.deliver_password_reset(
            PendingReset(user=user, client=client, context=context)
        )
        if not sent:
            raise BadRequest(
                "The email was not sent (one was sent moments ago, or the mail server refused)."
            )
        return client
