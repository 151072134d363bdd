"""The key-facility register as a table of :mod:`fangkong.http.tables`: the facilities of the
user's areas, searched and filtered by type and area, sorted by any column, exported as CSV
or XLSX. Its columns' keys are the import's, so an export reads back."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.core.text_match import contains_text
from fangkong.facilities.models import Facility, FacilityType
from fangkong.http.tables import Column, Filter, Table

FLAGS = (
    "physical_barriers",
    "alarm_networked",
    "video_networked",
    "school_gate_post",
    "closed_management",
)
COUNTS = ("staff_count", "guards_full_time", "guards_part_time")
#: The columns of an import (and of an export): what :class:`~.schemas.FacilityIn` takes.
IMPORT_COLUMNS = ("code", "name", "facility_type", "address", *COUNTS, *FLAGS, "lon", "lat")
REQUIRED_COLUMNS = ("code", "name", "facility_type", "lon", "lat")


def base_select(scope: Scope) -> Select[Facility]:
    return select(Facility).where(scope.clause(Facility.area_path))


def table(session: Session, *, scope: Scope, language: str) -> Table:
    """The register's table for a reader with ``scope`` in ``language``, by code."""

    def t(key: str) -> str:
        return translate(key, language)

    def area(code: str) -> ColumnElement[bool]:
        found = area_service.get_by_code_or_raise(session, code=code, scope=scope)
        return Facility.area_path.startswith(found.path, autoescape=True)

    def text(value: str) -> ColumnElement[bool]:
        return contains_text(value, Facility.code, Facility.name, Facility.address)

    yes, no = t("facilities.yes"), t("facilities.no")

    def flag_value(name: str) -> Callable[[Facility], str]:
        return lambda f: yes if getattr(f, name) else no

    def count_value(name: str) -> Callable[[Facility], int]:
        return lambda f: int(getattr(f, name))

    def flag_column(name: str) -> Column:
        return Column(
            name,
            t(f"facilities.field.{name}"),
            flag_value(name),
            sort=getattr(Facility, name),
            show=name in ("alarm_networked", "video_networked"),
        )

    return Table(
        name="facility",
        columns=(
            Column("code", t("facilities.field.code"), lambda f: f.code, sort=Facility.code),
            Column(
                "name", t("facilities.field.name"), lambda f: f.name, sort=pinyin(Facility.name)
            ),
            Column(
                "facility_type",
                t("facilities.field.facility_type"),
                lambda f: t(f"facilities.type.{f.facility_type.value}"),
                sort=Facility.facility_type,
            ),
            Column("address", t("facilities.field.address"), lambda f: f.address, show=False),
            *(
                Column(
                    name,
                    t(f"facilities.field.{name}"),
                    count_value(name),
                    sort=getattr(Facility, name),
                    numeric=True,
                    show=name != "guards_part_time",
                )
                for name in COUNTS
            ),
            *(flag_column(name) for name in FLAGS),
            Column(
                "area",
                t("facilities.field.area"),
                lambda f: f.area.code if f.area else None,
                sort=Facility.area_path,
            ),
            Column("lon", t("facilities.field.lon"), lambda f: f.lon, numeric=True, show=False),
            Column("lat", t("facilities.field.lat"), lambda f: f.lat, numeric=True, show=False),
        ),
        filters=(
            Filter("q", t("facilities.search"), where=text, max_length=64),
            Filter(
                "facility_type",
                t("facilities.field.facility_type"),
                "choice",
                where=lambda v: Facility.facility_type == v,
                choices=tuple((v.value, t(f"facilities.type.{v.value}")) for v in FacilityType),
            ),
            Filter("area", t("facilities.field.area"), where=area, max_length=32),
        ),
        default_sort="code",
        tiebreak=(Facility.id,),
    )
