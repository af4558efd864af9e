"""``/api/v2/connections`` and what a connection's options do: the password policy at
sign-up, password change and user creation (each level at and one past its rules, the
dictionary, personal information, history), ``disable_signup``, usernames, the per
connection brute-force switch, and ``enabled_clients`` (realms, sign-up, refresh tokens).
Run on SQLite and on PostgreSQL with Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from passgate.domain.connection_options import MIGRATED_OPTIONS
from passgate.domain.models import PASSWORD_REALM
from passgate.storage.directory import DEFAULT_CONNECTION
from tests.management.helpers import Admin, api_events, assert_api_error
from tests.protection_e2e.helpers import BOB_PASSWORD, PASSWORD, WRONG, NamedClient

pytestmark = pytest.mark.anyio


async def _default(admin: Admin) -> dict[str, Any]:
    response = await admin.call("GET", "/connections", params={"name": DEFAULT_CONNECTION})
    assert response.status_code == 200, response.text
    [found] = response.json()
    return found  # type: ignore[no-any-return]


async def _set_options(admin: Admin, **options: Any) -> dict[str, Any]:
    connection = await _default(admin)
    response = await admin.call(
        "PATCH", f"/connections/{connection['id']}", json={"options": options}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _signup(
    admin: Admin, password: str, *, email: str = "dora@example.com", **extra: Any
) -> httpx.Response:
    body = {
        "client_id": admin.stack.public.id,
        "email": email,
        "password": password,
        "connection": DEFAULT_CONNECTION,
        **extra,
    }
    return await admin.http.post("/dbconnections/signup", json=body)


def _refused(response: httpx.Response, name: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == "invalid_password"
    assert body["name"] == name
    assert body["statusCode"] == 400
    assert body["policy"].startswith("* At least")
    return body


# -- the resource ----------------------------------------------------------------------
async def test_the_default_connection_keeps_todays_rules_and_every_client(admin: Admin) -> None:
    found = await _default(admin)
    assert found["strategy"] == "auth0"
    assert found["name"] == found["display_name"] == DEFAULT_CONNECTION
    assert found["options"] == MIGRATED_OPTIONS
    assert found["realms"] == [DEFAULT_CONNECTION]
    assert found["is_domain_connection"] is False
    clients = {admin.stack.trusted.id, admin.stack.public.id, admin.client.id}
    assert clients <= set(found["enabled_clients"])
    by_id = await admin.call("GET", f"/connections/{found['id']}")
    assert by_id.json() == found
    only = await admin.call("GET", f"/connections/{found['id']}", params={"fields": "id,name"})
    assert only.json() == {"id": found["id"], "name": DEFAULT_CONNECTION}
    paged = await admin.call("GET", "/connections", params={"include_totals": "true"})
    assert paged.json()["total"] == 1
    assert paged.json()["connections"] == [found]
    other = await admin.call("GET", "/connections", params={"strategy": "google-oauth2"})
    assert other.json() == []


async def test_create_update_and_delete_a_connection(admin: Admin) -> None:
    body = {
        "name": "Staff",
        "strategy": "auth0",
        "display_name": "Staff accounts",
        "enabled_clients": [admin.stack.trusted.id],
        "options": {"passwordPolicy": "good", "import_mode": False},
    }
    created = await admin.call("POST", "/connections", json=body)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["id"].startswith("con_")
    assert made["options"] == {"passwordPolicy": "good", "import_mode": False}
    assert made["enabled_clients"] == [admin.stack.trusted.id]
    changed = await admin.call(
        "PATCH",
        f"/connections/{made['id']}",
        json={"options": {"passwordPolicy": "fair"}, "enabled_clients": []},
    )
    assert changed.status_code == 200, changed.text
    # options replace the whole object, as in Auth0
    assert changed.json()["options"] == {"passwordPolicy": "fair"}
    assert changed.json()["enabled_clients"] == []
    assert changed.json()["display_name"] == "Staff accounts"
    deleted = await admin.call("DELETE", f"/connections/{made['id']}")
    assert deleted.status_code == 204
    gone = await admin.call("GET", f"/connections/{made['id']}")
    assert_api_error(gone, 404, "inexistent_connection")
    audit = [e.details for e in api_events(admin.stack, "sapi")]
    assert len(audit) == 3


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "Social", "strategy": "google-oauth2"}, "strategy"),
        ({"name": "Staff"}, "strategy"),
        ({"strategy": "auth0"}, "name"),
        ({"name": "bad name", "strategy": "auth0"}, "name"),
        ({"name": "-Staff", "strategy": "auth0"}, "name"),
        ({"name": "a" * 129, "strategy": "auth0"}, "name"),
        ({"name": "Staff", "strategy": "auth0", "options": {"passwordPolicy": "ok"}},
         "options.passwordPolicy"),
        ({"name": "Staff", "strategy": "auth0",
          "options": {"password_history": {"enable": True, "size": 25}}},
         "options.password_history.size"),
        ({"name": "Staff", "strategy": "auth0", "enabled_clients": ["nobody"]},
         "enabled_clients"),
        ({"name": "Staff", "strategy": "auth0", "realms": ["Other"]}, "realms"),
        ({"name": "Staff", "strategy": "auth0", "is_domain_connection": True},
         "is_domain_connection"),
        ({"name": "Staff", "strategy": "auth0", "metadata": {}}, "metadata"),
    ],
)  # fmt: skip
async def test_create_refuses_bad_bodies_naming_the_property(
    admin: Admin, body: dict[str, Any], needle: str
) -> None:
    response = await admin.call("POST", "/connections", json=body)
    error = assert_api_error(response, 400, "invalid_body")
    assert needle in error["message"]


async def test_a_name_is_taken_once_and_unknown_ids_are_404(admin: Admin) -> None:
    twice = await admin.call(
        "POST", "/connections", json={"name": DEFAULT_CONNECTION, "strategy": "auth0"}
    )
    assert_api_error(twice, 409, "connection_conflict")
    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
        missing = await admin.call(method, "/connections/con_nothere", **kwargs)
        assert_api_error(missing, 404, "inexistent_connection")


async def test_the_default_directory_and_a_connection_with_users_stay(admin: Admin) -> None:
    default = await _default(admin)
    refused = await admin.call("DELETE", f"/connections/{default['id']}")
    assert_api_error(refused, 409, "operation_not_supported")
    made = (
        await admin.call("POST", "/connections", json={"name": "Staff", "strategy": "auth0"})
    ).json()
    user = await admin.call(
        "POST",
        "/users",
        json={"connection": "Staff", "email": "s@example.com", "password": "any password 1"},
    )
    assert user.status_code == 201, user.text
    holding = await admin.call("DELETE", f"/connections/{made['id']}")
    assert_api_error(holding, 409, "operation_not_supported")
    await admin.call("DELETE", f"/users/{user.json()['user_id']}")
    assert (await admin.call("DELETE", f"/connections/{made['id']}")).status_code == 204
    assert (await _default(admin))["id"] == default["id"]


# -- the strength levels at sign-up ----------------------------------------------------
LEVELS = [
    # level, exactly at every rule, one past a rule
    ("none", "x", ""),
    ("low", "abcdef", "abcde"),
    ("fair", "abcdEF12", "abcdEF1"),
    ("fair", "abcdEF12", "abcdefg1"),
    ("good", "abcdef1!", "abcdef1"),
    ("good", "abcdef1!", "abcdefgh"),
    ("excellent", "aabcEF12!x", "aabcEF12!"),
    ("excellent", "aabcEF12!x", "aaacEF12!x"),
]


@pytest.mark.parametrize(("level", "ok", "weak"), LEVELS)
async def test_each_level_at_sign_up(admin: Admin, level: str, ok: str, weak: str) -> None:
    await _set_options(admin, passwordPolicy=level)
    if weak:
        body = _refused(await _signup(admin, weak), "PasswordStrengthError")
        assert body["message"] == "Password is too weak"
        assert body["description"]["verified"] is False
        assert any(not rule["verified"] for rule in body["description"]["rules"])
    else:  # an empty password is a missing one
        assert (await _signup(admin, weak)).status_code == 400
    signed = await _signup(admin, ok)
    assert signed.status_code == 200, signed.text


async def test_min_length_raises_the_level_at_sign_up(admin: Admin) -> None:
    await _set_options(admin, passwordPolicy="good", password_complexity_options={"min_length": 12})
    body = _refused(await _signup(admin, "abcdefgh1!X"), "PasswordStrengthError")
    assert body["description"]["rules"][0]["format"] == [12]
    assert (await _signup(admin, "abcdefgh1!XY")).status_code == 200


async def test_the_policy_applies_to_created_users_and_password_changes(admin: Admin) -> None:
    await _set_options(admin, passwordPolicy="excellent")
    created = await admin.call(
        "POST",
        "/users",
        json={"connection": DEFAULT_CONNECTION, "email": "e@example.com", "password": "Ab1!"},
    )
    error = assert_api_error(created, 400, "invalid_password")
    assert error["message"].startswith("PasswordStrengthError: ")
    patched = await admin.call(
        "PATCH", f"/users/{admin.stack.alice.id}", json={"password": "aaaaaaaaaaaa"}
    )
    assert_api_error(patched, 400, "invalid_password")
    ok = await admin.call(
        "PATCH", f"/users/{admin.stack.alice.id}", json={"password": "Excellent-pass-9"}
    )
    assert ok.status_code == 200, ok.text


# -- dictionary, personal information, history -----------------------------------------
@pytest.mark.parametrize("password", ["password", "PASSWORD", "PassWord", "Dragon", "ACMEcorp"])
async def test_dictionary_words_in_any_case_are_refused(admin: Admin, password: str) -> None:
    await _set_options(
        admin,
        passwordPolicy="none",
        password_dictionary={"enable": True, "dictionary": ["acmeCorp"]},
    )
    body = _refused(await _signup(admin, password), "PasswordDictionaryError")
    assert body["description"] == body["message"] == "Password is too common"
    assert (await _signup(admin, password + "-and-more")).status_code == 200


@pytest.mark.parametrize(
    ("password", "extra"),
    [
        ("my dora.explorer pw", {}),  # the email's local part
        ("DORA.EXPLORER!!", {}),
        ("hi-doradora-1", {"username": "doradora"}),
        ("xMarquez9", {"family_name": "Marquez"}),
        ("i am Dora The Great", {"name": "Dora the Great"}),
        ("zzbootsyzz", {"nickname": "Bootsy"}),
    ],
)
async def test_personal_information_in_the_password_is_refused(
    admin: Admin, password: str, extra: dict[str, Any]
) -> None:
    await _set_options(admin, passwordPolicy="none", password_no_personal_info={"enable": True})
    response = await _signup(admin, password, email="dora.explorer@example.com", **extra)
    body = _refused(response, "PasswordNoUserInfoError")
    assert body["description"] == "Password contains user information"
    fine = await _signup(admin, "nothing of mine 42", email="dora.explorer@example.com", **extra)
    assert fine.status_code == 200, fine.text


async def test_another_accounts_details_or_passwords_do_not_count(admin: Admin) -> None:
    await _set_options(
        admin,
        passwordPolicy="none",
        password_no_personal_info={"enable": True},
        password_history={"enable": True, "size": 24},
    )
    # bob's username and bob's own password are not dora's
    response = await _signup(admin, BOB_PASSWORD.replace("bob", "bob bob"))
    assert response.status_code == 200, response.text
    patched = await admin.call(
        "PATCH", f"/users/{admin.stack.alice.id}", json={"password": BOB_PASSWORD}
    )
    assert patched.status_code == 200, patched.text


@pytest.mark.parametrize("size", [1, 3])
async def test_history_of_n_refuses_the_last_n_and_accepts_the_one_before(
    admin: Admin, size: int
) -> None:
    await _set_options(admin, passwordPolicy="low", password_history={"enable": True, "size": size})
    alice = admin.stack.alice.id
    passwords = [PASSWORD] + [f"history password {i}" for i in range(1, size + 1)]
    for password in passwords[1:]:
        changed = await admin.call("PATCH", f"/users/{alice}", json={"password": password})
        assert changed.status_code == 200, changed.text
    for recent in passwords[-size:]:  # the current one and the size - 1 before it
        refused = await admin.call("PATCH", f"/users/{alice}", json={"password": recent})
        error = assert_api_error(refused, 400, "invalid_password")
        assert error["message"].startswith("PasswordHistoryError: ")
    oldest = await admin.call("PATCH", f"/users/{alice}", json={"password": passwords[-size - 1]})
    assert oldest.status_code == 200, oldest.text
    # the history holds hashes only, never more than size - 1 of them
    history = admin.stack.passgate.management.connections._history
    kept = history.recent(alice, 100)
    assert len(kept) == size
    assert all(value.startswith("$argon2id$") for value in kept)


async def test_turning_history_off_forgets_it(admin: Admin) -> None:
    await _set_options(admin, passwordPolicy="low", password_history={"enable": True, "size": 5})
    alice = admin.stack.alice.id
    for password in ("first history pw", "second history pw"):
        await admin.call("PATCH", f"/users/{alice}", json={"password": password})
    await _set_options(admin, passwordPolicy="low")
    history = admin.stack.passgate.management.connections._history
    assert history.recent(alice, 24) == history.recent(alice, 1)  # the current one only
    back = await admin.call("PATCH", f"/users/{alice}", json={"password": "first history pw"})
    assert back.status_code == 200, back.text


# -- sign-up, usernames, brute force ---------------------------------------------------
async def test_disable_signup_refuses_sign_up_but_not_logins_or_admins(admin: Admin) -> None:
    await _set_options(admin, **{**MIGRATED_OPTIONS, "disable_signup": True})
    refused = await _signup(admin, "a fine password 1")
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "operation_not_supported"
    assert body["description"] == "public signup is disabled"
    directory = admin.stack.passgate.directory
    assert directory.find_by_email(DEFAULT_CONNECTION, "dora@example.com") is None
    login = await admin.stack.login(admin.http, "alice@example.com", PASSWORD)
    assert login.status_code == 200, login.text
    created = await admin.call(
        "POST",
        "/users",
        json={"connection": DEFAULT_CONNECTION, "email": "d@example.com", "password": "pw long 12"},
    )
    assert created.status_code == 201, created.text


async def test_requires_username_and_its_length_bounds(admin: Admin) -> None:
    await _set_options(admin, requires_username=True, validation={"username": {"min": 3, "max": 5}})
    missing = await _signup(admin, "a fine password 1")
    assert missing.status_code == 400
    assert "username" in missing.json()["description"]
    assert (await _signup(admin, "a fine password 1", username="ab")).status_code == 400
    assert (await _signup(admin, "a fine password 1", username="abcdef")).status_code == 400
    assert (await _signup(admin, "a fine password 1", username="abc")).status_code == 200
    assert (
        await _signup(admin, "a fine password 1", email="e@example.com", username="abcde")
    ).status_code == 200
    admin_made = await admin.call(
        "POST",
        "/users",
        json={
            "connection": DEFAULT_CONNECTION,
            "email": "f@example.com",
            "password": "x long pw 1",
        },
    )
    assert_api_error(admin_made, 400, "invalid_body")


@pytest.mark.parametrize("switch", [True, False])
async def test_brute_force_protection_is_a_per_connection_switch(
    admin: Admin, switch: bool
) -> None:
    admin.stack.set_brute_force(max_attempts=2)
    await _set_options(admin, **{**MIGRATED_OPTIONS, "brute_force_protection": switch})
    admin.stack.passgate.records.forget_connections()
    for _ in range(3):
        failed = await admin.stack.login(admin.http, "bob@example.com", WRONG)
        assert failed.status_code in (403, 429)
    right = await admin.stack.login(admin.http, "bob@example.com", BOB_PASSWORD)
    assert right.status_code == (429 if switch else 200), right.text


# -- enabled clients -------------------------------------------------------------------
async def _user_client(admin: Admin) -> NamedClient:
    response = await admin.call(
        "POST",
        "/clients",
        json={
            "name": "Realm app",
            "app_type": "regular_web",
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["password", PASSWORD_REALM, "refresh_token"],
        },
    )
    assert response.status_code == 201, response.text
    client = admin.stack.passgate.applications.get_client(response.json()["client_id"])
    assert client is not None
    return NamedClient(client, response.json()["client_secret"])


async def test_a_realm_not_enabled_for_the_client_is_refused(admin: Admin) -> None:
    app = await _user_client(admin)
    staff = (
        await admin.call("POST", "/connections", json={"name": "Staff", "strategy": "auth0"})
    ).json()
    await admin.call(
        "POST",
        "/users",
        json={"connection": "Staff", "email": "s@example.com", "password": "staff password 1"},
    )
    form = {
        "grant_type": PASSWORD_REALM,
        "realm": "Staff",
        "username": "s@example.com",
        "password": "staff password 1",
        "client_id": app.id,
        "client_secret": app.secret or "",
        "scope": "openid offline_access",
    }
    refused = await admin.http.post("/oauth/token", data=form)
    assert refused.status_code == 403, refused.text
    assert refused.json() == {
        "error": "unauthorized_client",
        "error_description": "The connection is not enabled for this client.",
    }
    verified = admin.stack.hashes.count
    wrong = await admin.http.post("/oauth/token", data={**form, "password": WRONG})
    assert wrong.json() == refused.json()  # decided before the password: nothing told
    assert admin.stack.hashes.count == verified
    enabled = await admin.call(
        "PATCH", f"/connections/{staff['id']}", json={"enabled_clients": [app.id]}
    )
    assert enabled.status_code == 200
    granted = await admin.http.post("/oauth/token", data=form)
    assert granted.status_code == 200, granted.text
    refresh = granted.json()["refresh_token"]
    # removed from the connection: its refresh tokens stop working too
    await admin.call("PATCH", f"/connections/{staff['id']}", json={"enabled_clients": []})
    refreshed = await admin.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": app.id,
            "client_secret": app.secret or "",
        },
    )
    assert refreshed.status_code == 403, refreshed.text
    assert refreshed.json()["error"] == "invalid_grant"


async def test_the_default_directory_and_sign_up_need_the_client_enabled(admin: Admin) -> None:
    default = await _default(admin)
    cut = (admin.stack.trusted.id, admin.stack.public.id)
    others = [c for c in default["enabled_clients"] if c not in cut]
    await admin.call("PATCH", f"/connections/{default['id']}", json={"enabled_clients": others})
    login = await admin.stack.login(admin.http, "alice@example.com", PASSWORD)
    assert login.status_code == 403
    assert login.json()["error"] == "unauthorized_client"
    signup = await _signup(admin, "a fine password 1")
    assert signup.status_code == 400
    assert signup.json()["code"] == "unauthorized_client"
    reset = await admin.http.post(
        "/dbconnections/change_password",
        json={
            "client_id": admin.stack.public.id,
            "email": "alice@example.com",
            "connection": DEFAULT_CONNECTION,
        },
    )
    assert reset.status_code == 400
    assert reset.json()["code"] == "unauthorized_client"
    assert not admin.stack.mailer.sent


async def test_checkpoint_paging_as_auth0s_sdks_ask(admin: Admin) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        made = await admin.call("POST", "/connections", json={"name": name, "strategy": "auth0"})
        assert made.status_code == 201
    seen: list[str] = []
    params: dict[str, Any] = {"take": 2, "include_totals": "true"}
    for _ in range(5):
        page = (await admin.call("GET", "/connections", params=params)).json()
        seen += [c["name"] for c in page["connections"]]
        if "next" not in page:
            break
        params = {**params, "from": page["next"]}
    assert seen == ["Alpha", "Beta", "Gamma", DEFAULT_CONNECTION]
    gone = await admin.call("GET", "/connections", params={"from": "con_gone", "take": 2})
    assert gone.json() == {"connections": []}
    refused = await admin.call("GET", "/connections", params={"take": 101})
    assert_api_error(refused, 400, "invalid_query_string")
