"""The demo's community forces, tips and seized property, built on the test county (SQLite
and PostgreSQL): a team in most communities and a gap to show, committees short of three,
members masked on their rosters, tips as hazard cases and one rejected, items with chains of
every kind, some overdue with their alerts on the supervision board."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, T0
from fangkong.cases.models import Case
from fangkong.cases.storage import storage_in
from fangkong.community import service as community
from fangkong.community.models import PublicTip, SafetyMember, TipStatus
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.core.security import FieldCipher
from fangkong.custody.models import CustodyItem, Stage
from fangkong.demo.community import build_demo_community


def test_the_demo_community_and_custody(db: Session, tmp_path: Path) -> None:
    cipher = FieldCipher("demo-" + "k" * 40)
    report = build_demo_community(
        db, now=T0, cipher=cipher, storage=storage_in(tmp_path), calendar=CALENDAR
    )
    assert report.teams > 0 and report.members == 9 and report.shifts == 12
    (top,) = [f for f in community.figures(db, scope=SYSTEM_SCOPE) if f.area.code == "T"]
    assert top.residents and top.forces_per_100k is not None
    assert 0 < top.communities_with_team < top.communities  # one community has no patrol...
    assert top.committees_with_3 < top.committees  # ...and a committee is short of three
    assert all(
        m.name_encrypted and "建" not in m.name_encrypted for m in db.scalars(select(SafetyMember))
    )
    statuses = [t.status for t in db.scalars(select(PublicTip))]
    assert statuses.count(TipStatus.REJECTED) == 1 and len(statuses) == report.tips
    stages = {i.stage for i in db.scalars(select(CustodyItem))}
    assert stages >= {Stage.RECEIVED, Stage.STORED, Stage.RETURNED, Stage.DISPOSED}
    assert report.alerts > 0
    alerts = db.scalar(
        select(func.count()).select_from(Case).where(Case.case_type == "custody_overdue")
    )
    assert alerts == report.alerts
