"""REST API of the custody of seized property under ``/api/v1/custody``: items (list, export,
import, one item with its chain), steps appended to the chain, corrections, the overdue items
and the alerts they raise on the supervision board. Every read is scoped to the user's areas;
an item outside them reads as not found.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile

from fangkong.cases.web import get_calendar
from fangkong.core.bounds import MAX_ID, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.custody import importing, listing, service
from fangkong.custody import permissions as perms
from fangkong.custody._common import MAX_IMPORT_BYTES
from fangkong.custody.models import CustodyItem, CustodyStep, ItemCategory, Stage
from fangkong.custody.schemas import (
    AlertsOut,
    CorrectionIn,
    ImportOut,
    ItemDetailOut,
    ItemIn,
    ItemOut,
    ItemPage,
    RowErrorOut,
    StepIn,
    StepOut,
)
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    actor_of,
    requires,
)

router = APIRouter(prefix="/custody", tags=["custody"], dependencies=[requires(perms.READ)])
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
StepId = Annotated[int, Path(ge=1, le=MAX_ID)]
Text64 = Annotated[Text | None, Query(max_length=64, description="Code or reference contains")]
AreaCode = Annotated[Text | None, Query(max_length=32, description="Area code: its subtree")]
Sort = Annotated[Text | None, Query(max_length=32, description="A column; leading - descends")]
Overdue = Annotated[Literal["yes", "no"] | None, Query(description="Past its stage's deadline")]


def item_out(item: CustodyItem) -> ItemOut:
    return ItemOut(
        id=item.id,
        code=item.code,
        category=item.category,
        description=item.description,
        quantity=item.quantity,
        unit=item.unit,
        ref_kind=item.ref_kind,
        ref_number=item.ref_number,
        area_code=item.area.code,
        stage=item.stage,
        stage_at=item.stage_at,
        location=item.location,
        due_at=item.due_at,
        overdue=service.is_overdue(item, utcnow()),
        closed_at=item.closed_at,
        alert_case_id=item.alert_case_id,
    )


def step_out(step: CustodyStep, effective: set[int]) -> StepOut:
    return StepOut(
        id=step.id,
        seq=step.seq,
        stage=step.stage,
        location=step.location,
        handled_by=step.handled_by,
        document=step.document,
        occurred_at=step.occurred_at,
        recorded_at=step.recorded_at,
        recorded_by=step.recorded_by,
        corrects_id=step.corrects_id,
        void=step.void,
        effective=step.id in effective,
    )


def detail_out(db: Any, item: CustodyItem) -> ItemDetailOut:
    steps = service.steps_of(db, item=item)
    live = {link.step.id for link in service.effective(steps)}
    return ItemDetailOut(**item_out(item).model_dump(), steps=[step_out(s, live) for s in steps])


def _query(
    db: Any,
    scope: Scope,
    language: str,
    q: str | None,
    stage: Stage | None,
    category: ItemCategory | None,
    overdue: str | None,
    area: str | None,
    sort: str | None,
) -> tables.TableQuery:
    table = listing.table(db, scope=scope, language=language)
    values = {
        "q": q,
        "stage": stage.value if stage else None,
        "category": category.value if category else None,
        "overdue": overdue,
        "area": area,
    }
    return table.query(sort=sort, values=values)


@router.get("", response_model=ItemPage)
def list_items(
    db: DbSession,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    stage: Stage | None = None,
    category: ItemCategory | None = None,
    overdue: Overdue = None,
    area: AreaCode = None,
    sort: Sort = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> ItemPage:
    """Seized items held in your areas, by code, with where each chain stands."""
    stmt = _query(db, scope, language, q, stage, category, overdue, area, sort).apply(
        listing.base_select(scope)
    )
    total = tables.count(db, stmt)
    page = list(db.scalars(stmt.limit(limit).offset(offset)).unique())
    return ItemPage(total=total, items=[item_out(i) for i in page])


@router.get("/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_items(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    stage: Stage | None = None,
    category: ItemCategory | None = None,
    overdue: Overdue = None,
    area: AreaCode = None,
    sort: Sort = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The items of ``GET /custody`` with the same parameters, every page, as CSV or XLSX
    (audited; never the description)."""
    return tables.export(
        db,
        listing.base_select(scope),
        _query(db, scope, language, q, stage, category, overdue, area, sort),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("nav.custody", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.post(
    "", response_model=ItemDetailOut, status_code=201, dependencies=[requires(perms.WRITE)]
)
def create_item(
    body: ItemIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> ItemDetailOut:
    """Register a seized item held by a station of yours, with its ``received`` step."""
    item = service.create_item(db, data=body, actor=actor, scope=scope, now=utcnow())
    db.refresh(item)
    return detail_out(db, item)


@router.get("/{item_id:int}", response_model=ItemDetailOut)
def get_item(item_id: ItemId, db: DbSession, scope: UserScope) -> ItemDetailOut:
    """An item and its whole chain, corrections included (``effective``: what the chain says
    now)."""
    return detail_out(db, service.get_or_raise(db, item_id=item_id, scope=scope))


@router.post(
    "/{item_id:int}/steps",
    response_model=ItemDetailOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def record_step(
    item_id: ItemId, body: StepIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> ItemDetailOut:
    """Append a step to the item's chain (stored, moved, examined, returned, disposed)."""
    item = service.get_or_raise(db, item_id=item_id, scope=scope)
    service.record_step(db, item=item, data=body, actor=actor, now=utcnow())
    return detail_out(db, item)


@router.post(
    "/{item_id:int}/steps/{step_id:int}/corrections",
    response_model=ItemDetailOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def correct_step(
    item_id: ItemId,
    step_id: StepId,
    body: CorrectionIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> ItemDetailOut:
    """Correct a step by a new one naming it (its values as they should have been, or void);
    the step itself is never changed."""
    item = service.get_or_raise(db, item_id=item_id, scope=scope)
    service.correct_step(db, item=item, step_id=step_id, data=body, actor=actor, now=utcnow())
    return detail_out(db, item)


@router.post("/alerts", response_model=AlertsOut, dependencies=[requires(perms.WRITE)])
def raise_alerts(
    request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> AlertsOut:
    """Open an overdue case on the supervision board for each item of yours past its stage's
    deadline that has none (the server does this every 10 minutes too)."""
    opened = service.raise_alerts(
        db, now=utcnow(), calendar=get_calendar(request), actor=actor, scope=scope
    )
    return AlertsOut(opened=opened)


@router.post("/import", response_model=ImportOut, dependencies=[requires(perms.WRITE)])
def import_items(
    db: DbSession, scope: UserScope, actor: RequestActor, file: Annotated[UploadFile, File()]
) -> ImportOut:
    """Register items from a CSV or XLSX file with a header row (code, category, quantity,
    unit, ref_kind, ref_number, area, received_at, handled_by, location; the export's labels
    are taken too). Each row is checked on its own; an existing code is refused."""
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.custody.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    report = importing.import_items(
        db, name=file.filename or "", data=data, actor=actor, scope=scope, now=utcnow()
    )
    return ImportOut(
        created=report.created,
        errors=[RowErrorOut(row=e.row, field=e.field, message=e.message) for e in report.errors],
    )
