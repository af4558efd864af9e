"""A connection's password rules as Auth0 defines them: each level with passwords exactly
at and one past each rule, the raised minimum, the dictionary, personal information, and
the options' limits."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.domain.connection_options import (
    MIGRATED_OPTIONS,
    OptionError,
    check_options,
    rules_of,
)
from passgate.domain.password_policy import (
    StrengthPolicy,
    holds_personal_info,
    in_dictionary,
    personal_values,
)
from passgate.support.common_passwords import common_passwords


def failed(level: str, password: str, min_length: int | None = None) -> list[str]:
    policy = StrengthPolicy(level=level, min_length=min_length)
    return [rule["code"] for rule in policy.failed(password)]


# (level, password, the rules it fails)
CASES = [
    # none: at least one character of any kind
    ("none", "a", []),
    ("none", "", ["lengthAtLeast"]),
    ("none", " ", []),
    # low: at least 6
    ("low", "abcdef", []),
    ("low", "abcde", ["lengthAtLeast"]),
    ("low", "ÄÖÜäöü", []),  # characters, not bytes
    # fair: at least 8, with lower, upper and digits
    ("fair", "abcdEF12", []),
    ("fair", "abcdE12", ["lengthAtLeast"]),
    ("fair", "abcdefg1", ["contains"]),  # no upper case
    ("fair", "ABCDEFG1", ["contains"]),  # no lower case
    ("fair", "abcdEFGH", ["contains"]),  # no digit
    ("fair", "!@#$%^&*", ["contains"]),
    ("fair", "äbcdÉF12", []),  # ASCII classes, as Auth0 counts: still has b,c,d,F,1,2
    ("fair", "äöüÄÖÜ12", ["contains"]),  # non-ASCII letters count as no class
    # good: at least 8, three of lower / upper / digit / special
    ("good", "abcdEF1!", []),
    ("good", "abcdEF12", []),
    ("good", "abcd12!!", []),
    ("good", "abcdEF1", ["lengthAtLeast"]),
    ("good", "abcdefg1", ["containsAtLeast"]),  # two classes
    ("good", "abcdefgh", ["containsAtLeast"]),
    ("good", "abc def1", []),  # a space is a special character (password-sheriff)
    # excellent: at least 10, as good, no more than 2 identical characters in a row
    ("excellent", "abcdEF12!x", []),
    ("excellent", "aabcEF12!x", []),  # two in a row is fine
    ("excellent", "aaacEF12!x", ["identicalChars"]),  # three is not
    ("excellent", "abcdEF12!", ["lengthAtLeast"]),
    ("excellent", "abcdefgh12", ["containsAtLeast"]),
    ("excellent", "aaa", ["lengthAtLeast", "containsAtLeast", "identicalChars"]),
]


@pytest.mark.parametrize(("level", "password", "expected"), CASES)
def test_each_level_at_and_one_past_its_rules(
    level: str, password: str, expected: list[str]
) -> None:
    assert failed(level, password) == expected


@pytest.mark.parametrize("level", ["none", "low", "fair", "good", "excellent"])
def test_the_longest_password_is_taken_and_one_more_is_not(level: str) -> None:
    ok = ("aB1!" * 1024)[:4096]
    ok = "".join(ch if i % 3 else "x" for i, ch in enumerate(ok))  # never three in a row
    assert failed(level, ok) == []
    assert failed(level, ok + "y") == ["lengthAtMost"]


def test_min_length_raises_the_minimum_and_never_lowers_it() -> None:
    assert StrengthPolicy(level="low", min_length=8).minimum == 8
    assert failed("low", "abcdefg", 8) == ["lengthAtLeast"]
    assert failed("low", "abcdefgh", 8) == []
    # lower than the level's: the level's stands
    assert StrengthPolicy(level="excellent", min_length=4).minimum == 10
    assert failed("excellent", "abcdEF12!", 4) == ["lengthAtLeast"]
    assert StrengthPolicy(level="none", min_length=128).minimum == 128
    assert failed("none", "x" * 127, 128) == ["lengthAtLeast"]
    assert failed("none", "x" * 128, 128) == []


def test_the_rules_read_as_auth0s() -> None:
    policy = StrengthPolicy(level="good")
    rules = policy.rules("abcdefgh")
    assert rules[0] == {
        "message": "At least %d characters in length",
        "format": [8],
        "code": "lengthAtLeast",
        "verified": True,
    }
    assert rules[1]["code"] == "containsAtLeast"
    assert rules[1]["format"] == [3, 4]
    assert [(i["code"], i["verified"]) for i in rules[1]["items"]] == [
        ("lowerCase", True),
        ("upperCase", False),
        ("numbers", False),
        ("specialCharacters", False),
    ]
    assert rules[1]["verified"] is False
    assert policy.summary().splitlines() == [
        "* At least 8 characters in length",
        "* Contain at least 3 of the following 4 types of characters:",
        " * lower case letters (a-z)",
        " * upper case letters (A-Z)",
        " * numbers (i.e. 0-9)",
        " * special characters (e.g. !@#$%^&*)",
        "* At most 4096 characters in length",
    ]
    fair = StrengthPolicy(level="fair").summary()
    assert "* Should contain:" in fair
    assert "special" not in fair
    assert 'No more than 2 identical characters in a row (e.g., "aaa" not allowed)' in (
        StrengthPolicy(level="excellent").summary()
    )


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        StrengthPolicy(level="strong")


# -- dictionary ------------------------------------------------------------------------
def test_the_built_in_dictionary_holds_the_10000_most_common_passwords() -> None:
    words = common_passwords()
    assert len(words) == 10_000
    assert {"123456", "password", "qwerty", "dragon", "letmein"} <= words
    assert all(word == word.lower() for word in words)


@pytest.mark.parametrize("password", ["password", "PASSWORD", "PaSsWoRd", "Qwerty", "LETMEIN"])
def test_dictionary_words_are_refused_in_any_case(password: str) -> None:
    assert in_dictionary(password, common_passwords())


@pytest.mark.parametrize("password", ["password!", "xpassword", "correct horse battery"])
def test_only_whole_words_count(password: str) -> None:
    assert not in_dictionary(password, common_passwords())


def test_the_connections_own_words_count_in_any_case() -> None:
    rules = rules_of({"password_dictionary": {"enable": True, "dictionary": ["Acme-Corp"]}})
    assert rules.dictionary
    assert in_dictionary("ACME-corp", common_passwords(), rules.words)
    assert not in_dictionary("acme-corp1", common_passwords(), rules.words)


# -- personal information --------------------------------------------------------------
def test_personal_information_is_found_inside_the_password_in_any_case() -> None:
    values = personal_values(
        email="Ada.Lovelace@example.com",
        username="countess",
        names=("Ada Lovelace", "Ada", "Lovelace", None),
    )
    assert holds_personal_info("xxADA.LOVELACExx", values)  # the email's local part
    assert holds_personal_info("MyCountess!", values)
    assert holds_personal_info("ilovelace99", values)  # family name inside
    assert not holds_personal_info("example.com-is-the-domain", values)  # not the domain
    assert not holds_personal_info("Analytical-Engine-1843", values)


def test_very_short_names_are_not_looked_for() -> None:
    values = personal_values(email="al@example.com", username=None, names=("Al", "X", None))
    assert values == []
    assert not holds_personal_info("Always-fine-1", values)


# -- options ---------------------------------------------------------------------------
def refusal(options: Any) -> str:
    with pytest.raises(OptionError) as caught:
        check_options(options)
    return caught.value.field


def test_absent_or_null_policy_is_none() -> None:
    assert rules_of({}).strength.level == "none"
    assert rules_of({"passwordPolicy": None}).strength.level == "none"
    assert check_options({"passwordPolicy": None}) == {"passwordPolicy": None}


def test_the_migrated_options_keep_todays_rule() -> None:
    rules = rules_of(MIGRATED_OPTIONS)
    assert rules.strength.level == "low"
    assert rules.strength.minimum == 8
    assert not rules.disable_signup
    assert rules.brute_force


MIN = "options.password_complexity_options"
DICT = "options.password_dictionary"


def words(*items: object) -> dict[str, Any]:
    return {"password_dictionary": {"enable": True, "dictionary": list(items)}}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ([], "options"),
        ({"passwordPolicy": "strong"}, "options.passwordPolicy"),
        ({"passwordPolicy": 3}, "options.passwordPolicy"),
        ({"password_complexity_options": {"min_length": 0}}, MIN + ".min_length"),
        ({"password_complexity_options": {"min_length": 129}}, MIN + ".min_length"),
        ({"password_complexity_options": {"min_length": 8.5}}, MIN + ".min_length"),
        ({"password_complexity_options": {"min_length": True}}, MIN + ".min_length"),
        ({"password_complexity_options": {"max": 3}}, MIN),
        ({"password_history": {"size": 5}}, "options.password_history"),
        ({"password_history": {"enable": True, "size": 0}}, "options.password_history.size"),
        ({"password_history": {"enable": True, "size": 25}}, "options.password_history.size"),
        ({"password_history": {"enable": "yes"}}, "options.password_history.enable"),
        (words(*["x"] * 201), DICT + ".dictionary"),
        (words("x" * 51), DICT + ".dictionary[0]"),
        (words(""), DICT + ".dictionary[0]"),
        (words(1), DICT + ".dictionary[0]"),
        ({"password_no_personal_info": True}, "options.password_no_personal_info"),
        ({"disable_signup": "false"}, "options.disable_signup"),
        ({"brute_force_protection": 1}, "options.brute_force_protection"),
        ({"validation": {"username": {"min": 0}}}, "options.validation.username.min"),
        ({"validation": {"username": {"max": 129}}}, "options.validation.username.max"),
        ({"validation": {"username": {"min": 10, "max": 9}}}, "options.validation.username"),
        ({"not a name": 1}, "options.not a name"),
        ({"big": "x" * 70_000}, "options"),
    ],
)  # fmt: skip
def test_each_option_past_its_limit_is_refused_by_name(options: Any, field: str) -> None:
    assert refusal(options) == field


def test_each_option_at_its_limit_is_taken() -> None:
    options = {
        "passwordPolicy": "excellent",
        "password_complexity_options": {"min_length": 128},
        "password_history": {"enable": True, "size": 24},
        "password_dictionary": {"enable": True, "dictionary": ["w" * 50] * 200},
        "password_no_personal_info": {"enable": True},
        "disable_signup": True,
        "requires_username": True,
        "brute_force_protection": False,
        "validation": {"username": {"min": 1, "max": 128}},
        "import_mode": False,  # Auth0's, kept as sent
        "customScripts": {"login": "function () {}"},
    }
    assert check_options(options) == options
    rules = rules_of(options)
    assert rules.strength.minimum == 128
    assert rules.history_size == 24
    assert rules.no_personal_info
    assert rules.disable_signup
    assert rules.requires_username
    assert rules.username_bounds == (1, 128)
    assert not rules.brute_force


def test_history_size_defaults_to_five_and_usernames_to_auth0s_bounds() -> None:
    assert rules_of({"password_history": {"enable": True}}).history_size == 5
    assert rules_of({"password_history": {"enable": False, "size": 9}}).history_size == 0
    assert rules_of({"requires_username": True}).username_bounds == (1, 15)
    assert rules_of({}).username_bounds is None
