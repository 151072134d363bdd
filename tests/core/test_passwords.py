"""The password policy: a length minimum, no common password, not the username."""

from __future__ import annotations

import pytest

from fangkong.core import passwords
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate


@pytest.mark.parametrize(
    "weak",
    ["password", "12345678", "PASSWORD", "Password1", "qwertyuiop", "1q2w3e4r5t", "iloveyou"],
)
def test_common_passwords_are_refused(weak: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        passwords.check(weak, username="alice", min_length=8)
    assert exc.value.field == "password"
    assert exc.value.key == "error.password.common"


def test_chinese_favourites_are_refused_too() -> None:
    for weak in ("woaini1314", "5201314520", "1qaz2wsx", "qq123456789", "a123456789"):
        assert passwords.is_common(weak), weak


@pytest.mark.parametrize("username", ["alice_chen", "Alice_Chen"])
def test_the_username_is_refused(username: str) -> None:
    for weak in ("alice_chen", "ALICE_CHEN", "alice_chen2024", "my-alice_chen-pw"):
        with pytest.raises(InvalidInput) as exc:
            passwords.check(weak, username=username, min_length=8)
        assert exc.value.key == "error.password.username"


def test_short_passwords_name_the_minimum() -> None:
    with pytest.raises(InvalidInput) as exc:
        passwords.check("x7#Kp2", username="alice", min_length=10)
    assert exc.value.key == "error.password.short" and exc.value.params == {"min": 10}
    assert "10" in exc.value.message
    assert "10" in translate("error.password.short", "zh-CN", **exc.value.params)


@pytest.mark.parametrize(
    "good", ["correct-horse-battery", "fangkong-demo", "巡逻车在三号路口等候中", "Tq8#vL2m!xR9"]
)
def test_good_passwords_pass(good: str) -> None:
    passwords.check(good, username="alice", min_length=10)


def test_the_shipped_list_is_large_and_lower_case() -> None:
    listed = passwords.common_passwords()
    assert len(listed) >= 5000
    assert all(p == p.lower() and p.strip() == p and p for p in listed)
    assert "password" in listed and "123456789" in listed


def test_repeated_and_sequential_characters_are_refused() -> None:
    for weak in ("aaaaaaaaaaaa", "abcdefghijkl", "0123456789", "9876543210", "ababababab"):
        with pytest.raises(InvalidInput):
            passwords.check(weak, username="alice", min_length=10)
