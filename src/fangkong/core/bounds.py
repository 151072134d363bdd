"""The bounds of every input, as annotated types that the API's schemas, path and query
parameters share: what a database column, the calendar arithmetic and the geometry code can
take, so that a value past them is refused as invalid input (422) where it enters, never met
later as an overflow (a 500).

- :data:`Id`: a record's id, 1 to 2**31 - 1 (:data:`MAX_ID`: the id columns are ``INTEGER``,
  64-bit in SQLite but 32-bit in PostgreSQL, where a larger value bound to one is its
  ``integer out of range``, a 500); :data:`Count` (a version, a number kept in such a column)
  0 to the same; :data:`Offset` 0 to 2**63 - 1 (:data:`MAX_BIGINT`: PostgreSQL's ``OFFSET``
  is a ``bigint``).
- :data:`Moment` (:data:`AwareMoment` when the zone is required): a date and time, from
  :data:`EARLIEST` to :data:`LATEST` (2000-01-01 to 2100-12-31, in its own zone);
  :data:`Day`: a date in the same years.
- :data:`Longitude`, :data:`Latitude`: finite degrees (WGS-84) in [-180, 180] and [-90, 90].

- :data:`Text`: a string without NUL characters (:func:`check_text` for text read otherwise).
- :data:`Json` (:data:`JsonObject` for an object): free JSON, a GeoJSON document, a template,
  a case's fields, whose strings and keys hold no NUL (PostgreSQL's ``jsonb`` refuses
  ``\\u0000``), nested at most :data:`MAX_JSON_DEPTH` deep, of at most :data:`MAX_JSON_NODES`
  values, with finite numbers (``jsonb`` has no NaN or infinity).

None of them takes JSON's ``true`` or ``false`` for a number. A value out of bounds is the
API's 422, its field named, as any fault of a request's shape.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from fangkong.core.errors import API_LANGUAGE, InvalidInput
from fangkong.core.i18n import translate

#: The largest value a 64-bit signed integer holds (SQLite's INTEGER, PostgreSQL's BIGINT).
MAX_BIGINT = 2**63 - 1
#: The largest id (and count) an id column holds on both databases: PostgreSQL's INTEGER.
MAX_ID = 2**31 - 1
#: The deepest nesting of free JSON (objects and arrays inside each other).
MAX_JSON_DEPTH = 64
#: The most values (objects, arrays, strings, numbers...) in one free JSON document.
MAX_JSON_NODES = 1_000_000
#: The first and last moments and days the system takes (times are stored in UTC).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
FIRST_DAY = EARLIEST.date()
LAST_DAY = LATEST.date()


def _not_bool(value: object) -> object:
    # JSON's true is no number: pydantic would read it as 1 (an id, a degree of longitude).
    if isinstance(value, bool):
        raise ValueError(translate("error.bounds.boolean", API_LANGUAGE))
    return value


NotBool = BeforeValidator(_not_bool)


def _no_nul(value: str) -> str:
    # A NUL ends a string in C and PostgreSQL refuses it in text: never stored.
    if "\x00" in value:
        raise ValueError(translate("error.bounds.nul", API_LANGUAGE))
    return value


def check_text(value: str, *, field: str) -> str:
    """``value`` unless it holds a NUL character (:class:`InvalidInput` naming ``field``)."""
    if "\x00" in value:
        raise InvalidInput(key="error.bounds.nul", field=field)
    return value


#: Text of any length (give ``max_length`` where it is used) without NUL characters.
Text = Annotated[str, AfterValidator(_no_nul)]


def _bounded_json(value: Any) -> Any:
    # Iterative: a document nested past any stack is refused, not a RecursionError.
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise ValueError(translate("error.bounds.json_size", API_LANGUAGE, max=MAX_JSON_NODES))
        if isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(translate("error.bounds.json_number", API_LANGUAGE))
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(
                    translate("error.bounds.json_depth", API_LANGUAGE, max=MAX_JSON_DEPTH)
                )
            if isinstance(item, dict):
                for key, inner in item.items():
                    if isinstance(key, str):
                        _no_nul(key)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)
    return value


#: Free JSON of any shape (see the module): strings and keys without NUL, bounded depth and
#: size, finite numbers.
Json = Annotated[Any, AfterValidator(_bounded_json)]
#: A free JSON object, bounded as :data:`Json`.
JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
Id = Annotated[int, Ge(1), Le(MAX_ID), NotBool]
Offset = Annotated[int, Ge(0), Le(MAX_BIGINT), NotBool]
Count = Annotated[int, Ge(0), Le(MAX_ID), NotBool]


def _in_years(value: datetime) -> datetime:
    # The year as written first: converting a time at the calendar's edge to UTC overflows.
    if not FIRST_DAY.year <= value.year <= LAST_DAY.year or (
        value.tzinfo is not None and not EARLIEST <= value <= LATEST
    ):
        raise ValueError(_years())
    return value


def _in_days(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(_years())
    return value


def _years() -> str:
    return translate("error.bounds.years", API_LANGUAGE, first=FIRST_DAY.year, last=LAST_DAY.year)


Moment = Annotated[
    datetime,
    AfterValidator(_in_years),
    Field(description=f"ISO 8601 with a zone, in {FIRST_DAY.year}..{LAST_DAY.year}"),
]
AwareMoment = Annotated[
    AwareDatetime,
    AfterValidator(_in_years),
    Field(description=f"ISO 8601 with a zone, in {FIRST_DAY.year}..{LAST_DAY.year}"),
]
Day = Annotated[
    date,
    AfterValidator(_in_days),
    Field(description=f"YYYY-MM-DD, in {FIRST_DAY.year}..{LAST_DAY.year}"),
]
Longitude = Annotated[
    float, NotBool, Field(ge=-180, le=180, allow_inf_nan=False, description="WGS-84 degrees")
]
Latitude = Annotated[
    float, NotBool, Field(ge=-90, le=90, allow_inf_nan=False, description="WGS-84 degrees")
]


def in_range(value: datetime) -> bool:
    """Whether ``value`` lies in the years the system takes (see :data:`Moment`)."""
    try:
        _in_years(value)
    except ValueError:
        return False
    return True
