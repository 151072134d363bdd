"""Every domain error a person may see is raised with a catalogue key whose text exists in both
languages and whose placeholders are the values given (issue 18): the console renders it in the
reader's language, the API keeps the key as a stable code beside the English text."""

from __future__ import annotations

import ast
import inspect
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

import fangkong
from fangkong.core import errors
from fangkong.core.i18n import catalogue

SRC = Path(fangkong.__file__).resolve().parent

#: Calls of an error class that may go without a catalogue key, as (file, function): none.
#: An entry needs a comment saying why no person ever reads its message.
#: Calls that rebuild an error from what was stored: its key was checked where it was raised.
ALLOWED: frozenset[tuple[str, str]] = frozenset({("planning/runs.py", "_error_from")})


def _core_classes() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.FangkongError)
    }


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _trees() -> dict[str, ast.Module]:
    return {
        path.relative_to(SRC).as_posix(): ast.parse(path.read_text("utf-8"), str(path))
        for path in sorted(SRC.rglob("*.py"))
    }


def error_classes(trees: dict[str, ast.Module]) -> set[str]:
    """The names of :class:`FangkongError` and of every subclass, in core or in a domain."""
    names = _core_classes()
    defined = [
        node for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
    ]
    grew = True
    while grew:
        grew = False
        for node in defined:
            if node.name not in names and any(_base_name(b) in names for b in node.bases):
                names.add(node.name)
                grew = True
    return names


def _calls(tree: ast.Module, classes: set[str]) -> Iterator[tuple[str, ast.Call]]:
    """Each call of an error class with the name of the function around it."""

    def walk(node: ast.AST, function: str) -> Iterator[tuple[str, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name
            if isinstance(child, ast.Call) and _base_name(child.func) in classes:
                yield inner, child
            yield from walk(child, inner)

    yield from walk(tree, "<module>")


def _placeholders(text: str) -> set[str]:
    return {
        name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name
    }


def faults(
    tree: ast.Module,
    where: str,
    classes: set[str],
    keys: dict[str, dict[str, str]],
) -> list[str]:
    """What is wrong with the error calls of one module: no literal key, a key missing from a
    catalogue, values that do not fill the text's placeholders, or a message given as text."""
    found: list[str] = []
    for function, call in _calls(tree, classes):
        here = f"{where}:{call.lineno} ({function})"
        if (where, function) in ALLOWED:
            continue
        keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
        key = keywords.get("key")
        if call.args or any(k.arg is None for k in call.keywords):
            found.append(f"{here}: the message is given as text or unpacked, not by its key")
            continue
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            found.append(f'{here}: no key="..." string')
            continue
        missing = [language for language, texts in keys.items() if key.value not in texts]
        if missing:
            found.append(f"{here}: {key.value} is missing from {', '.join(missing)}")
            continue
        params = keywords.get("params")
        if params is None:
            given: set[str] = set()
        elif isinstance(params, ast.Dict) and all(
            isinstance(k, ast.Constant) and isinstance(k.value, str) for k in params.keys
        ):
            given = {
                k.value
                for k in params.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
        else:
            found.append(f"{here}: params is not a dict of literal names")
            continue
        for language, texts in keys.items():
            wanted = _placeholders(texts[key.value])
            if wanted != given:
                found.append(
                    f"{here}: {key.value} ({language}) wants {sorted(wanted)}, gets {sorted(given)}"
                )
    return found


@pytest.fixture(scope="module")
def trees() -> dict[str, ast.Module]:
    return _trees()


@pytest.fixture(scope="module")
def keys() -> dict[str, dict[str, str]]:
    return {language: catalogue(language) for language in ("en", "zh-CN")}


def test_the_scan_finds_the_errors(trees: dict[str, ast.Module]) -> None:
    classes = error_classes(trees)
    assert {"InvalidInput", "NotFound", "Forbidden", "Conflict", "Throttled"} <= classes
    calls = [call for tree in trees.values() for _, call in _calls(tree, classes)]
    assert len(calls) > 250


def test_every_error_has_its_text_in_both_catalogues(
    trees: dict[str, ast.Module], keys: dict[str, dict[str, str]]
) -> None:
    classes = error_classes(trees)
    found = [fault for where, tree in trees.items() for fault in faults(tree, where, classes, keys)]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        'raise InvalidInput("x")',
        'raise errors.NotFound(f"no case {n}", field="case_id")',
        "raise Conflict(key=name, params={})",
        'raise Forbidden(key="error.no.such.key")',
        'raise InvalidInput(key="error.password.short")',
        'raise InvalidInput(key="error.password.short", params={"max": 1})',
        'raise InvalidInput(key="error.password.short", params=values)',
        "class Mine(InvalidInput):\n    pass\n\nraise Mine()",
    ],
)
def test_an_error_without_its_text_is_found(source: str, keys: dict[str, dict[str, str]]) -> None:
    tree = ast.parse(source)
    assert faults(tree, "new.py", error_classes({"new.py": tree}), keys) != []


def test_an_error_with_its_text_passes(keys: dict[str, dict[str, str]]) -> None:
    tree = ast.parse('raise InvalidInput(key="error.password.short", params={"min": 12})')
    assert faults(tree, "new.py", error_classes({"new.py": tree}), keys) == []
