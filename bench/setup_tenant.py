"""Build a benchmark tenant in a data directory: one API, a trusted client, N users."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from passgate.settings import Settings
from passgate.storage.applications import Applications
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.setup import open_database
from passgate.storage.tenant import TenantStore
from passgate.support.passwords import PasswordHasher

PASSWORD = "correct horse battery staple"
AUDIENCE = "https://api.bench.local/"


@dataclass
class Tenant:
    data_dir: Path
    client_id: str
    client_secret: str
    users: list[str]

    def login_bodies(self) -> list[str]:
        """A password-grant form body per user, for ``/oauth/token``."""
        return [
            urlencode(
                {
                    "grant_type": "password",
                    "username": user,
                    "password": PASSWORD,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "audience": AUDIENCE,
                }
            )
            for user in self.users
        ]

    def floor_bodies(self) -> list[str]:
        """A form body per user for ``bare_app.py``'s ``/floor/token``."""
        return [urlencode({"username": user, "password": PASSWORD}) for user in self.users]


def build(data_dir: Path, *, users: int) -> Tenant:
    settings = Settings(data_dir=data_dir)
    engine = open_database(settings)
    key = TenantStore(engine).digest_key()
    apps = Applications(engine, key)
    apps.create_api(identifier=AUDIENCE, scopes=["read:bench"])
    client, secret = apps.create_client(
        name="bench",
        app_type="regular_web",
        auth_method="client_secret_post",
        grant_types=["password"],
        trusted=True,
    )
    assert secret is not None
    directory = Directory(engine)
    password_hash = PasswordHasher().hash(PASSWORD)  # production parameters
    emails = []
    for n in range(users):
        email = f"user{n}@bench.local"
        directory.create_user(
            connection=DEFAULT_CONNECTION, email=email, password_hash=password_hash
        )
        emails.append(email)
    engine.dispose()
    return Tenant(data_dir=data_dir, client_id=client.client_id, client_secret=secret, users=emails)
