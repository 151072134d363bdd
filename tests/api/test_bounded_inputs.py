"""Every text and id a request carries is bounded at its schema. No route takes a string that
may hold a NUL character (PostgreSQL refuses NUL in text, and a query with one is its 500; SQLite
takes it, so only the PostgreSQL edge sweep of ``test_edges.py`` met it, on the parameters it
could reach). Here every parameter, form field and body field of every route, the API's and the
console's, is read from the app itself: a string must be :data:`fangkong.core.bounds.Text` (or
an enumeration, or a pattern that refuses NUL), so a route added tomorrow is held too. And
every id (a field named ``id``, ``*_id`` or ``*_ids``) is at most 2**31 - 1: the id columns are
PostgreSQL ``integer``, and a larger id bound to one is its ``integer out of range``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from annotated_types import Le, Lt
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from fangkong.core import bounds
from fangkong.core.config import Settings
from fangkong.core.db import make_engine
from fangkong.web.app import create_app

#: Strings a pattern must refuse to bound a text as :data:`~fangkong.core.bounds.Text` does.
NUL_PROBES = ("\x00", "a\x00", "\x00a", "a\x00a", "0\x00", "A\x00")


def _refuses_nul(metadata: list[Any]) -> bool:
    """Whether a validator or a pattern among ``metadata`` refuses every probe."""
    for item in metadata:
        check = getattr(item, "func", None)
        if callable(check) and all(_raises(check, probe) for probe in NUL_PROBES):
            return True
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str) and not any(re.search(pattern, p) for p in NUL_PROBES):
            return True
    return False


def _raises(check: Any, value: Any) -> bool:
    try:
        check(value)
    except (ValueError, AssertionError):
        return True
    return False


def unbounded(annotation: Any, metadata: list[Any], seen: set[type]) -> list[str]:
    """The places (``field.field``) in ``annotation`` where a string may hold NUL."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return unbounded(inner, [*metadata, *extra], seen)
    if annotation is str:
        return [] if _refuses_nul(metadata) else [""]
    if origin in (typing.Union, types.UnionType):
        return [p for arg in typing.get_args(annotation) for p in unbounded(arg, metadata, seen)]
    if origin in (list, tuple, set, frozenset):
        return [p for arg in typing.get_args(annotation) for p in unbounded(arg, [], seen)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        return [
            f".{name}{p}"
            for name, field in annotation.model_fields.items()
            for p in unbounded(field.annotation, list(field.metadata), seen)
        ]
    if origin is dict or annotation in (dict, Any, object):
        # Free JSON (a GeoJSON document, a template, a case's fields) must be
        # bounds.JsonObject / bounds.Json: no NUL in a key or a string anywhere, bounded depth
        # and size, finite numbers. A typed mapping is walked: its keys and its values.
        if _refuses_bad_json(metadata):
            return []
        args = typing.get_args(annotation)
        if not args or any(a in (Any, object) for a in args):
            return [" (free JSON)"]
        return [f"[]{p}" for arg in args for p in unbounded(arg, [], seen)]
    # Enumerations, literals, numbers, dates and files are no plain text field.
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return []
    return []


def _deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": [value]}
    return value


#: Free JSON a bounded JSON type must refuse: NUL in a value, a key, deep inside; nesting past
#: any reasonable document; a number PostgreSQL's jsonb cannot hold.
JSON_PROBES: tuple[Any, ...] = (
    {"a": "\x00"},
    {"\x00": 1},
    {"a": [{"b": ["x\x00y"]}]},
    _deep(500),
    {"a": float("nan")},
    {"a": float("inf")},
)


def _refuses_bad_json(metadata: list[Any]) -> bool:
    for item in metadata:
        check = getattr(item, "func", None)
        if callable(check) and all(_raises(check, probe) for probe in JSON_PROBES):
            return True
    return False


def _is_id(name: str) -> bool:
    return name in ("id", "ids") or name.endswith(("_id", "_ids"))


def _upper(metadata: list[Any]) -> int | None:
    # A Field(...) inside an Annotated of a union's member keeps its bounds as its metadata.
    metadata = [m for item in metadata for m in [item, *getattr(item, "metadata", [])]]
    bounds_found = [m.le for m in metadata if isinstance(m, Le)]
    bounds_found += [m.lt - 1 for m in metadata if isinstance(m, Lt)]
    return min(bounds_found) if bounds_found else None


def ids_past_integer(name: str, annotation: Any, metadata: list[Any], seen: set[type]) -> list[str]:
    """The places where an id (a field named ``id``, ``*_id`` or ``*_ids``) may pass
    PostgreSQL's ``integer``, the type of every id column."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        return ids_past_integer(name, inner, [*metadata, *extra], seen)
    if annotation is int:
        upper = _upper(metadata)
        return [""] if _is_id(name) and (upper is None or upper > bounds.MAX_ID) else []
    if origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        inner_metadata = metadata if origin in (typing.Union, types.UnionType) else []
        return [
            p
            for arg in typing.get_args(annotation)
            for p in ids_past_integer(name, arg, inner_metadata, seen)
        ]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        return [
            f".{field_name}{p}"
            for field_name, field in annotation.model_fields.items()
            for p in ids_past_integer(field_name, field.annotation, list(field.metadata), seen)
        ]
    return []


def _parameters(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.header_params
    yield from dependant.cookie_params
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _parameters(sub)


def _routes(tmp: Path) -> Iterator[tuple[str, Any]]:
    """(methods and path, parameter) of every parameter of every route of the app."""
    engine = make_engine(f"sqlite:///{tmp / 'bounds.db'}")
    settings = Settings(
        data_dir=tmp,
        secret_key="s" * 40,
        environment="test",
        database_url=engine.url.render_as_string(hide_password=False),
    )
    app = create_app(settings, engine=engine)
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            methods = ",".join(sorted(context.methods or ()))
            for param in _parameters(route.dependant):
                yield f"{methods} {context.path}", param
    engine.dispose()


def unbounded_inputs(tmp: Path) -> list[str]:
    found = {
        f"{route} {param.name}{place}"
        for route, param in _routes(tmp)
        for place in unbounded(param.field_info.annotation, list(param.field_info.metadata), set())
    }
    return sorted(found)


def unbounded_ids(tmp: Path) -> list[str]:
    found = {
        f"{route} {param.name}{place}"
        for route, param in _routes(tmp)
        for place in ids_past_integer(
            param.name, param.field_info.annotation, list(param.field_info.metadata), set()
        )
    }
    return sorted(found)


def test_every_text_a_route_takes_refuses_nul(tmp_path: Path) -> None:
    found = unbounded_inputs(tmp_path)
    assert not found, f"{len(found)} unbounded texts:\n" + "\n".join(found)


class _Inner(BaseModel):
    note: str
    kept: bounds.Text


class _Outer(BaseModel):
    name: str | None
    items: list[_Inner]
    code: typing.Annotated[bounds.Text, Field(max_length=3)]
    word: str = Field(pattern="^[a-z]+$")
    sloppy: str = Field(pattern="[a-z]")


def test_the_walk_finds_a_text_that_takes_nul() -> None:
    assert unbounded(_Outer, [], set()) == [".name", ".items.note", ".sloppy"]


class _Free(BaseModel):
    loose: dict[str, Any]
    kept: bounds.JsonObject
    weights: dict[str, float]
    named: dict[bounds.Text, float]
    anything: Any = None


def test_the_walk_finds_free_json_that_takes_nul() -> None:
    assert unbounded(_Free, [], set()) == [
        ".loose (free JSON)",
        ".weights[]",
        ".anything (free JSON)",
    ]


def test_every_id_a_route_takes_fits_an_integer_column(tmp_path: Path) -> None:
    found = unbounded_ids(tmp_path)
    assert not found, f"{len(found)} ids past 2**31 - 1:\n" + "\n".join(found)


class _Ids(BaseModel):
    case_id: bounds.Id
    unit_ids: list[typing.Annotated[int, Field(ge=1, le=2**63 - 1)]]
    parent_id: int | None = None
    count: int = 0


def test_the_walk_finds_an_id_past_an_integer_column() -> None:
    assert ids_past_integer("body", _Ids, [], set()) == [".unit_ids", ".parent_id"]
