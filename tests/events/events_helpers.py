"""Shared builders of the event and emergency-plan tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from dispatch.dispatch_helpers import area
from factories import grid_centre, street_grid_geojson
from fangkong.core.audit import Actor
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import Post, PostKind, Unit, UnitType
from fangkong.events import register
from fangkong.events.models import EventApplication, VenueKind
from fangkong.events.schemas import EventIn
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ACTOR = Actor(user_id=None, username="events", client="test")
CIPHER = FieldCipher("e" * 40)
GRID = "T-D1-S1-B1-G1"


def street_network(data_dir: Path) -> Network:
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(data_dir)


def square(lon: float, lat: float, half: float = 0.001) -> list[list[float]]:
    return [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
    ]


def event_in(code: str, grid: str = GRID, **values: object) -> EventIn:
    lon, lat = grid_centre(grid)
    base: dict[str, object] = {
        "code": code,
        "name": f"{code} 音乐节",
        "organiser": "县文化传媒有限公司",
        "contact_name": "李四",
        "contact_phone": "13700001111",
        "venue_polygon": square(lon, lat),
        "venue_kind": VenueKind.SQUARE,
        "capacity": 10_000,
        "expected_attendance": 6_000,
        "starts_at": T0 + timedelta(days=10),
        "ends_at": T0 + timedelta(days=10, hours=5),
    }
    return EventIn.model_validate(base | values)


def add_event(db: Session, code: str, grid: str = GRID, **values: object) -> EventApplication:
    return register.create(
        db,
        data=event_in(code, grid, **values),
        user=None,
        actor=ACTOR,
        cipher=CIPHER,
        scope=None,
        now=T0,
        calendar=CALENDAR,
    )


def add_post(db: Session, code: str, grid: str, offset: tuple[float, float] = (0, 0)) -> Post:
    lon, lat = grid_centre(grid)
    return dispatch.create_post(
        db,
        code=code,
        name=f"{code} 警务站",
        kind=PostKind.POLICE_POST,
        lon=lon + offset[0],
        lat=lat + offset[1],
        actor=ACTOR,
    )


def add_unit(db: Session, call_sign: str, post: Post, unit_type: UnitType = UnitType.CAR) -> Unit:
    return dispatch.create_unit(
        db,
        call_sign=call_sign,
        unit_type=unit_type,
        home_area=area(db, "T"),
        home_post=post,
        actor=ACTOR,
        now=T0,
    )
