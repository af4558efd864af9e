"""A Django authentication backend that logs users in through passgate.

``settings.py``::

    AUTHENTICATION_BACKENDS = ["passgate_client.django.PassgateBackend"]
    PASSGATE = {
        "BASE_URL": "https://auth.example.com/",
        "CLIENT_ID": "...",
        "CLIENT_SECRET": "...",                # from the environment, not the repository
        "TRUSTED_PROXIES": ["10.0.0.0/8"],     # the app's own reverse proxies
        # optional: "REALM", "AUDIENCE", "SCOPE", "ALLOW_PRIVATE", "HEADER"
    }

``django.contrib.auth.authenticate(request, username=…, password=…)`` then forwards the end
user's IP, returns the local user whose username is passgate's ``sub`` (created on first
login), and leaves the tokens in ``request.passgate_tokens``. A refusal leaves the error in
``request.passgate_error`` (show ``request.passgate_error.user_message``): wrong
credentials return None as backends do; the others (blocked, throttled, breached…) raise
``PermissionDenied`` so no later backend is tried.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured, PermissionDenied

from passgate_client._client import PassgateClient
from passgate_client._end_user_ip import end_user_ip
from passgate_client._errors import InvalidCredentials, PassgateError

__all__ = ["PassgateBackend", "client"]

_clients: dict[tuple[str, str, str], PassgateClient] = {}
_lock = threading.Lock()


def _config() -> dict[str, Any]:
    config = getattr(settings, "PASSGATE", None)
    if not isinstance(config, dict) or not all(
        isinstance(config.get(key), str) for key in ("BASE_URL", "CLIENT_ID", "CLIENT_SECRET")
    ):
        raise ImproperlyConfigured("settings.PASSGATE needs BASE_URL, CLIENT_ID and CLIENT_SECRET")
    return config


def client() -> PassgateClient:
    """The :class:`~passgate_client.PassgateClient` of ``settings.PASSGATE`` (one per
    process and configuration)."""
    config = _config()
    key = (config["BASE_URL"], config["CLIENT_ID"], config["CLIENT_SECRET"])
    with _lock:
        if key not in _clients:
            _clients[key] = PassgateClient(*key)
        return _clients[key]


class PassgateBackend(ModelBackend):  # type: ignore[misc]  # Django ships no types
    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None or username is None or password is None:
            return None
        config = _config()
        passgate = client()
        ip = end_user_ip(
            request,
            config.get("TRUSTED_PROXIES", ()),
            allow_private=bool(config.get("ALLOW_PRIVATE", False)),
            header=config.get("HEADER", "x-forwarded-for"),
        )
        try:
            tokens = passgate.login(
                username,
                password,
                end_user_ip=ip,
                realm=config.get("REALM"),
                audience=config.get("AUDIENCE"),
                scope=config.get("SCOPE", "openid profile email"),
            )
            claims = passgate.userinfo(tokens.access_token)
        except InvalidCredentials as exc:
            request.passgate_error = exc
            return None
        except PassgateError as exc:
            request.passgate_error = exc
            raise PermissionDenied(exc.user_message) from exc
        model = get_user_model()
        user, _ = model._default_manager.get_or_create(
            **{model.USERNAME_FIELD: claims["sub"]},
            defaults={"email": claims.get("email", "")} if hasattr(model, "email") else {},
        )
        if not self.user_can_authenticate(user):
            return None
        request.passgate_tokens = tokens
        return user
