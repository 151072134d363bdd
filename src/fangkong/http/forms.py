"""Console forms that create or edit one record: the form's fields checked by the schema the
API checks, and every fault shown next to its field in the reader's language.

A page reads its form with :func:`form_values` (a dependency: the body is read on the event
loop, the handler runs in the thread pool), turns the strings into the schema's input
(:func:`text`, :func:`flag`; an empty field is left out so that the schema's default
applies), checks it with :func:`validate` and calls the service inside a savepoint; a
domain error the service raises becomes the fault of the field it names
(:func:`from_error`). The template shows ``errors.fields[name]`` beside each input and
``errors.form`` above the form.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from fangkong.core.errors import FangkongError
from fangkong.core.i18n import translate

M = TypeVar("M", bound=BaseModel)

#: At most this many characters of a field are kept (to show it back); the schema refuses
#: anything longer than its own limit, which is always lower.
MAX_FIELD = 4096


@dataclass
class FormErrors:
    """The faults of a submitted form: by field (its input's name), and one of the whole form."""

    fields: dict[str, str] = field(default_factory=dict)
    form: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields) or self.form is not None

    def add(self, name: str, message: str) -> None:
        """Keep the first fault of each field."""
        self.fields.setdefault(name, message)


async def form_values(request: Request) -> dict[str, str]:
    """The submitted form's text fields (the CSRF token left out; a file or a repeated name
    keeps its first text value)."""
    form = await request.form()
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and name != "csrf_token" and name not in values:
            values[name[:64]] = value[:MAX_FIELD]
    return values


def text(values: Mapping[str, str], *names: str) -> dict[str, str]:
    """The fields ``names`` that were filled in, stripped; an empty one is left out."""
    found: dict[str, str] = {}
    for name in names:
        value = values.get(name, "").strip()
        if value:
            found[name] = value
    return found


def flag(values: Mapping[str, str], name: str) -> bool:
    """A checkbox: ticked when it was sent with any value."""
    return name in values


#: The schema's fault types and the catalogue's sentence for each (``error.form.*``).
_KEYS = {
    "missing": "required",
    "string_too_short": "required",
    "string_too_long": "too_long",
    "int_parsing": "whole_number",
    "int_from_float": "whole_number",
    "int_type": "whole_number",
    "float_parsing": "number",
    "float_type": "number",
    "finite_number": "number",
    "greater_than_equal": "at_least",
    "greater_than": "above",
    "less_than_equal": "at_most",
    "less_than": "below",
    "enum": "choice",
    "literal_error": "choice",
    "bool_parsing": "choice",
    "bool_type": "choice",
    "date_parsing": "date",
    "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date",
    "date_type": "date",
    "too_long": "too_many",
}


def fault_text(error: Mapping[str, Any], language: str) -> str:
    """A schema fault (one of pydantic's errors) as a sentence in ``language``."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    key = _KEYS.get(kind, "invalid")
    if kind == "string_too_short" and ctx.get("min_length", 1) > 1:
        key = "too_short"
    params: dict[str, Any] = {}
    if key in ("too_long", "too_short", "too_many"):
        params["n"] = ctx.get("max_length", ctx.get("min_length", ""))
    elif key in ("at_least", "above", "at_most", "below"):
        bound = ctx.get({"at_least": "ge", "above": "gt", "at_most": "le", "below": "lt"}[key])
        params["n"] = f"{bound:g}" if isinstance(bound, float) else bound
    return translate(f"error.form.{key}", language, **params)


def validate(
    model: type[M], data: Mapping[str, Any], *, language: str, errors: FormErrors | None = None
) -> tuple[M | None, FormErrors]:
    """``data`` as ``model``, or None and each field's first fault in ``language`` (a nested
    field is named by its path joined with dots: ``capacities.0.capacity``)."""
    found = errors if errors is not None else FormErrors()
    try:
        checked = model.model_validate(dict(data))
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())) or None
            message = fault_text(error, language)
            if where is None:
                found.form = found.form or message
            else:
                found.add(where, message)
        return None, found
    if found:
        return None, found
    return checked, found


def from_error(
    exc: FangkongError, *, language: str, fields: Collection[str], errors: FormErrors | None = None
) -> FormErrors:
    """A service's refusal as the fault of the field it names when the form has that field,
    else of the whole form."""
    found = errors if errors is not None else FormErrors()
    message = exc.text(language)
    if exc.field is not None and exc.field in fields:
        found.add(exc.field, message)
    else:
        found.form = message
    return found
