"""The community safety forces and the public's tips at their service seam, on SQLite and
PostgreSQL: teams as counts (an informant network keeps no member record), members masked,
revealed with an audit and purged on leaving, shifts and their rosters, the figures against
the targets computed by hand, and a tip taken as a hazard case or rejected with a reason
behind its guard (token, age, proof of work, single use)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, T0, area
from factories import grid_centre
from fangkong.cases import service as cases
from fangkong.cases.models import Case, CaseAttachment, CaseLink
from fangkong.cases.storage import storage_in
from fangkong.community import personal, service, tips
from fangkong.community.models import ShiftStatus, TeamKind, TipCategory, TipStatus
from fangkong.community.schemas import (
    MemberIn,
    PublicTipIn,
    ResidentsIn,
    ShiftIn,
    ShiftReportIn,
    TeamIn,
)
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import scope_of
from fangkong.core.security import FieldCipher

CIPHER = FieldCipher("community-tests-" + "k" * 40)
STATION = "T-D1-S1"
BEAT = "T-D1-S1-B1"
OTHER_BEAT = "T-D1-S1-B2"
GRID = "T-D1-S1-B1-G1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
#: A quick proof of work for the tests (the server asks for 16 bits).
BITS = 8


def _team(db: Session, code: str, kind: TeamKind, area_code: str, **counts: int) -> object:
    return service.create_team(
        db,
        data=TeamIn(code=code, name=code, kind=kind, area=area_code, **counts),
        actor=SYSTEM,
        scope=None,
    )


def test_teams_are_counts_and_an_informant_network_keeps_no_register(db: Session) -> None:
    patrol = _team(db, "CT-P1", TeamKind.VOLUNTEER_PATROL, BEAT, member_count=12)
    informants = _team(
        db, "CT-I1", TeamKind.INFORMANT_NETWORK, BEAT, member_count=6, buildings=5, households=100
    )
    with pytest.raises(Conflict):
        _team(db, "CT-P1", TeamKind.VOLUNTEER_PATROL, BEAT)
    with pytest.raises(InvalidInput) as refused:
        service.add_member(
            db,
            team=informants,
            data=MemberIn(name="王五"),
            cipher=CIPHER,
            actor=SYSTEM,
            now=T0,  # type: ignore[arg-type]
        )
    assert refused.value.key == "error.community.informants_counted"
    # Scoped: a grid of the other station neither sees nor places a team here.
    other = scope_of([area(db, "T-D2-S1").path])
    assert service.get(db, team_id=patrol.id, scope=other) is None  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        service.create_team(
            db,
            data=TeamIn(code="CT-X", name="x", kind=TeamKind.VOLUNTEER_PATROL, area=BEAT),
            actor=SYSTEM,
            scope=other,
        )


def test_members_are_masked_revealed_with_an_audit_and_purged_when_they_leave(
    db: Session,
) -> None:
    team = _team(db, "CT-P2", TeamKind.VOLUNTEER_PATROL, BEAT, member_count=3)
    member = service.add_member(
        db,
        team=team,  # type: ignore[arg-type]
        data=MemberIn(name="张三丰", phone="13712345678"),
        cipher=CIPHER,
        actor=SYSTEM,
        now=T0,
    )
    assert "张三丰" not in (member.name_encrypted or "")
    assert personal.masked_member(member, CIPHER) == ("张**", "137******78")
    assert personal.reveal_member(db, member=member, viewer=None, cipher=CIPHER, actor=SYSTEM) == (
        "张三丰",
        "13712345678",
    )
    read = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "read_personal", AuditEvent.entity == "safety_member"
        )
    ).all()
    assert [e.entity_id for e in read] == [str(member.id)]
    personal.purge(db, now=T0, actor=SYSTEM)
    db.refresh(member)
    assert member.name_encrypted is not None  # serving: kept
    service.member_leaves(db, team=team, member=member, actor=SYSTEM, now=T0)  # type: ignore[arg-type]
    cleared = personal.purge(db, now=T0 + timedelta(minutes=1), actor=SYSTEM)
    db.refresh(member)
    assert member.name_encrypted is None and member.phone_encrypted is None
    assert cleared[personal.MEMBER_NAME] >= 1


def test_shifts_put_current_members_on_the_roster_and_report_turnout(db: Session) -> None:
    team = _team(db, "CT-P3", TeamKind.VOLUNTEER_PATROL, BEAT, member_count=4)
    a, b = (
        service.add_member(
            db,
            team=team,
            data=MemberIn(name=n),
            cipher=CIPHER,
            actor=SYSTEM,
            now=T0,  # type: ignore[arg-type]
        )
        for n in ("甲", "乙")
    )
    start = T0 + timedelta(hours=10)
    with pytest.raises(InvalidInput) as long:
        service.create_shift(
            db,
            team=team,  # type: ignore[arg-type]
            data=ShiftIn(starts_at=start, ends_at=start + timedelta(hours=30)),
            actor=SYSTEM,
            scope=None,
        )
    assert long.value.field == "ends_at"
    with pytest.raises(InvalidInput) as outside:
        service.create_shift(
            db,
            team=team,  # type: ignore[arg-type]
            data=ShiftIn(starts_at=start, ends_at=start + timedelta(hours=4), area=OTHER_BEAT),
            actor=SYSTEM,
            scope=None,
        )
    assert outside.value.field == "area"
    shift = service.create_shift(
        db,
        team=team,  # type: ignore[arg-type]
        data=ShiftIn(
            starts_at=start, ends_at=start + timedelta(hours=4), area=GRID, member_ids=[a.id, b.id]
        ),
        actor=SYSTEM,
        scope=None,
    )
    assert shift.planned == 2 and service.roster_of(db, shift_ids=[shift.id])[shift.id] == sorted(
        [a.id, b.id]
    )
    service.member_leaves(db, team=team, member=b, actor=SYSTEM, now=T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):  # a member who left is put on no shift
        service.create_shift(
            db,
            team=team,  # type: ignore[arg-type]
            data=ShiftIn(starts_at=start, ends_at=start + timedelta(hours=2), member_ids=[b.id]),
            actor=SYSTEM,
            scope=None,
        )
    with pytest.raises(InvalidInput):
        service.report_shift(
            db, shift=shift, data=ShiftReportIn(status=ShiftStatus.DONE), actor=SYSTEM
        )
    service.report_shift(
        db, shift=shift, data=ShiftReportIn(status=ShiftStatus.DONE, turned_out=2), actor=SYSTEM
    )
    assert shift.status is ShiftStatus.DONE and shift.turned_out == 2
    with pytest.raises(Conflict):
        service.report_shift(
            db, shift=shift, data=ShiftReportIn(status=ShiftStatus.CANCELLED), actor=SYSTEM
        )


def test_figures_against_the_targets(db: Session) -> None:
    # Station T-D1-S1: beat B1 has a patrol of 40, a committee of 3 and one of 2, informants
    # 6 over 5 buildings and 100 households; beat B2 has no team. Residents: 5,000 in B1 and
    # 3,000 in B2 (entered by hand); the station has none of its own: their sum.
    _team(db, "CF-P", TeamKind.VOLUNTEER_PATROL, BEAT, member_count=40)
    _team(db, "CF-C1", TeamKind.SAFETY_COMMITTEE, BEAT, member_count=3)
    _team(db, "CF-C2", TeamKind.SAFETY_COMMITTEE, GRID, member_count=2)
    _team(db, "CF-I", TeamKind.INFORMANT_NETWORK, GRID, member_count=6, buildings=5, households=100)
    gone = _team(db, "CF-OLD", TeamKind.VOLUNTEER_PATROL, OTHER_BEAT, member_count=50)
    service.update_team(
        db,
        team=gone,  # type: ignore[arg-type]
        data=TeamIn(
            code="CF-OLD",
            name="x",
            kind=TeamKind.VOLUNTEER_PATROL,
            area=OTHER_BEAT,
            member_count=50,
            active=False,
        ),
        actor=SYSTEM,
        scope=None,
        now=T0,
    )
    service.set_residents(db, area=area(db, BEAT), data=ResidentsIn(residents=5000), actor=SYSTEM)
    service.set_residents(
        db, area=area(db, OTHER_BEAT), data=ResidentsIn(residents=3000), actor=SYSTEM
    )
    rows = {
        f.area.code: f
        for f in service.figures(
            db, scope=scope_of([area(db, STATION).path]), root_path=area(db, STATION).path
        )
    }
    station = rows[STATION]
    assert station.residents == 8000
    assert station.forces == 40 + 3 + 2 + 6
    assert station.forces_per_100k == pytest.approx(51 * 100_000 / 8000)
    assert station.forces_target_met is False  # 637.5 < 1,000
    assert (station.committees, station.committees_with_3) == (2, 1)
    assert (station.communities, station.communities_with_team) == (2, 1)
    assert station.informants_per_building == pytest.approx(6 / 5)
    assert station.informants_per_20_households == pytest.approx(6 * 20 / 100)
    beat = rows[BEAT]
    assert beat.forces_per_100k == pytest.approx(51 * 100_000 / 5000)
    assert beat.forces_target_met is True
    assert rows[OTHER_BEAT].forces == 0 and rows[OTHER_BEAT].communities_with_team == 0
    assert rows[GRID].residents is None and rows[GRID].forces_per_100k is None


# --- tips ---------------------------------------------------------------------------------------


def _form(category: TipCategory = TipCategory.FIRE, **values: object) -> PublicTipIn:
    token = tips.issue_token(CIPHER, now_s=time.time() - 10)
    lon, lat = grid_centre(GRID)
    data: dict[str, object] = {
        "category": category,
        "text": "楼道堆满纸箱，堵住了消防通道",
        "lon": lon,
        "lat": lat,
        "token": token,
        "nonce": tips.solve(token, BITS),
    }
    data.update(values)
    return PublicTipIn.model_validate(data)


def _take(db: Session, form: PublicTipIn, tmp_path: object, **kw: object) -> tips.Taken:
    return tips.take_tip(
        db,
        data=form,
        photo=kw.get("photo"),  # type: ignore[arg-type]
        cipher=CIPHER,
        storage=storage_in(tmp_path),  # type: ignore[arg-type]
        calendar=CALENDAR,
        now=T0,
        difficulty=BITS,
    )


def test_a_tip_becomes_a_hazard_case_at_intake(db: Session, tmp_path: object) -> None:
    taken = _take(
        db,
        _form(place="3号楼2单元", contact="13912345678"),
        tmp_path,
        photo=tips.Photo(filename="a.png", data=PNG),
    )
    assert taken.receipt is not None and taken.case is not None
    tip = taken.tip
    assert tip.status is TipStatus.ACCEPTED and tip.area_path == area(db, GRID).path
    case = taken.case
    assert case.case_type == "hazard" and case.state == "found"
    assert case.data["finding_route"] == "public_tip" and case.data["category"] == "fire"
    assert case.description == "楼道堆满纸箱，堵住了消防通道"
    links = db.scalars(select(CaseLink).where(CaseLink.case_id == case.id)).all()
    assert [(link.kind, link.ref_id) for link in links] == [("tip", str(tip.id))]
    (photo,) = db.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case.id)).all()
    assert photo.content_type == "image/png"
    # The tip keeps no text; its contact is encrypted; the receipt is a keyed digest.
    assert tip.contact_encrypted and "13912345678" not in tip.contact_encrypted
    assert tip.receipt_digest == tips.receipt_digest(CIPHER, taken.receipt)
    assert taken.receipt not in tip.receipt_digest
    found, stage = tips.follow(db, receipt=taken.receipt.lower(), cipher=CIPHER)
    assert found.id == tip.id and stage == "received"
    cases.transition(
        db,
        case=case,
        name="dismiss",
        fields={"reason": "现场核查无隐患"},
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
    )
    assert tips.follow(db, receipt=taken.receipt, cipher=CIPHER)[1] == "no_action"
    # The contact goes 30 days after the case closed.
    personal.purge(db, now=T0 + timedelta(days=29), actor=SYSTEM)
    db.refresh(tip)
    assert tip.contact_encrypted is not None
    personal.purge(db, now=T0 + timedelta(days=30, minutes=1), actor=SYSTEM)
    db.refresh(tip)
    assert tip.contact_encrypted is None


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"lon": 100.0, "lat": 10.0}, "outside_area"),
        ({"text": "火"}, "too_short"),
        ({"text": "看这里 http://example.com/spam"}, "links"),
    ],
)
def test_a_tip_is_rejected_with_a_reason_and_keeps_nothing(
    db: Session, tmp_path: object, values: dict[str, object], reason: str
) -> None:
    taken = _take(db, _form(contact="13912345678", **values), tmp_path)
    assert taken.receipt is None and taken.case is None
    assert taken.tip.status is TipStatus.REJECTED and taken.tip.reject_reason == reason
    assert taken.tip.contact_encrypted is None and taken.tip.case_id is None
    assert db.scalars(select(Case).where(Case.description.contains("example.com"))).all() == []


def test_the_guard_refuses_forged_early_late_unworked_and_reused_forms(
    db: Session, tmp_path: object
) -> None:
    now = time.time()
    good = tips.issue_token(CIPHER, now_s=now - 10)
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")
    early = tips.issue_token(CIPHER, now_s=now)
    late = tips.issue_token(CIPHER, now_s=now - tips.TOKEN_MAX_AGE_S - 1)
    other = tips.issue_token(FieldCipher("another-" + "k" * 40), now_s=now - 10)
    for token, key in (
        (forged, "error.community.tip_token"),
        (other, "error.community.tip_token"),
        ("1.2.3", "error.community.tip_token"),
        (early, "error.community.tip_too_fast"),
        (late, "error.community.tip_token_old"),
    ):
        with pytest.raises(InvalidInput) as refused:
            tips.check_token(CIPHER, token, tips.solve(token, BITS), difficulty=BITS)
        assert refused.value.key == key, token
    unworked = next(
        format(n, "x") for n in range(1000) if not tips.work_done(good, format(n, "x"), BITS)
    )
    with pytest.raises(InvalidInput) as lazy:
        tips.check_token(CIPHER, good, unworked, difficulty=BITS)
    assert lazy.value.key == "error.community.tip_work"
    form = _form()
    _take(db, form, tmp_path)
    with pytest.raises(Conflict) as again:
        _take(db, form, tmp_path)
    assert again.value.key == "error.community.tip_token_used"


def test_the_proof_of_work_counts_leading_zero_bits() -> None:
    assert tips.leading_zero_bits(b"\x00\x00\x01") == 23
    assert tips.leading_zero_bits(b"\x80") == 0
    assert tips.leading_zero_bits(b"\x0f") == 4
    token = tips.issue_token(CIPHER)
    nonce = tips.solve(token, 12)
    assert tips.work_done(token, nonce, 12)


def test_the_rate_per_client_slides() -> None:
    limit = tips.ClientLimit(3, window_s=60)
    assert [limit.take("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limit.take("b", now=3)  # another client counts on its own
    assert limit.retry_after("a", now=3) == 58
    assert limit.take("a", now=60.5)  # the first has left the window
    with pytest.raises(Exception) as refused:
        tips.limit_or_raise(tips.ClientLimit(0), "c")
    assert getattr(refused.value, "status_code", None) == 429


def test_a_photo_is_size_and_type_limited() -> None:
    assert tips.check_photo(tips.Photo("a.jpg", b"\xff\xd8\xff\xe0" + b"0" * 10))[0] == "image/jpeg"
    for data, key in (
        (b"", "error.community.photo_empty"),
        (b"GIF89a" + b"0" * 10, "error.community.photo_type"),
        (PNG + b"0" * tips.PHOTO_MAX_BYTES, "error.community.photo_large"),
    ):
        with pytest.raises(InvalidInput) as refused:
            tips.check_photo(tips.Photo("x.png", data))
        assert refused.value.key == key
