"""One account, one counter (issue #13, items 1 and 2): whatever identifier and spelling
names an account, brute-force counting, blocks and the login rate are the account's.

Each test failed before: counters keyed on ``identifier.strip().lower()`` while the
lookup used ``casefold()``, so letters only ``casefold()`` folds gave each spelling of one
account ten more password verifications, and a username and an email of one account
counted apart.
"""

from __future__ import annotations

import pytest

from passgate.errors import BRUTE_FORCE_MESSAGE
from passgate.protection.guard import SUL_MESSAGE
from passgate.storage.directory import DEFAULT_CONNECTION
from tests.protection_e2e.helpers import BOB_PASSWORD, IP_A, IP_B, IP_C, PASSWORD, WRONG, Stack

pytestmark = pytest.mark.anyio

JESSE_PASSWORD = "jesse's long passphrase 4"
#: Spellings of jesse.ross@example.com that NFKC and full case folding make one.
JESSE = [
    "je\u017fse.ross@example.com",  # long s: only casefold() folds it
    "jes\u017fe.ross@example.com",
    "je\u00dfe.ross@example.com",  # sharp s
    "JE\u1e9eE.ROSS@EXAMPLE.COM",  # capital sharp s
    "jesse.ross@example.com",
    "\uff4aesse.ross@example.com",  # fullwidth j
    "jesse.ross@example.com\u00a0",  # a no-break space after it
    "jesse",  # the username
    "JESSE",
    "je\u017f\u017fe",
]


async def answers(stack: Stack, names: list[str], password: str, ip: str) -> list[int]:
    out = []
    async with stack.http() as http:
        for name in names:
            out.append((await stack.login(http, name, password, forwarded=ip)).status_code)
    return out


@pytest.fixture
def jesse(stack: Stack) -> str:
    user = stack.passgate.directory.create_user(
        connection=DEFAULT_CONNECTION,
        email="jesse.ross@example.com",
        username="jesse",
        password_hash=stack.passgate.hasher.hash(JESSE_PASSWORD),
    )
    return user.id


async def test_every_spelling_reaches_the_account(stack: Stack, jesse: str) -> None:
    assert await answers(stack, JESSE, JESSE_PASSWORD, IP_A) == [200] * len(JESSE)


async def test_spellings_of_one_account_share_ten_attempts(stack: Stack, jesse: str) -> None:
    before = stack.hashes.count
    statuses = await answers(stack, (JESSE * 2)[:14], WRONG, IP_A)
    assert statuses == [403] * 10 + [429] * 4
    assert stack.hashes.count - before == 10  # not 10 per spelling
    assert await answers(stack, JESSE, JESSE_PASSWORD, IP_A) == [429] * len(JESSE)
    assert await answers(stack, JESSE[:2], JESSE_PASSWORD, IP_B) == [200, 200]
    (limit,) = stack.events.of_type("limit_wc")
    assert limit.ip == IP_A


async def test_a_username_and_an_email_of_one_account_share_one_count(stack: Stack) -> None:
    assert await answers(stack, ["alice"] * 10, WRONG, IP_A) == [403] * 10
    hashes = stack.hashes.count
    names = ["alice@example.com", "Alice@Example.COM", "ALICE"]
    assert await answers(stack, names, PASSWORD, IP_A) == [429] * 3
    assert await answers(stack, names, WRONG, IP_A) == [429] * 3
    assert stack.hashes.count == hashes
    async with stack.http() as http:
        refused = await stack.login(http, "alice@example.com", PASSWORD, forwarded=IP_A)
    assert refused.json() == {
        "error": "too_many_attempts",
        "error_description": BRUTE_FORCE_MESSAGE,
    }
    assert await answers(stack, ["alice@example.com"], PASSWORD, IP_B) == [200]


async def test_mixed_identifiers_add_up_to_one_block(stack: Stack) -> None:
    names = ["alice", "alice@example.com"] * 5
    assert await answers(stack, names, WRONG, IP_A) == [403] * 10
    assert await answers(stack, ["alice"], PASSWORD, IP_A) == [429]


