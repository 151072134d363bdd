"""Every text a request carries is bounded at its schema: no route takes a string that may hold
a NUL character (PostgreSQL refuses NUL in text, and a query with one is its 500; SQLite takes
it, so only the PostgreSQL edge sweep of ``test_edges.py`` met it, on the parameters it could
reach). Here every parameter, form field and body field of every route, the API's and the
console's, is read from the app itself: a string must be :data:`fangkong.core.bounds.Text` (or
an enumeration, or a pattern that refuses NUL), so a route added tomorrow is held too.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

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


def _raises(check: Any, value: str) -> bool:
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
    # Enumerations, literals, numbers, dates, files, and free JSON (dict[str, Any]: a GeoJSON
    # document or a template, checked by its service) are no plain text field.
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return []
    return []


def _parameters(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.header_params
    yield from dependant.cookie_params
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _parameters(sub)


def unbounded_inputs(tmp: Path) -> list[str]:
    engine = make_engine(f"sqlite:///{tmp / 'bounds.db'}")
    settings = Settings(
        data_dir=tmp,
        secret_key="s" * 40,
        environment="test",
        database_url=engine.url.render_as_string(hide_password=False),
    )
    app = create_app(settings, engine=engine)
    found: list[str] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for param in _parameters(route.dependant):
            info = param.field_info
            for place in unbounded(info.annotation, list(info.metadata), set()):
                methods = ",".join(sorted(context.methods or ()))
                found.append(f"{methods} {context.path} {param.name}{place}")
    engine.dispose()
    return sorted(set(found))


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
