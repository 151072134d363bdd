"""Names in Chinese sort by their pinyin (issue 18), on SQLite and PostgreSQL: the areas'
table sorted by name in zh-CN reads 安定, 安宁, 北, 城, 西, 中 (not by code point, which
puts 中 first and 安宁 before 安定); English names sort as text; the order is pypinyin's."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pypinyin import lazy_pinyin
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas import listing
from fangkong.areas.models import Area
from fangkong.core.collation import pinyin_key
from fangkong.core.scoping import Scope
from fangkong.http import tables

ZONE = ZoneInfo("Asia/Shanghai")
#: The grids of station T-D1-S1 renamed: code-point order is 中, 北, 城, 安宁, 安定, 西.
NAMES = {
    "T-D1-S1-B1-G1": "中山网格",
    "T-D1-S1-B1-G2": "北门网格",
    "T-D1-S1-B2-G1": "西湖网格",
    "T-D1-S1-B2-G2": "安宁网格",
}
PINYIN_ORDER = ["安宁网格", "北门网格", "西湖网格", "中山网格"]


def _rename(db: Session) -> None:
    for area in db.scalars(select(Area).where(Area.code.in_(NAMES))):
        area.name_zh = NAMES[area.code]
    beat = db.scalars(select(Area).where(Area.code == "T-D1-S1-B1")).one()
    beat.name_zh = "安定警格"
    db.flush()


def _names(db: Session, language: str, sort: str) -> list[str]:
    station = db.scalars(select(Area).where(Area.code == "T-D1-S1")).one()
    scope = Scope(paths=(station.path,))
    table = listing.area_table(db, scope=scope, language=language)
    query = table.parse({"sort": sort, "level": "grid"}, zone=ZONE)
    page = tables.fetch(db, listing.area_select(scope), query, zone=ZONE)
    return [row[0].name(language) for row in page.rows]


def test_the_key_is_pinyin_syllable_by_syllable() -> None:
    assert sorted(["中山", "安宁", "安定", "北门", "安"], key=pinyin_key) == [
        "安",
        "安定",
        "安宁",
        "北门",
        "中山",
    ]
    assert sorted(PINYIN_ORDER, key=lambda n: lazy_pinyin(n)) == PINYIN_ORDER


def test_areas_by_name_in_chinese_follow_pinyin(db: Session) -> None:
    _rename(db)
    assert sorted(NAMES.values()) != PINYIN_ORDER  # code-point order would fail this test
    assert _names(db, "zh-CN", "name") == PINYIN_ORDER
    assert _names(db, "zh-CN", "-name") == PINYIN_ORDER[::-1]
    # Every level: the beat 安定警格 (an ding) comes before the grid 安宁网格 (an ning).
    station = db.scalars(select(Area).where(Area.code == "T-D1-S1")).one()
    scope = Scope(paths=(station.path,))
    table = listing.area_table(db, scope=scope, language="zh-CN")
    page = tables.fetch(
        db, listing.area_select(scope), table.parse({"sort": "name"}, zone=ZONE), zone=ZONE
    )
    names = [row[0].name_zh for row in page.rows]
    assert names == sorted(names, key=pinyin_key)
    assert names.index("安定警格") < names.index("安宁网格")


def test_english_names_sort_as_text(db: Session) -> None:
    _rename(db)
    assert _names(db, "en", "name") == sorted(_names(db, "en", "name"))


def test_addresses_by_text_in_chinese_follow_pinyin(db: Session) -> None:
    from factories import grid_centre
    from fangkong.areas import service
    from fangkong.core.audit import SYSTEM

    lon, lat = grid_centre("T-D1-S1-B1-G1")
    texts = ["中山路1号", "北京路2号", "安定路3号"]
    for n, text in enumerate(texts):
        service.create_address(
            db, code=f"PY-{n}", text_zh=text, text_en=f"{n} Road", lon=lon, lat=lat, actor=SYSTEM
        )
    db.flush()
    scope = Scope(paths=("/",))
    table = listing.address_table(db, scope=scope, language="zh-CN")
    query = table.parse({"sort": "text", "q": "PY-"}, zone=ZONE)
    page = tables.fetch(db, listing.address_select(scope), query, zone=ZONE)
    assert [row[0].text_zh for row in page.rows] == ["安定路3号", "北京路2号", "中山路1号"]
