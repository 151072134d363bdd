"""Address suggestions (issue 18): a code prefix, Chinese or English text (accents aside),
full pinyin or its initials; only the caller's areas."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.areas import service
from fangkong.areas.models import StandardAddress
from fangkong.areas.search import fold, search_key
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.core.scoping import Scope

ALL = Scope(paths=("/",))


def _scope_of(db: Session, code: str) -> Scope:
    return Scope(paths=(service.get_by_code_or_raise(db, code=code).path,))


def _seed(db: Session) -> None:
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    far_lon, far_lat = grid_centre("T-D2-S2-B2-G2")
    service.create_address(
        db, code="ZS-001", text_zh="中山路1号", text_en="1 Zhōngshān Road",
        lon=lon, lat=lat, actor=SYSTEM,
    )  # fmt: skip
    service.create_address(
        db, code="JF-002", text_zh="解放路2号", text_en="2 Jiěfàng Road",
        lon=lon + 2e-4, lat=lat, actor=SYSTEM,
    )  # fmt: skip
    service.import_addresses(
        db,
        rows=[
            service.AddressRow(
                code="ZS-900", text_zh="中山北路9号", text_en="", lon=far_lon, lat=far_lat
            )
        ],
        actor=SYSTEM,
    )


def _codes(db: Session, q: str, scope: Scope = ALL) -> list[str]:
    return [a.code for a in service.search_addresses(db, scope=scope, q=q, limit=20)]


def test_the_key_folds_accents_case_and_spaces_and_holds_pinyin() -> None:
    assert fold(" Zhōngshān  ROAD ") == "zhongshanroad"
    key = search_key("中山路1号", "1 Zhōngshān Road")
    assert key.split("|") == ["中山路1号", "1zhongshanroad", "zhongshanlu1hao", "zsl1h"]


def test_search_by_code_text_pinyin_and_initials(db: Session) -> None:
    _seed(db)
    assert _codes(db, "ZS-0") == ["ZS-001"]
    assert _codes(db, "zs-9") == ["ZS-900"]  # a code prefix, case aside
    assert _codes(db, "中山") == ["ZS-001", "ZS-900"]
    assert _codes(db, "解放") == ["JF-002"]
    assert _codes(db, "ZHONGSHAN road") == ["ZS-001"]
    assert _codes(db, "zhōngshān") == ["ZS-001", "ZS-900"]
    assert _codes(db, "jiefang") == ["JF-002"]
    assert _codes(db, "zhongshan") == ["ZS-001", "ZS-900"]
    assert _codes(db, "zs") == ["ZS-001", "ZS-900"]  # initials
    assert _codes(db, "zsbl") == ["ZS-900"]
    assert _codes(db, "   ") == []
    assert _codes(db, "%") == []  # no wildcard
    found = service.search_addresses(db, scope=ALL, q="lu", limit=1)
    assert len(found) == 1


def test_search_stays_in_scope(db: Session) -> None:
    _seed(db)
    assert _codes(db, "zhongshan", _scope_of(db, "T-D1")) == ["ZS-001"]
    assert _codes(db, "ZS-9", _scope_of(db, "T-D1")) == []
    assert _codes(db, "zs", _scope_of(db, "T-D2")) == ["ZS-900"]


def test_nearest_address_in_scope(db: Session) -> None:
    _seed(db)
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    near = service.nearest_address(db, scope=ALL, lon=lon + 1.5e-4, lat=lat)
    assert near is not None and near.code == "JF-002"
    assert service.nearest_address(db, scope=_scope_of(db, "T-D2"), lon=lon, lat=lat) is None
    assert service.nearest_address(db, scope=ALL, lon=lon + 0.5, lat=lat) is None


def test_rows_without_a_key_are_not_found_until_filled(db: Session) -> None:
    # What the migration fills: a row stored before the key existed.
    _seed(db)
    db.execute(update(StandardAddress).values(search_key=""))
    assert _codes(db, "zhongshan") == []
    for address in db.query(StandardAddress):
        address.search_key = search_key(address.text_zh, address.text_en)
    db.flush()
    assert _codes(db, "zhongshan") == ["ZS-001", "ZS-900"]


def test_search_over_http_is_scoped_and_bounded(live_server: LiveServer) -> None:
    token = live_server.admin_token()
    lon, lat = grid_centre("T-D1-S1-B2-G2")
    far_lon, far_lat = grid_centre("T-D2-S2-B1-G1")
    with live_server.client(token) as client:
        for code, text, x, y in (
            ("SRCH-1", "翠湖路1号", lon, lat),
            ("SRCH-2", "翠湖路2号", far_lon, far_lat),
        ):
            made = client.post(
                "/api/v1/addresses",
                json={"code": code, "text_zh": text, "text_en": "Cuìhú Rd", "lon": x, "lat": y},
            )
            assert made.status_code == 201, made.text
        found = client.get("/api/v1/addresses/search", params={"q": "cuihu"})
        assert found.status_code == 200
        assert [a["code"] for a in found.json()] == ["SRCH-1", "SRCH-2"]
        assert found.json()[0]["text_zh"] == "翠湖路1号"
        assert client.get("/api/v1/addresses/search", params={"q": "chl"}).status_code == 200
        assert client.get("/api/v1/addresses/search", params={"q": "x" * 101}).status_code == 422
        assert (
            client.get("/api/v1/addresses/search", params={"q": "ch", "limit": 21}).status_code
            == 422
        )
        assert client.get("/api/v1/addresses/search").status_code == 422
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="search_d1") is None:
            auth.create(
                session,
                username="search_d1",
                display_name="D1",
                password=TEST_PASSWORD,
                role=Role.STATION_OFFICER,
                area_codes=["T-D1"],
                actor=SYSTEM,
            )
            session.commit()
    with live_server.client(live_server.token("search_d1")) as client:
        found = client.get("/api/v1/addresses/search", params={"q": "chl"}).json()
        assert [a["code"] for a in found] == ["SRCH-1"]


@pytest.mark.parametrize("q", ["ZS", "zs"])
def test_code_prefix_comes_first(db: Session, q: str) -> None:
    _seed(db)
    assert _codes(db, q)[:2] == ["ZS-001", "ZS-900"]
