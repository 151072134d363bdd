"""Chinese text in pinyin order, in SQL on both databases.

Sorting names by code point puts 中 (U+4E2D) before 安 (U+5B89); people look for 安 under
"an", before "bei" and "zhong". :func:`pinyin` wraps a column for ``ORDER BY`` so that it
sorts by its pinyin, syllable by syllable:

- PostgreSQL: ``COLLATE "zh-x-icu"``, ICU's Chinese collation, whose default order is pinyin
  (PostgreSQL built with ICU, as its Debian, RPM and official container builds are);
- SQLite: ``COLLATE pinyin``, a collation that :func:`register_sqlite` adds to every
  connection, comparing :func:`pinyin_key` (pypinyin's readings, tone numbers last).

The two agree on names of common characters; a character with several readings takes
pypinyin's on SQLite and ICU's most frequent one on PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin
from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

#: The name of the collation registered on SQLite connections.
SQLITE_COLLATION = "pinyin"
#: ICU's Chinese collation on PostgreSQL (pinyin order).
POSTGRESQL_COLLATION = "zh-x-icu"


@lru_cache(maxsize=65536)
def pinyin_key(text: str) -> tuple[tuple[str, ...], str]:
    """The sort key of ``text``: its syllables in pinyin (lower case, tone digit after each,
    anything not Chinese kept as written, lower-cased), then the text itself to break ties."""
    syllables = tuple(s.lower() for s in lazy_pinyin(text, style=Style.TONE3, errors="default"))
    return syllables, text


def _compare(a: str | None, b: str | None) -> int:
    ka, kb = pinyin_key(a or ""), pinyin_key(b or "")
    return (ka > kb) - (ka < kb)


def register_sqlite(dbapi_connection: Any) -> None:
    """Add the ``pinyin`` collation to a sqlite3 connection."""
    dbapi_connection.create_collation(SQLITE_COLLATION, _compare)


class pinyin(FunctionElement[str]):  # noqa: N801 - reads as SQL: ORDER BY pinyin(name)
    """``column`` collated in pinyin order (for ``ORDER BY``; not for comparisons)."""

    type = String()
    inherit_cache = True


@compiles(pinyin)
def _sqlite(element: pinyin, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.clauses, **kw)} COLLATE {SQLITE_COLLATION}"


@compiles(pinyin, "postgresql")
def _postgresql(element: pinyin, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "{POSTGRESQL_COLLATION}"'
