"""REST API of the case engine (``/api/v1/cases/...``): every read scoped to the user's areas."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response

from fangkong.areas import service as area_service
from fangkong.cases import indicators as case_indicators
from fangkong.cases import permissions as perms
from fangkong.cases import present, registry, service
from fangkong.cases.schemas import (
    AttachmentOut,
    BoardOut,
    BoardRowOut,
    CaseDetail,
    CaseIn,
    CasePage,
    CaseTypeOut,
    CommentIn,
    EventOut,
    IndicatorsOut,
    LinkIn,
    LinkOut,
    NoticeOut,
    NoticesReadIn,
    NoticesReadOut,
    PartyOut,
    PersonalOut,
    PurgeOut,
    SuperviseIn,
    TickOut,
    TransitionIn,
)
from fangkong.cases.storage import MAX_BYTES
from fangkong.cases.web import Calendar, Storage, attachment_response
from fangkong.core.bounds import Id, Moment, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    get_cipher,
    requires,
)

router = APIRouter(tags=["cases"], dependencies=[requires(perms.READ)])


@router.get("/cases/types", response_model=list[CaseTypeOut])
def list_types(language: Language) -> list[CaseTypeOut]:
    """The declared case types: states, transitions with their fields, deadlines."""
    return [present.type_out(decl, language) for decl in registry.all_types()]


@router.get("/cases", response_model=CasePage)
def list_cases(
    db: DbSession,
    scope: UserScope,
    type: Annotated[Text | None, Query(max_length=32)] = None,
    state: Annotated[Text | None, Query(max_length=48)] = None,
    area: Annotated[Text | None, Query(max_length=32, description="Area code: its subtree")] = None,
    overdue: bool | None = None,
    open: bool | None = None,
    escalation_risk: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> CasePage:
    """Cases in your areas, newest first, filtered by type, state, area, overdue, open, risk."""
    now = utcnow()
    filters = service.CaseFilter(
        case_type=type,
        state=state,
        area_code=area,
        overdue=overdue,
        open=open,
        escalation_risk=escalation_risk,
    )
    total, items = service.get_all(
        db, scope=scope, now=now, filters=filters, limit=limit, offset=offset
    )
    return CasePage(total=total, items=[present.summary(c, now) for c in items])


@router.post(
    "/cases", response_model=CaseDetail, status_code=201, dependencies=[requires(perms.CREATE)]
)
def create_case(
    body: CaseIn,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    calendar: Calendar,
    language: Language,
) -> CaseDetail:
    """Open a case with the creation fields its type declares, in an area of yours."""
    decl = registry.get(body.type)
    area = service.resolve_area(
        db, scope=scope, area_code=body.area_code, lon=body.lon, lat=body.lat
    )
    cipher = get_cipher(request)
    now = utcnow()
    case = service.create(
        db,
        case_type=decl.name,
        title=body.title,
        description=body.description,
        area=area,
        fields=body.fields,
        user=user,
        actor=actor,
        now=now,
        calendar=calendar,
        cipher=cipher,
        parties=[
            service.PartyIn(role=p.role, name=p.name, contact=p.contact) for p in body.parties
        ],
        lon=body.lon,
        lat=body.lat,
    )
    return present.detail(case, user=user, cipher=cipher, now=now, language=language)


@router.get("/cases/board", response_model=BoardOut)
def supervision_board(
    db: DbSession,
    scope: UserScope,
    area: Annotated[Text | None, Query(max_length=32)] = None,
    type: Annotated[Text | None, Query(max_length=32)] = None,
) -> BoardOut:
    """督办看板: open cases per child area, by age since found, overdue, supervised, at risk."""
    chosen = area_service.get_by_code_or_raise(db, code=area, scope=scope) if area else None
    parent, rows = service.board(db, scope=scope, now=utcnow(), area=chosen, case_type=type)
    return BoardOut(
        area_code=parent.code if parent else None,
        age_buckets_days=list(service.AGE_BUCKETS_DAYS),
        rows=[
            BoardRowOut(
                area_code=r.area.code,
                area_name=r.area.name_zh,
                open=r.open,
                by_age=r.by_age,
                overdue=r.overdue,
                supervised=r.supervised,
                escalated=r.escalated,
                escalation_risk=r.escalation_risk,
            )
            for r in rows
        ],
    )


@router.get("/cases/map", response_model=dict[str, Any])
def cases_map(db: DbSession, scope: UserScope, language: Language) -> dict[str, Any]:
    """The command map's cases layer: the open hazards and disputes of your areas that have a
    point, as GeoJSON (number, type, state and their labels; no titles: free text)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [case.lon, case.lat]},
            "properties": {
                "id": case.id,
                "number": service.number(case),
                "type": case.case_type,
                "type_label": translate(f"cases.type.{case.case_type}", language),
                "state": case.state,
                "state_label": translate(f"cases.{case.case_type}.state.{case.state}", language),
                "overdue": service.is_overdue(case, utcnow()),
            },
        }
        for case in service.get_map_cases(db, scope=scope)
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/cases/indicators", response_model=list[IndicatorsOut])
def indicators(
    db: DbSession,
    scope: UserScope,
    type: Annotated[Text, Query(max_length=32)],
    area: Annotated[Text, Query(max_length=32)],
    start: Moment,
    end: Moment,
) -> list[IndicatorsOut]:
    """Indicators of one case type for an area and each of its children, for cases found in
    [start, end); formulas in ``fangkong.cases.indicators``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(key="error.period.zone", field="start")
    if end <= start or end - start > timedelta(days=3660):
        raise InvalidInput(key="error.period.ten_years", field="end")
    parent = area_service.get_by_code_or_raise(db, code=area, scope=scope)
    results = case_indicators.by_child_area(
        db, case_type=type, parent=parent, start=start, end=end, now=utcnow()
    )
    return [IndicatorsOut(**vars(r)) for r in results]


@router.get("/cases/notices", response_model=list[NoticeOut])
def my_notices(
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    unread: bool = False,
) -> list[NoticeOut]:
    """Reminders, overdue flags, escalations and risk alerts addressed to you."""
    return [
        NoticeOut(
            id=n.id,
            case_id=c.id,
            number=service.number(c),
            kind=n.kind,
            at=n.at,
            read_at=n.read_at,
            title=c.title,
        )
        for n, c in service.notices_for(db, user=user, scope=scope, limit=limit, unread_only=unread)
    ]


@router.post("/cases/notices/read", response_model=NoticesReadOut)
def read_notices(body: NoticesReadIn, db: DbSession, user: CurrentUser) -> NoticesReadOut:
    """Mark your notices read (all of them, or those listed)."""
    return NoticesReadOut(
        marked=service.mark_notices_read(db, user=user, now=utcnow(), notice_ids=body.ids)
    )


@router.post("/cases/tick", response_model=TickOut, dependencies=[requires(perms.ADMIN)])
def run_tick(db: DbSession, calendar: Calendar) -> TickOut:
    """Run the deadline tick now (the server and ``fangkong cases tick`` run it too)."""
    return TickOut(**vars(service.tick(db, now=utcnow(), calendar=calendar)))


@router.post("/cases/purge", response_model=PurgeOut, dependencies=[requires(perms.ADMIN)])
def run_purge(db: DbSession, storage: Storage, actor: RequestActor) -> PurgeOut:
    """Anonymise cases past their retention period."""
    return PurgeOut(**vars(service.purge(db, now=utcnow(), storage=storage, actor=actor)))


@router.get("/cases/{case_id:int}", response_model=CaseDetail)
def read_case(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> CaseDetail:
    """One case with its timeline, masked personal data and the actions open to you."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    return present.detail(
        case, user=user, cipher=get_cipher(request), now=utcnow(), language=language
    )


