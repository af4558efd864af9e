"""Fixtures of the kit's tests: Django configured once per process (its settings are
global), for the tests that use real Django requests and the authentication backend."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_configured() -> None:
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            ALLOWED_HOSTS=["*"],
            USE_TZ=True,
            SECRET_KEY="kit tests only",
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            AUTHENTICATION_BACKENDS=["passgate_client.django.PassgateBackend"],
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        )
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
