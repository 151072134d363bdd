"""The password policy: a minimum length, not a common password, not the username, not a run.

After NIST SP 800-63B (section 5.1.1.2): a length minimum and a check of each new password
against a list of commonly used ones and against context (the username), and no composition
rules. The list ships with the package (``core/data/common-passwords.txt``, its source named in
its header); nothing is fetched at run time.
"""

from __future__ import annotations

from functools import cache
from itertools import pairwise
from pathlib import Path

from fangkong.core.errors import InvalidInput

DEFAULT_MIN_LENGTH = 10
MAX_LENGTH = 256
#: A password with fewer distinct characters is a repetition (``aaaaaaaa``, ``abababab``).
MIN_DISTINCT = 4
_LIST = Path(__file__).resolve().parent / "data" / "common-passwords.txt"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case."""
    lines = _LIST.read_text("utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_common(password: str) -> bool:
    return password.lower() in common_passwords()


def _is_run(password: str) -> bool:
    """Each character one code point above (or each one below) the one before: ``abcdef``,
    ``9876543``."""
    steps = {ord(b) - ord(a) for a, b in pairwise(password)}
    return steps in ({1}, {-1})


def check(password: str, *, username: str, min_length: int = DEFAULT_MIN_LENGTH) -> None:
    """Refuse a password that breaks the policy, with an :class:`InvalidInput` naming the rule.

    Complexity: O(n) in the password's length; the list is a set, read once.
    """
    if len(password) < min_length:
        raise InvalidInput(key="error.password.short", params={"min": min_length}, field="password")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(key="error.password.long", params={"max": MAX_LENGTH}, field="password")
    if len(username) >= 3 and username.lower() in password.lower():
        raise InvalidInput(key="error.password.username", field="password")
    if is_common(password):
        raise InvalidInput(key="error.password.common", field="password")
    if len(set(password)) < MIN_DISTINCT or _is_run(password):
        raise InvalidInput(key="error.password.pattern", field="password")
