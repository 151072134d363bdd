"""A case at a place (issue 18): its point stored inside its area, refused outside it; the
command map's cases layer (open hazards and disputes with a point, scoped as the list); the
new-case form's map picks the point."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, CIPHER, T0, CasesServer, add_user, area
from factories import grid_centre
from fangkong.cases import service
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import InvalidInput
from fangkong.core.models import Role
from fangkong.core.scoping import Scope

GRID = "T-D1-S1-B1-G1"
HAZARD_FIELDS = {"finding_route": "on_foot", "category": "fire"}


def _scope(db: Session, code: str) -> Scope:
    return Scope(paths=(area(db, code).path,))


def _hazard(db: Session, code: str, lon: float | None, lat: float | None) -> Case:
    place = service.resolve_area(db, scope=None, area_code=code, lon=lon, lat=lat)
    return service.create(
        db,
        case_type="hazard",
        title="隐患",
        area=place,
        fields=dict(HAZARD_FIELDS),
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
        cipher=CIPHER,
        lon=lon,
        lat=lat,
    )


def test_the_point_is_stored_inside_the_area_and_refused_outside(db: Session) -> None:
    lon, lat = grid_centre(GRID)
    case = _hazard(db, GRID, lon, lat)
    assert (case.lon, case.lat) == (lon, lat) and case.h3_cell
    assert case.area.code == GRID
    # A point of the station's grid under the station's own code: inside, kept.
    assert _hazard(db, "T-D1-S1", lon, lat).area.code == "T-D1-S1"
    far_lon, far_lat = grid_centre("T-D2-S2-B2-G2")
    with pytest.raises(InvalidInput, match="outside the case's area") as refused:
        service.resolve_area(db, scope=None, area_code=GRID, lon=far_lon, lat=far_lat)
    assert refused.value.field == "lon"
    with pytest.raises(InvalidInput):  # a point outside the user's areas
        service.resolve_area(db, scope=_scope(db, "T-D2"), area_code=None, lon=lon, lat=lat)
    # A point alone: its deepest area.
    assert service.resolve_area(db, scope=None, lon=far_lon, lat=far_lat).code == ("T-D2-S2-B2-G2")


def test_the_map_layer_holds_open_located_cases_in_scope(db: Session) -> None:
    lon, lat = grid_centre(GRID)
    located = _hazard(db, GRID, lon, lat)
    _hazard(db, GRID, None, None)  # no point: not on the map
    far_lon, far_lat = grid_centre("T-D2-S2-B2-G2")
    far = _hazard(db, "T-D2-S2-B2-G2", far_lon, far_lat)
    everything = Scope(paths=("/",))
    assert [c.id for c in service.get_map_cases(db, scope=everything)] == [far.id, located.id]
    assert [c.id for c in service.get_map_cases(db, scope=_scope(db, "T-D1"))] == [located.id]
    located.closed_at = T0
    db.flush()
    assert service.get_map_cases(db, scope=_scope(db, "T-D1")) == []


def test_the_layer_over_http_is_scoped(cases_server: CasesServer) -> None:
    mine = cases_server.user_token("place_officer", Role.STATION_OFFICER, "T-D1-S1")
    other = cases_server.user_token("place_stranger", Role.STATION_OFFICER, "T-D2-S1")
    lon, lat = grid_centre(GRID)
    with cases_server.client(mine) as client:
        made = client.post(
            "/api/v1/cases",
            json={
                "type": "hazard",
                "title": "地图上的隐患",
                "area_code": GRID,
                "lon": lon,
                "lat": lat,
                "fields": HAZARD_FIELDS,
            },
        )
        assert made.status_code == 201, made.text
        far_lon, far_lat = grid_centre("T-D2-S2-B2-G2")
        refused = client.post(
            "/api/v1/cases",
            json={
                "type": "hazard",
                "title": "x",
                "area_code": GRID,
                "lon": far_lon,
                "lat": far_lat,
                "fields": HAZARD_FIELDS,
            },
        )
        assert refused.status_code == 422 and refused.json()["field"] == "lon"
        layer = client.get("/api/v1/cases/map")
        assert layer.status_code == 200
        features = {f["properties"]["id"]: f for f in layer.json()["features"]}
        feature = features[made.json()["id"]]
        assert feature["geometry"]["coordinates"] == [lon, lat]
        assert feature["properties"]["number"] == made.json()["number"]
        assert "title" not in feature["properties"]
    with cases_server.client(other) as client:
        ids = {f["properties"]["id"] for f in client.get("/api/v1/cases/map").json()["features"]}
        assert made.json()["id"] not in ids


@pytest.mark.browser
def test_pick_the_place_on_the_new_case_form(cases_server: CasesServer, browser: object) -> None:
    if cases_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(cases_server.engine) as session:
        add_user(session, username="place_picker", role=Role.STATION_OFFICER, area_code="T-D1-S1")
        session.commit()
    lon, lat = grid_centre(GRID)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    cases_server.log_in(page, "place_picker")
    page.goto(f"{cases_server.base_url}/cases/new?type=hazard")
    expect(page.locator("#case-map")).to_have_attribute("data-ready", "true", timeout=30_000)
    at = page.evaluate(
        "([lon, lat]) => { const p = window.fangkongCaseMap.project([lon, lat]);"
        " return { x: p.x, y: p.y }; }",
        [lon, lat],
    )
    page.locator("#case-map canvas").click(position=at)
    expect(page.locator("#case-map")).to_have_attribute("data-picked", re.compile(r"\d"))
    expect(page.locator("#new-case select[name=area_code]")).to_have_value(GRID)
    picked_lon = float(page.input_value("#case-lon"))
    assert abs(picked_lon - lon) < 1e-3
    page.fill("#new-case input[name=title]", "地图选点隐患")
    for select_box in page.locator("#new-case select[name^='f_']").all():
        options = select_box.locator("option").all()
        if len(options) > 1:
            select_box.select_option(index=1)
    page.click("#new-case button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    with Session(cases_server.engine) as session:
        case = session.scalars(select(Case).where(Case.title == "地图选点隐患")).one()
        assert case.lon is not None and abs(case.lon - lon) < 1e-3
        assert case.area_path.endswith(f"/{area(session, GRID).id}/")
    # The command map shows it in the cases layer.
    page.goto(f"{cases_server.base_url}/")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    assert int(page.get_attribute("#map", "data-cases") or "0") >= 1
    assert errors == []
    context.close()
