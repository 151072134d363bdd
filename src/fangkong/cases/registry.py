"""The registry of case types: the built-in declarations plus any registered at start-up."""

from __future__ import annotations

from fangkong.cases.case_types import BUILTIN
from fangkong.cases.declaration import CaseTypeDecl, DeclarationError
from fangkong.core.errors import InvalidInput

_TYPES: dict[str, CaseTypeDecl] = {decl.name: decl for decl in BUILTIN}


def register(decl: CaseTypeDecl) -> None:
    """Add a validated declaration (e.g. from :func:`~fangkong.cases.declaration.load_yaml`)."""
    existing = _TYPES.get(decl.name)
    if existing is not None and existing != decl:
        raise DeclarationError(f"case type {decl.name!r} is already declared differently")
    prefixes = {d.prefix: d.name for d in _TYPES.values()}
    if prefixes.get(decl.prefix, decl.name) != decl.name:
        raise DeclarationError(
            f"case type {decl.name!r}: prefix {decl.prefix!r} is taken by {prefixes[decl.prefix]!r}"
        )
    _TYPES[decl.name] = decl


def get(name: str) -> CaseTypeDecl:
    """The declaration named ``name``; an unknown name is invalid input naming the field."""
    decl = _TYPES.get(name)
    if decl is None:
        raise InvalidInput(
            key="error.cases.type_unknown",
            params={"type": name, "known": ", ".join(names())},
            field="type",
        )
    return decl


def names() -> list[str]:
    return sorted(_TYPES)


def all_types() -> list[CaseTypeDecl]:
    return [_TYPES[name] for name in names()]
