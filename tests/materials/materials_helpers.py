"""Shared builders of the materials tests: a small catalogue, holders and sites through the
services."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import grid_centre
from fangkong.areas.models import Area
from fangkong.core.audit import Actor
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.materials import register
from fangkong.materials.models import BaseUnit, Holder, HolderKind, MaterialClass, Site, SiteKind
from fangkong.materials.schemas import CapacityIn, HolderIn, MaterialIn, SiteIn

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CIPHER = FieldCipher("m" * 40)
ACTOR = Actor(user_id=None, username="inspector", client="test")
GRID = "T-D1-S1-B1-G1"
OTHER_GRID = "T-D2-S2-B2-G2"


def scope_of(db: Session, *codes: str) -> Scope:
    return Scope(
        paths=tuple(db.scalars(select(Area.path).where(Area.code == c)).one() for c in codes)
    )


def catalogue(db: Session) -> None:
    """An explosive in kg, detonators by the piece (in boxes of 50), a toxic chemical in
    litres (in drums of 200)."""
    for code, cls, unit, units in (
        ("EMX", MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.KG, {}),
        ("DET", MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.PIECE, {"box": 50}),
        ("CYN", MaterialClass.TOXIC_CHEMICAL, BaseUnit.LITRE, {"drum": 200}),
    ):
        register.create_material(
            db,
            data=MaterialIn(
                code=code, name_zh=code, material_class=cls, base_unit=unit, units=units
            ),
            actor=ACTOR,
        )


def holder(
    db: Session,
    code: str,
    *,
    grid: str = GRID,
    classes: tuple[MaterialClass, ...] = tuple(MaterialClass),
    until: date | None = None,
    contact: tuple[str, str] | None = ("王五", "13700001111"),
) -> Holder:
    lon, lat = grid_centre(grid)
    return register.create_holder(
        db,
        data=HolderIn(
            code=code,
            name=f"{code} 爆破公司",
            kind=HolderKind.BLASTING,
            licence_no=f"L-{code}",
            licence_classes=list(classes),
            licence_until=until,
            lon=lon,
            lat=lat,
            contact_name=contact[0] if contact else None,
            contact_phone=contact[1] if contact else None,
        ),
        actor=ACTOR,
        cipher=CIPHER,
        scope=None,
    )


def site(db: Session, code: str, holder_code: str, *, grid: str = GRID, kg: float = 1000) -> Site:
    lon, lat = grid_centre(grid)
    return register.create_site(
        db,
        data=SiteIn(
            code=code,
            holder_code=holder_code,
            name=f"{code} 库",
            kind=SiteKind.MAGAZINE,
            lon=lon + 0.001,
            lat=lat,
            capacities=[
                CapacityIn(
                    material_class=MaterialClass.CIVIL_EXPLOSIVE, unit=BaseUnit.KG, capacity=kg
                ),
                CapacityIn(
                    material_class=MaterialClass.CIVIL_EXPLOSIVE, unit=BaseUnit.PIECE, capacity=5000
                ),
                CapacityIn(
                    material_class=MaterialClass.TOXIC_CHEMICAL, unit=BaseUnit.LITRE, capacity=2000
                ),
            ],
        ),
        actor=ACTOR,
        scope=None,
    )
