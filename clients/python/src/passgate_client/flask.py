"""A Flask helper: the client from the app's config, and logins that forward the end
user's IP of the current request.

::

    app.config.update(
        PASSGATE_BASE_URL="https://auth.example.com/",
        PASSGATE_CLIENT_ID="...",
        PASSGATE_CLIENT_SECRET="...",
        PASSGATE_TRUSTED_PROXIES=["10.0.0.0/8"],  # optional: PASSGATE_ALLOW_PRIVATE
    )
    passgate = Passgate(app)

    @app.post("/login")
    def login():
        try:
            tokens = passgate.login(request.form["email"], request.form["password"])
        except PassgateError as error:
            return render_template("login.html", error=error.user_message), 400
        ...
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request

from passgate_client._client import PassgateClient
from passgate_client._end_user_ip import end_user_ip
from passgate_client._protocol import Tokens

__all__ = ["Passgate"]

_KEY = "passgate"


class Passgate:
    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        config = app.config
        app.extensions[_KEY] = PassgateClient(
            config["PASSGATE_BASE_URL"],
            config["PASSGATE_CLIENT_ID"],
            config["PASSGATE_CLIENT_SECRET"],
        )

    @property
    def client(self) -> PassgateClient:
        """The current app's client."""
        found: PassgateClient = current_app.extensions[_KEY]
        return found

    def end_user_ip(self) -> str:
        """The end user's IP of the current request (see :func:`passgate_client.end_user_ip`)."""
        config = current_app.config
        return end_user_ip(
            request,
            config.get("PASSGATE_TRUSTED_PROXIES", ()),
            allow_private=bool(config.get("PASSGATE_ALLOW_PRIVATE", False)),
            header=config.get("PASSGATE_FORWARDED_HEADER", "x-forwarded-for"),
        )

    def login(self, username: str, password: str, **options: Any) -> Tokens:
        """:meth:`PassgateClient.login` with the current request's end user IP."""
        return self.client.login(username, password, end_user_ip=self.end_user_ip(), **options)