async def test_per_identifier_mode_counts_the_account_from_every_ip(stack: Stack) -> None:
    stack.set_brute_force(mode="count_per_identifier")
    for n in range(10):
        name = "alice" if n % 2 else "ALICE@example.com"
        assert await answers(stack, [name], WRONG, f"192.0.2.{n}") == [403]
    assert await answers(stack, ["alice@example.com", "alice"], PASSWORD, IP_C) == [429, 429]
    assert await answers(stack, ["bob"], BOB_PASSWORD, IP_C) == [200]


async def test_a_success_by_email_resets_the_count_of_the_username(stack: Stack) -> None:
    assert await answers(stack, ["alice"] * 9, WRONG, IP_A) == [403] * 9
    assert await answers(stack, ["alice@example.com"], PASSWORD, IP_A) == [200]
    assert await answers(stack, ["alice"] * 9, WRONG, IP_A) == [403] * 9
    assert await answers(stack, ["alice"], PASSWORD, IP_A) == [200]


async def test_unknown_identifiers_count_per_canonical_form(stack: Stack) -> None:
    """Spellings of an identifier that matches no account share one count, and are
    answered as a real account's are."""
    nobody = ["nobo\u017fy@example.com", "NOBOSY@example.com", "nobosy@example.com"]
    statuses = await answers(stack, (nobody * 4)[:12], WRONG, IP_A)
    assert statuses == [403] * 10 + [429] * 2
    real = await answers(stack, (["alice", "ALICE", "alice@example.com"] * 4)[:12], WRONG, IP_B)
    assert real == statuses


async def test_the_login_rate_counts_the_account_not_the_identifier(stack: Stack) -> None:
    names = ["alice", "alice@example.com", "ALICE@EXAMPLE.COM", "Alice"] * 5
    assert await answers(stack, names, PASSWORD, IP_A) == [200] * 20
    async with stack.http() as http:
        refused = await stack.login(http, "al\u0131ce@example.com", PASSWORD, forwarded=IP_A)
        other = await stack.login(http, "alice@example.com", PASSWORD, forwarded=IP_A)
    # A dotless i is another identifier (no account): a wrong password, not the rate.
    assert refused.status_code == 403
    assert other.status_code == 429
    assert other.json() == {"error": "too_many_attempts", "error_description": SUL_MESSAGE}
    (limit,) = stack.events.of_type("limit_sul")
    assert limit.ip == IP_A


async def test_a_long_non_ascii_email_logs_in_and_is_protected(stack: Stack) -> None:
    """Counter keys are fixed-size digests: an identifier of any length and script is
    counted on every backend (the escaped identifier used to outgrow the key column on
    PostgreSQL, so such a user got 503 on every login)."""
    email = "\u00fc" * 150 + "@\u4f8b\u3048.example"
    stack.passgate.directory.create_user(
        connection=DEFAULT_CONNECTION,
        email=email,
        password_hash=stack.passgate.hasher.hash(PASSWORD),
    )
    assert await answers(stack, [email, email.upper()], PASSWORD, IP_A) == [200, 200]
    assert await answers(stack, [email] * 11, WRONG, IP_A) == [403] * 10 + [429]
    (limit,) = stack.events.of_type("limit_wc")
    assert limit.user_name == email


@pytest.mark.parametrize(
    "name",
    [
        "\ufdfa" * 320,  # each becomes 18 letters in its canonical form
        "\u00fc" * 320,
        "\U0001f600" * 320,
        "a" * 320,
    ],
)
async def test_the_longest_identifiers_are_answered_like_any_other(stack: Stack, name: str) -> None:
    statuses = await answers(stack, [name] * 11, WRONG, IP_A)
    assert statuses == [403] * 10 + [429]
    async with stack.http() as http:
        too_long = await stack.login(http, name + "x", WRONG, forwarded=IP_A)
    assert too_long.status_code == 400
