"""The example shop: a server-rendered Flask app whose users sign up, sign in, sign out,
reset their password and see their profile, all through passgate with ``passgate-client``.

What it does right:

- it is a *trusted confidential client* (``client_secret_post``), so passgate believes the
  end user's IP it forwards with each login;
- it finds that IP with ``end_user_ip(request, trusted_proxies=[…])``: the right-most
  ``X-Forwarded-For`` hop not written by its own reverse proxy, never the left-most one a
  browser could write;
- it shows each refusal's ``user_message`` (never whether an account exists) and logs the
  raw ``code``;
- tokens stay on the server (the session cookie holds a random id only); the session is
  renewed at sign-in; every form carries a CSRF token.

Configuration, from the environment: ``SHOP_PASSGATE_URL``, ``SHOP_CLIENT_ID``,
``SHOP_CLIENT_SECRET``, ``SHOP_TRUSTED_PROXIES`` (comma-separated addresses or CIDRs of the
reverse proxies in front of the app), ``SHOP_AUDIENCE`` (optional API identifier),
``SHOP_SECRET_KEY`` (signs the session cookie), ``SHOP_SECURE_COOKIES`` (``1`` behind https).

    python -m shop.app --port 5000
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from passgate_client import (
    InvalidToken,
    PassgateError,
    ServiceUnavailable,
    Tokens,
    TooManyAttempts,
    UntrustedAddress,
    end_user_ip,
)
from passgate_client.flask import Passgate

log = logging.getLogger("shop")

SCOPE = "openid profile email offline_access"
SETUP_PROBLEM = "We cannot sign you in right now. Please try again later."

Page = str | tuple[str, int] | WerkzeugResponse


@dataclass
class SignedIn:
    """What the server keeps for a signed-in browser (never sent to it)."""

    tokens: Tokens
    email: str


class SessionStore:
    """Server-side sessions in memory: enough for one demo process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, SignedIn] = {}

    def put(self, value: SignedIn) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[key] = value
        return key

    def get(self, key: str | None) -> SignedIn | None:
        with self._lock:
            return self._sessions.get(key) if key else None

    def pop(self, key: str | None) -> SignedIn | None:
        with self._lock:
            return self._sessions.pop(key, None) if key else None


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    env = os.environ
    app.config.update(
        PASSGATE_BASE_URL=env.get("SHOP_PASSGATE_URL", "http://127.0.0.1:8000/"),
        PASSGATE_CLIENT_ID=env.get("SHOP_CLIENT_ID", ""),
        PASSGATE_CLIENT_SECRET=env.get("SHOP_CLIENT_SECRET", ""),
        PASSGATE_TRUSTED_PROXIES=[
            cidr.strip() for cidr in env.get("SHOP_TRUSTED_PROXIES", "").split(",") if cidr.strip()
        ],
        SHOP_AUDIENCE=env.get("SHOP_AUDIENCE") or None,
        SECRET_KEY=env.get("SHOP_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=env.get("SHOP_SECURE_COOKIES") == "1",
        SESSION_COOKIE_NAME="shop_session",
    )
    app.config.update(config or {})
    passgate = Passgate(app)
    store = SessionStore()

    def client_ip() -> str:
        """The end user's IP: what our own reverse proxy appended to X-Forwarded-For."""
        return end_user_ip(request, trusted_proxies=app.config["PASSGATE_TRUSTED_PROXIES"])

    def signed_in() -> SignedIn | None:
        return store.get(session.get("sid"))

    def csrf_token() -> str:
        token = session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            session["csrf"] = token
        return token

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "user": signed_in()}

    @app.before_request
    def _check_csrf() -> None:
        if request.method == "POST":
            expected = session.get("csrf")
            sent = request.form.get("csrf_token", "")
            if not isinstance(expected, str) or not hmac.compare_digest(
                expected.encode(), sent.encode()
            ):
                abort(400, "The form expired. Go back, reload the page and try again.")

    @app.after_request
    def _security_headers(response: WerkzeugResponse) -> WerkzeugResponse:
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def refused(template: str, error: PassgateError, **context: Any) -> tuple[str, int]:
        log.info("passgate refused (%s): %s", error.code, error.description)
        if isinstance(error, TooManyAttempts):
            status = 429
        elif isinstance(error, ServiceUnavailable):
            status = 503
        else:
            status = 400
        return render_template(template, error=error.user_message, **context), status

    def start_session(tokens: Tokens, email: str) -> None:
        old = store.pop(session.get("sid"))
        if old is not None and old.tokens.refresh_token:
            _quietly_revoke(passgate, old.tokens.refresh_token)
        session.clear()  # a new session id and CSRF token at sign-in
        session["sid"] = store.put(SignedIn(tokens, email))

    def login(email: str, password: str) -> Tokens:
        return passgate.client.login(
            email,
            password,
            end_user_ip=client_ip(),
            audience=app.config["SHOP_AUDIENCE"],
            scope=SCOPE,
        )

    @app.get("/")
    def home() -> Page:
        return render_template("home.html")

    @app.route("/signup", methods=["GET", "POST"])
    def signup() -> Page:
        if request.method == "GET":
            return render_template("signup.html")
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        if not email or not password:
            return render_template(
                "signup.html", email=email, error="Enter an email and a password."
            ), 400
        try:
            passgate.client.signup(email, password)
            tokens = login(email, password)
        except PassgateError as error:
            return refused("signup.html", error, email=email)
        except UntrustedAddress as error:
            log.error("cannot vouch for the end user's IP: %s", error)
            return render_template("signup.html", email=email, error=SETUP_PROBLEM), 500
        start_session(tokens, email)
        return redirect(url_for("profile"))

    @app.route("/login", methods=["GET", "POST"])
    def login_page() -> Page:
        if request.method == "GET":
            return render_template("login.html")
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        if not email or not password:
            return render_template(
                "login.html", email=email, error="Enter your email and password."
            ), 400
        try:
            tokens = login(email, password)
        except PassgateError as error:
            return refused("login.html", error, email=email)
        except UntrustedAddress as error:
            log.error("cannot vouch for the end user's IP: %s", error)
            return render_template("login.html", email=email, error=SETUP_PROBLEM), 500
        start_session(tokens, email)
        return redirect(url_for("profile"))

    @app.post("/logout")
    def logout() -> Page:
        old = store.pop(session.get("sid"))
        session.clear()
        if old is not None and old.tokens.refresh_token:
            _quietly_revoke(passgate, old.tokens.refresh_token)
        return render_template("message.html", title="Signed out", message="You are signed out.")

    @app.route("/forgot", methods=["GET", "POST"])
    def forgot() -> Page:
        if request.method == "GET":
            return render_template("forgot.html")
        email = request.form.get("email", "").strip()
        if not email:
            return render_template("forgot.html", error="Enter your email."), 400
        try:
            passgate.client.change_password(email)
        except PassgateError as error:
            return refused("forgot.html", error, email=email)
        return render_template(
            "message.html",
            title="Check your email",
            message="If an account exists for this email, we have sent it a link to choose "
            "a new password.",
        )

    @app.get("/profile")
    def profile() -> Page:
        current = signed_in()
        if current is None:
            return redirect(url_for("login_page"))
        try:
            try:
                claims = passgate.client.userinfo(current.tokens.access_token)
            except InvalidToken:
                if not current.tokens.refresh_token:
                    raise
                current.tokens = passgate.client.refresh(
                    current.tokens.refresh_token, end_user_ip=client_ip()
                )
                claims = passgate.client.userinfo(current.tokens.access_token)
        except InvalidToken as error:
            store.pop(session.get("sid"))
            session.clear()
            return refused("login.html", error)
        except PassgateError as error:
            return refused("message.html", error, title="Profile")
        return render_template("profile.html", claims=claims)

    @app.errorhandler(400)
    def _bad_request(error: Any) -> Page:
        return render_template("message.html", title="Bad request", message=error.description), 400

    return app


def _quietly_revoke(passgate: Passgate, refresh_token: str) -> None:
    try:
        passgate.client.revoke(refresh_token)
    except PassgateError as error:
        log.warning("could not revoke a refresh token (%s)", error.code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The example shop (Flask).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app()
    app.run(options.host, options.port, threaded=True)


if __name__ == "__main__":
    main()
