"""The browser tests' waits survive the console's Content Security Policy.

Playwright evaluates a `wait_for_function` predicate given as a bare expression with `eval` on
every animation frame. The first check runs inside the DevTools evaluation, which the policy
allows; every later one runs in the page, where `script-src 'self'` forbids `eval`. Such a wait
passes when its condition already holds and fails when it has to wait — on a loaded CI machine.
A predicate written as a function is evaluated once and then called, so it never meets the
policy."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _predicate_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value
            for part in node.values
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    return None


def _bare_expression_waits(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "wait_for_function"
            and node.args
        ):
            continue
        text = _predicate_text(node.args[0])
        if (
            text is not None
            and "=>" not in text.split("\n", 1)[0]
            and not text.lstrip().startswith("function")
        ):
            lines.append(node.lineno)
    return lines


def test_the_check_finds_a_bare_expression() -> None:
    assert _bare_expression_waits('page.wait_for_function("window.x !== undefined")') == [1]
    assert _bare_expression_waits('page.wait_for_function(f"window.x === {n}")') == [1]
    assert _bare_expression_waits('page.wait_for_function("() => window.x")') == []
    assert _bare_expression_waits('page.wait_for_function("(id) => window.x === id", arg=1)') == []


def test_every_wait_for_function_predicate_is_a_function() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in _bare_expression_waits(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], offenders
