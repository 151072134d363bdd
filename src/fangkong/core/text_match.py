"""Search text matched literally: the one place that builds a ``LIKE`` on text a user typed.

``%`` and ``_`` are ``LIKE``'s wildcards. Put in a pattern as they come, a search for "50%"
would find "500" and a search for "_" every row; so every character of the user's text is
matched as itself, the wildcards (and the escape character) escaped, on SQLite and
PostgreSQL alike. Matching ignores case (``ILIKE`` on PostgreSQL, ``lower() LIKE lower()`` on
SQLite).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_

#: The escape character of every pattern built here ("/": no backslash, whose meaning in a
#: string literal differs between databases and settings).
ESCAPE = "/"


def escape_like(text: str) -> str:
    """``text`` with ``LIKE``'s wildcards and :data:`ESCAPE` escaped by :data:`ESCAPE`."""
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def contains_text(text: str, *columns: Any) -> ColumnElement[bool]:
    """Whether any of ``columns`` contains ``text`` (case ignored), every character of it
    taken literally."""
    pattern = f"%{escape_like(text)}%"
    return or_(*(column.ilike(pattern, escape=ESCAPE) for column in columns))


def contains_literal(text: str, column: Any) -> ColumnElement[bool]:
    """Whether ``column`` contains ``text`` as it is (case kept), every character of it taken
    literally (a JSON list's member, ``'"explosive"'``, in the list's text)."""
    return column.like(f"%{escape_like(text)}%", escape=ESCAPE)  # type: ignore[no-any-return]
