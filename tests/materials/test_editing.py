"""Editing one holder and one site through the register's services, as the console's forms
do, on both backends: a holder's contact kept when the form leaves it empty, a site's name,
kind, point and capacities changed (its code and holder fixed), and a form's rows of
capacities read back to the rows they came from."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import grid_centre
from fangkong.core.audit import AuditEvent
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.http import forms
from fangkong.materials import editing, register
from fangkong.materials.models import BaseUnit, HolderKind, MaterialClass, SiteKind
from fangkong.materials.schemas import CapacityIn, HolderIn, SiteIn
from materials.materials_helpers import (
    ACTOR,
    CIPHER,
    GRID,
    OTHER_GRID,
    catalogue,
    holder,
    scope_of,
    site,
)


def holder_in(code: str, **values: object) -> HolderIn:
    lon, lat = grid_centre(GRID)
    base: dict[str, object] = {
        "code": code,
        "name": "新名称",
        "kind": HolderKind.DISTRIBUTOR,
        "licence_classes": [MaterialClass.FIREWORKS],
        "lon": lon,
        "lat": lat,
    }
    return HolderIn.model_validate(base | values)


def test_a_holders_contact_stays_unless_typed_anew(db: Session) -> None:
    found = holder(db, "EH1")
    before = (found.contact_name_encrypted, found.contact_phone_encrypted)
    assert before[0] is not None
    register.update_holder(
        db,
        holder=found,
        data=holder_in("EH1"),
        actor=ACTOR,
        cipher=CIPHER,
        scope=None,
        keep_contact=True,
    )
    assert (found.contact_name_encrypted, found.contact_phone_encrypted) == before
    assert (found.name, found.kind) == ("新名称", HolderKind.DISTRIBUTOR)
    register.update_holder(
        db,
        holder=found,
        data=holder_in("EH1", contact_name="李四", contact_phone="13900001234"),
        actor=ACTOR,
        cipher=CIPHER,
        scope=None,
    )
    assert found.contact_name_encrypted is not None
    assert CIPHER.decrypt(found.contact_name_encrypted) == "李四"
    register.update_holder(
        db, holder=found, data=holder_in("EH1"), actor=ACTOR, cipher=CIPHER, scope=None
    )
    assert (found.contact_name_encrypted, found.contact_phone_encrypted) == (None, None)


def test_a_site_is_edited_its_code_and_holder_fixed(db: Session) -> None:
    catalogue(db)
    holder(db, "EH2")
    holder(db, "EH3", grid=OTHER_GRID)
    made = site(db, "ES2", "EH2")
    lon, lat = grid_centre(OTHER_GRID)  # moved out of town: still filed under its holder
    data = SiteIn(
        code="ES2",
        holder_code="EH2",
        name="新库",
        kind=SiteKind.WAREHOUSE,
        lon=lon,
        lat=lat,
        capacities=[
            CapacityIn(material_class=MaterialClass.FIREWORKS, unit=BaseUnit.PIECE, capacity=600)
        ],
    )
    station = scope_of(db, "T-D1-S1")
    register.update_site(db, site=made, data=data, actor=ACTOR, scope=station)
    assert (made.name, made.kind, made.lon) == ("新库", SiteKind.WAREHOUSE, lon)
    assert made.area_path is not None and not station.covers(made.area_path)
    (cap,) = register.capacities_of(db, site_ids=[made.id])[made.id]
    assert (cap.material_class, cap.unit, cap.capacity_milli) == (
        MaterialClass.FIREWORKS,
        BaseUnit.PIECE,
        600_000,
    )
    assert register.get_site_or_raise(db, site_id=made.id, scope=station) is made
    events = db.scalars(
        select(AuditEvent).where(
            AuditEvent.entity == "material_site", AuditEvent.entity_id == str(made.id)
        )
    ).all()
    assert [e.action for e in events] == ["create", "update"]
    with pytest.raises(InvalidInput) as fixed:
        register.update_site(
            db, site=made, data=data.model_copy(update={"code": "ES9"}), actor=ACTOR, scope=None
        )
    assert fixed.value.field == "code"
    with pytest.raises(InvalidInput) as other:
        register.update_site(
            db,
            site=made,
            data=data.model_copy(update={"holder_code": "EH3"}),
            actor=ACTOR,
            scope=None,
        )
    assert other.value.field == "holder_code"
    # A reader of the other district: the site is not theirs, though it stands there.
    with pytest.raises(NotFound):
        register.get_site_or_raise(db, site_id=made.id, scope=scope_of(db, "T-D2"))


def test_a_forms_capacity_rows_read_back_to_their_rows(db: Session) -> None:
    found = holder(db, "EH4")
    values = {
        "code": "ES4",
        "name": "库",
        "kind": "magazine",
        "lon": "118.1",
        "lat": "32.1",
        "capacities.1.material_class": "fireworks",
        "capacities.1.unit": "piece",
        "capacities.1.capacity": "600",
        "capacities.4.material_class": "civil_explosive",
        "capacities.4.unit": "kg",
        "capacities.4.capacity": "-5",
    }
    data, rows = editing.site_input(values, found, None)
    assert rows == [1, 4] and data["holder_code"] == "EH4"
    checked, errors = forms.validate(SiteIn, data, language="en")
    assert checked is None
    renamed = editing.rows_renamed(errors, rows)
    assert list(renamed.fields) == ["capacities.4.capacity"]
    assert renamed.fields["capacities.4.capacity"] == "more than 0"
    assert editing.capacity_rows(values) == 5 + editing.EMPTY_CAPACITY_ROWS
