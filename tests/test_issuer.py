"""The issuer is tenant data: fixed at the first start, the same for every instance,
changed only by ``passgate issuer set``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from passgate.app import Passgate
from passgate.errors import ConfigurationError
from passgate.keys.issuer import ISSUER_KEY, MAX_ISSUER_LENGTH, canonical_issuer, tenant_issuer
from passgate.storage.db import make_engine
from passgate.storage.tenant import TenantStore
from tests.support import Cli, cheap_settings

FIRST_ADDRESS = "http://127.0.0.1:8000/"


@pytest.mark.parametrize(
    ("url", "issuer"),
    [
        ("https://auth.example.com", "https://auth.example.com/"),
        ("https://auth.example.com/", "https://auth.example.com/"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
        ("http://[::1]:8000/", "http://[::1]:8000/"),
        ("https://example.com/tenants/acme", "https://example.com/tenants/acme/"),
        ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
        ("https://Auth.Example.com/", "https://Auth.Example.com/"),  # kept as written
    ],
)
def test_an_issuer_is_an_http_url_ending_with_a_slash(url: str, issuer: str) -> None:
    assert canonical_issuer(url) == issuer


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "expected an http(s) URL"),
        ("not-a-url", "http:// or https://"),
        ("auth.example.com", "http:// or https://"),
        ("ftp://auth.example.com/", "http:// or https://"),
        ("HTTPS://auth.example.com/", "http:// or https://"),
        ("https:auth.example.com", "http:// or https://"),
        ("https://", "a host"),
        ("https:///path", "a host"),
        ("https://:443/", "a host"),
        ("https://user:pw@auth.example.com/", "no user name or password"),
        ("https://auth.example.com/?tenant=a", "no query or fragment"),
        ("https://auth.example.com/#top", "no query or fragment"),
        ("https://auth.example.com:99999/", "a port between"),
        ("https://auth.example.com:port/", "a port between"),
        (" https://auth.example.com/", "without spaces"),
        ("https://auth.example.com/\n", "without spaces"),
        ("https://auth.example.com/\x00", "without spaces"),
        ("https://bücher.example/", "ASCII"),
        ("https://auth.example.com/\u00a0", "ASCII"),
        ("https://a.example/" + "x" * MAX_ISSUER_LENGTH, f"at most {MAX_ISSUER_LENGTH}"),
    ],
)
def test_what_is_not_an_issuer_is_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"expected|at most") as raised:
        canonical_issuer(url)
    assert says in str(raised.value)


@pytest.fixture
def tenant(sql_url: str) -> Iterator[TenantStore]:
    engine = make_engine(sql_url)
    yield TenantStore(engine)
    engine.dispose()


def test_the_first_start_fixes_the_issuer_and_later_ones_keep_it(tenant: TenantStore) -> None:
    assert tenant_issuer(tenant, configured=None, first_address=FIRST_ADDRESS) == (
        FIRST_ADDRESS,
        True,
    )
    # Another instance, on another address, publishes the same issuer.
    assert tenant_issuer(tenant, configured=None, first_address="http://10.0.0.2:9000/") == (
        FIRST_ADDRESS,
        False,
    )
    assert tenant_issuer(tenant, configured="http://127.0.0.1:8000", first_address="x") == (
        FIRST_ADDRESS,
        False,
    )


@pytest.mark.parametrize(
    "other",
    [
        "https://auth.example.com/",
        "http://127.0.0.1:8001/",
        "https://127.0.0.1:8000/",
        "http://127.0.0.1:8000//",
        "http://localhost:8000/",
    ],
)
def test_a_start_with_another_issuer_is_refused_and_changes_nothing(
    tenant: TenantStore, other: str
) -> None:
    tenant_issuer(tenant, configured="http://127.0.0.1:8000", first_address="x")
    with pytest.raises(ConfigurationError) as raised:
        tenant_issuer(tenant, configured=other, first_address="x")
    message = str(raised.value)
    assert message.startswith(f"PASSGATE_ISSUER is {other} but this tenant's issuer is ")
    assert f"`passgate issuer set {other}`" in message
    assert "\n" not in message
    assert tenant.get(ISSUER_KEY) == FIRST_ADDRESS


def test_a_malformed_passgate_issuer_is_refused_naming_the_variable(tenant: TenantStore) -> None:
    with pytest.raises(ConfigurationError, match=r"^PASSGATE_ISSUER: expected an http"):
        tenant_issuer(tenant, configured="not-a-url", first_address=FIRST_ADDRESS)
    assert tenant.get(ISSUER_KEY) is None  # nothing fixed by a refused start


def test_instances_starting_at_once_agree_on_one_issuer(tenant: TenantStore) -> None:
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start(port: int) -> None:
        barrier.wait()
        try:
            results.append(
                tenant_issuer(tenant, configured=None, first_address=f"http://h:{port}/")
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(8000 + n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({issuer for issuer, _ in results}) == 1
    assert [fixed for _, fixed in results].count(True) == 1


def test_a_second_process_with_another_issuer_is_refused(tmp_path: Path, sql_url: str) -> None:
    first = Passgate(cheap_settings(tmp_path, sql_url, issuer="https://a.example"))
    try:
        assert first.issuer == "https://a.example/"
        with pytest.raises(ConfigurationError, match=r"passgate issuer set https://b\.example/"):
            Passgate(cheap_settings(tmp_path, sql_url, issuer="https://b.example/"))
        unset = cheap_settings(tmp_path, sql_url, issuer=None)
        second = Passgate(unset)
        assert second.issuer == "https://a.example/"
        assert second.minter.issuer == "https://a.example/"
        second.close()
    finally:
        first.close()


# -- passgate issuer show|set ---------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


def stored_issuer(cli: Cli) -> object:
    engine = make_engine(f"sqlite:///{cli.data_dir / 'passgate.db'}")
    try:
        with engine.connect() as db:
            return db.execute(
                sa.text("SELECT value FROM tenant_settings WHERE key = 'issuer'")
            ).scalar_one_or_none()
    finally:
        engine.dispose()


def test_issuer_show_before_the_first_start_says_who_fixes_it(cli: Cli) -> None:
    assert cli.json("issuer", "show") == {"issuer": None}
    assert "the first `passgate serve` fixes it" in cli.run("issuer", "show").stdout


def test_issuer_set_changes_it_and_says_to_restart(cli: Cli) -> None:
    assert cli.json("issuer", "set", "https://auth.example.com") == {
        "issuer": "https://auth.example.com/",
        "previous": None,
        "management_api_identifier": "https://auth.example.com/api/v2/",
    }
    text = cli.run("issuer", "set", "https://login.example.com/").stdout
    assert "issuer: https://login.example.com/ (was https://auth.example.com/)" in text
    assert "restart every instance" in text
    assert cli.json("issuer", "show") == {"issuer": "https://login.example.com/"}
    assert stored_issuer(cli) == '"https://login.example.com/"'


def test_issuer_set_warns_when_passgate_issuer_still_says_otherwise(cli: Cli) -> None:
    result = cli.run(
        "issuer", "set", "https://new.example/", env={"PASSGATE_ISSUER": "https://old.example/"}
    )
    assert result.exit_code == 0, result.output
    assert "PASSGATE_ISSUER here is still https://old.example/" in result.stdout


@pytest.mark.parametrize(
    "url", ["", "not-a-url", "ftp://x.example/", "https://x.example/?a=1", "https://"]
)
def test_issuer_set_refuses_what_is_not_an_issuer_and_changes_nothing(cli: Cli, url: str) -> None:
    cli.json("issuer", "set", "https://auth.example.com/")
    assert cli.fails("issuer", "set", url).startswith("Error: not an issuer URL: expected")
    assert cli.json("issuer", "show") == {"issuer": "https://auth.example.com/"}
