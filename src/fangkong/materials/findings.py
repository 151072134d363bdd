"""Discrepancies as people read them, and as cases on the engine.

Each discrepancy the reconciliation finds opens at most one ``material_discrepancy`` case,
in the holder's area and linked to it: its fingerprint (what it is about: the ledger rows or
the count) is kept in ``material_finding``, so reconciling again opens no second case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.core.audit import Actor
from fangkong.core.i18n import translate
from fangkong.core.models import User
from fangkong.core.scoping import as_system
from fangkong.materials.models import Finding, Holder, Material, Site
from fangkong.materials.reconcile import Discrepancy
from fangkong.materials.units import from_milli

CASE_TYPE = "material_discrepancy"
LINK_KIND = "material_holder"
OPTION = "cases.material_discrepancy.option.discrepancy"


@dataclass
class Names:
    """Codes of the holders, sites and materials a reconciliation names, read once."""

    holders: dict[int, Holder]
    sites: dict[int, Site]
    materials: dict[int, Material]

    @classmethod
    def of(cls, session: Session, found: Iterable[Discrepancy | object]) -> Names:
        holder_ids: set[int] = set()
        site_ids: set[int] = set()
        material_ids: set[int] = set()
        for item in found:
            for attr, bucket in (
                ("holder_id", holder_ids),
                ("counterparty_id", holder_ids),
                ("site_id", site_ids),
                ("material_id", material_ids),
            ):
                value = getattr(item, attr, None)
                if value is not None:
                    bucket.add(int(value))
        with as_system(session):  # a counterparty may lie outside the reader's areas
            holders = {
                h.id: h for h in session.scalars(select(Holder).where(Holder.id.in_(holder_ids)))
            }
        return cls(
            holders=holders,
            sites={s.id: s for s in session.scalars(select(Site).where(Site.id.in_(site_ids)))},
            materials={
                m.id: m
                for m in session.scalars(select(Material).where(Material.id.in_(material_ids)))
            },
        )

    def holder(self, holder_id: int | None) -> str | None:
        return self.holders[holder_id].code if holder_id in self.holders else None

    def site(self, site_id: int | None) -> str | None:
        return self.sites[site_id].code if site_id in self.sites else None

    def material(self, material_id: int | None) -> str | None:
        return self.materials[material_id].code if material_id in self.materials else None

    def unit(self, material_id: int | None) -> str:
        m = self.materials.get(material_id) if material_id is not None else None
        return m.base_unit.value if m is not None else ""


def describe(d: Discrepancy, names: Names, language: str) -> str:
    """One sentence saying what is wrong, in ``language``."""
    unit = names.unit(d.material_id)
    if d.kind.value == "transfer_time":
        expected = f"{(d.expected or 0) / 3600:g} h"
        actual = f"{(d.actual or 0) / 3600:g} h"
    else:
        expected = "" if d.expected is None else f"{from_milli(d.expected):,.3f} {unit}"
        actual = "" if d.actual is None else f"{from_milli(d.actual):,.3f} {unit}"
    return translate(
        f"materials.discrepancy.{d.kind.value}",
        language,
        holder=names.holder(d.holder_id) or "",
        site=names.site(d.site_id) or "",
        material=names.material(d.material_id) or "",
        counterparty=names.holder(d.counterparty_id) or "",
        expected=expected,
        actual=actual,
        rows=d.rows,
        ids=", ".join(str(i) for i in d.movement_ids),
        count=d.count_id or "",
    )


def cases_of(session: Session, *, fingerprints: list[str]) -> dict[str, int | None]:
    """The case each fingerprint opened."""
    found: dict[str, int | None] = {}
    for start in range(0, len(fingerprints), 1000):
        chunk = fingerprints[start : start + 1000]
        found.update(
            {
                fp: case_id
                for fp, case_id in session.execute(
                    select(Finding.fingerprint, Finding.case_id).where(
                        Finding.fingerprint.in_(chunk)
                    )
                ).all()
            }
        )
    return found


def open_cases(
    session: Session,
    *,
    discrepancies: list[Discrepancy],
    user: User | None,
    actor: Actor,
    now: datetime,
    calendar: BusinessCalendar,
) -> tuple[list[int], int]:
    """Open a case for each discrepancy that has none: (the cases opened, how many had one)."""
    known = cases_of(session, fingerprints=[d.fingerprint for d in discrepancies])
    names = Names.of(session, discrepancies)
    opened: list[int] = []
    existing = 0
    for d in discrepancies:
        if d.fingerprint in known:
            existing += 1
            continue
        holder = names.holders[d.holder_id]
        area = session.get(Area, holder.area_id) if holder.area_id else None
        if area is None:
            continue
        label = translate(f"{OPTION}.{d.kind.value}", "zh-CN")
        case = cases.create(
            session,
            case_type=CASE_TYPE,
            title=f"{holder.code}: {label}",
            description=describe(d, names, "zh-CN"),
            area=area,
            fields={
                "discrepancy": d.kind.value,
                "holder": holder.code,
                "fingerprint": d.fingerprint,
            },
            user=user,
            actor=actor,
            now=now,
            calendar=calendar,
            lon=holder.lon,
            lat=holder.lat,
        )
        cases.add_link(
            session,
            case=case,
            kind=LINK_KIND,
            ref_id=str(holder.id),
            label=holder.code,
            user=user,
            actor=actor,
            now=now,
        )
        session.add(
            Finding(
                fingerprint=d.fingerprint,
                kind=d.kind,
                holder_id=holder.id,
                case_id=case.id,
                detail={
                    "site": names.site(d.site_id),
                    "material": names.material(d.material_id),
                    "movement_ids": list(d.movement_ids),
                    "count_id": d.count_id,
                    "expected": d.expected,
                    "actual": d.actual,
                    "at": datetime.fromtimestamp(d.at_s, UTC).isoformat(),
                },
                area_path=holder.area_path,
                found_at=now,
            )
        )
        known[d.fingerprint] = case.id
        opened.append(case.id)
    session.flush()
    return opened, existing