@router.post(
    "/cases/{case_id:int}/transitions",
    response_model=CaseDetail,
    dependencies=[requires(perms.ACT)],
)
def take_transition(
    case_id: Id,
    body: TransitionIn,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    calendar: Calendar,
    language: Language,
) -> CaseDetail:
    """Move the case along a declared transition with its required fields."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    cipher = get_cipher(request)
    now = utcnow()
    service.transition(
        db,
        case=case,
        name=body.transition,
        fields=body.fields,
        note=body.note,
        user=user,
        actor=actor,
        now=now,
        calendar=calendar,
        cipher=cipher,
        expected_version=body.version,
    )
    return present.detail(case, user=user, cipher=cipher, now=now, language=language)


@router.post(
    "/cases/{case_id:int}/comments",
    response_model=EventOut,
    status_code=201,
    dependencies=[requires(perms.ACT)],
)
def add_comment(
    case_id: Id,
    body: CommentIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> EventOut:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    event = service.comment(db, case=case, text=body.text, user=user, actor=actor, now=utcnow())
    return EventOut(
        id=event.id,
        at=event.at,
        kind=event.kind,
        username=event.username,
        transition=None,
        from_state=None,
        to_state=None,
        note=event.note,
        data=event.data,
        personal=None,
    )


@router.post(
    "/cases/{case_id:int}/supervise",
    response_model=CaseDetail,
    dependencies=[requires(perms.SUPERVISE)],
)
def supervise(
    case_id: Id,
    body: SuperviseIn,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> CaseDetail:
    """督办: a new deadline and a note; the assignee (or the area's actors) is notified."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    now = utcnow()
    service.supervise(
        db, case=case, due_at=body.due_at, note=body.note, user=user, actor=actor, now=now
    )
    return present.detail(case, user=user, cipher=get_cipher(request), now=now, language=language)


@router.post(
    "/cases/{case_id:int}/links",
    response_model=LinkOut,
    status_code=201,
    dependencies=[requires(perms.ACT)],
)
def add_link(
    case_id: Id,
    body: LinkIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> LinkOut:
    """Link an incident, facility, case, event or tip by kind, id and label."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    link = service.add_link(
        db,
        case=case,
        kind=body.kind,
        ref_id=body.ref_id,
        label=body.label,
        user=user,
        actor=actor,
        now=utcnow(),
        scope=scope,
    )
    return LinkOut.model_validate(link)


@router.post(
    "/cases/{case_id:int}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    dependencies=[requires(perms.ACT)],
)
def upload_attachment(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    storage: Storage,
    file: Annotated[UploadFile, File()],
) -> AttachmentOut:
    """Attach a JPEG, PNG, PDF or UTF-8 text file of at most 10 MiB."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    data = file.file.read(MAX_BYTES + 1)
    attachment = service.add_attachment(
        db,
        case=case,
        filename=file.filename or "",
        content_type=file.content_type,
        data=data,
        storage=storage,
        cipher=get_cipher(request),
        user=user,
        actor=actor,
        now=utcnow(),
    )
    return AttachmentOut.model_validate(attachment)


@router.get("/cases/{case_id:int}/attachments/{attachment_id:int}", response_class=Response)
def download_attachment(
    case_id: Id,
    attachment_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    storage: Storage,
) -> Response:
    """The file in clear; a case holding personal data needs the unmask permission. Every
    download is audited."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    attachment, data = service.open_attachment(
        db,
        case=case,
        attachment_id=attachment_id,
        storage=storage,
        cipher=get_cipher(request),
        user=user,
        actor=actor,
    )
    return attachment_response(attachment, data)


@router.get(
    "/cases/{case_id:int}/personal",
    response_model=PersonalOut,
    dependencies=[requires(perms.UNMASK)],
)
def reveal_personal(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> PersonalOut:
    """Parties' names and contacts and personal texts in clear; every read is audited."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    view = service.reveal_personal(
        db, case=case, viewer=user, cipher=get_cipher(request), actor=actor
    )
    return PersonalOut(
        parties=[
            PartyOut(id=p.id, role=p.role, name=p.name, contact=p.contact) for p in view.parties
        ],
        fields=view.fields,
        events=view.events,
    )
