"""A user's search text is matched literally: ``%`` and ``_`` are LIKE's wildcards and must
not act as such (searching "50%" finds "50%", not "500"; "_" does not match every row). One
helper, :func:`fangkong.core.text_match.contains_text`, builds every search's condition; a
test walks the source for a LIKE built elsewhere. On SQLite and PostgreSQL."""

from __future__ import annotations

import ast
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import grid_centre
from fangkong.core.audit import Actor
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.facilities import listing, register
from fangkong.facilities.models import Facility, FacilityType
from fangkong.facilities.schemas import FacilityIn
from fangkong.http.tables import fetch

ACTOR = Actor(user_id=None, username="tester", client="test")
GRID = "T-D1-S1-B1-G1"
ZONE = ZoneInfo("Asia/Shanghai")
SRC = Path(__file__).resolve().parents[2] / "src" / "fangkong"
#: The one module that may call LIKE on user text (it escapes the wildcards).
HELPER = SRC / "core" / "text_match.py"


def _add(db: Session, code: str, name: str) -> None:
    lon, lat = grid_centre(GRID)
    data = FacilityIn.model_validate(
        {
            "code": code,
            "name": name,
            "facility_type": FacilityType.BANK,
            "lon": lon,
            "lat": lat,
        }
    )
    register.create(db, data=data, actor=ACTOR, scope=None)


def _seed(db: Session) -> None:
    _add(db, "LIT-1", "折扣 50% 商店")
    _add(db, "LIT-2", "门牌 500 号")
    _add(db, "LIT-3", "back\\slash a/b")


def _service(db: Session, text: str) -> list[str]:
    _, found = register.get_all(
        db, scope=SYSTEM_SCOPE, filters=register.FacilityFilter(text=text), limit=200
    )
    return sorted(f.code for f in found if f.code.startswith("LIT-"))


def _table(db: Session, text: str) -> list[str]:
    table = listing.table(db, scope=SYSTEM_SCOPE, language="en")
    page = fetch(db, select(Facility), table.parse({"q": text}, zone=ZONE))
    return sorted(f.code for f in page.rows if f.code.startswith("LIT-"))


def test_percent_and_underscore_match_literally_in_the_register(db: Session) -> None:
    _seed(db)
    assert _service(db, "50%") == ["LIT-1"]
    assert _service(db, "50") == ["LIT-1", "LIT-2"]
    assert _service(db, "_") == []
    assert _service(db, "%") == ["LIT-1"]
    assert _service(db, "LIT_") == []
    assert _service(db, "\\") == ["LIT-3"]
    assert _service(db, "a/b") == ["LIT-3"]


def test_percent_and_underscore_match_literally_in_the_console_table(db: Session) -> None:
    _seed(db)
    assert _table(db, "50%") == ["LIT-1"]
    assert _table(db, "_") == []
    assert _table(db, "%") == ["LIT-1"]


def _like_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"like", "ilike", "notlike", "notilike", "not_like", "not_ilike"}
    ]


def test_no_like_is_built_outside_the_helper() -> None:
    found = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path != HELPER and (lines := _like_calls(path))
    }
    assert found == {}, f"LIKE built on unescaped text (use core.text_match): {found}"
