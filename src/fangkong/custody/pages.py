"""Console pages of the custody of seized property: the items (the shared table, overdue
first to find, export, import), an item with its whole chain — corrections shown beside what
they replace — and the forms that append a step or a correction (at phone width: the officer
at the store room records the step there)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.custody import importing, listing, service
from fangkong.custody import permissions as perms
from fangkong.custody._common import MAX_IMPORT_BYTES
from fangkong.custody.models import ItemCategory, RefKind, Stage
from fangkong.custody.schemas import CorrectionIn, ItemIn, StepIn
from fangkong.http import tables
from fangkong.http.deps import CurrentUser, DbSession, Language, RequestActor, UserScope, requires
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
StepId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _invalid(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "form"
    return InvalidInput(key="error.custody.form_field", params={"field": field}, field=field)


def _moment(value: str, request: Request, field: str) -> datetime:
    """A ``datetime-local`` value in the county's zone."""
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            key="error.custody.form_field", params={"field": field}, field=field
        ) from None
    return local.replace(tzinfo=request.app.state.settings.zone) if local.tzinfo is None else local


def _list(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    *,
    imported: Any = None,
    error: str | None = None,
) -> Response:
    now = utcnow()
    return tables.list_page(
        request,
        db,
        listing.table(db, scope=scope, language=language),
        listing.base_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("nav.custody", language),
        template="custody/list.html",
        context=lambda page: {
            "overdue": {i.id: service.is_overdue(i, now) for i in page.rows},
            "can_write": auth.can(user, perms.WRITE),
            "categories": [c.value for c in ItemCategory],
            "refs": [r.value for r in RefKind],
            "imported": imported,
            "error": error,
        },
    )


@router.get("/custody", response_class=HTMLResponse)
def items_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """涉案财物: the seized items of your areas as the shared table; export, import, new."""
    return _list(request, db, user, scope, language)


@router.post("/custody/items", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def create_item_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    code: Annotated[Text, Form(max_length=32)],
    category: Annotated[Text, Form(max_length=16)],
    ref_kind: Annotated[Text, Form(max_length=16)],
    ref_number: Annotated[Text, Form(max_length=48)],
    area: Annotated[Text, Form(max_length=32)],
    received_at: Annotated[Text, Form(max_length=32)],
    handled_by: Annotated[Text, Form(max_length=64)],
    quantity: Annotated[Text, Form(max_length=12)] = "1",
    unit: Annotated[Text, Form(max_length=16)] = "piece",
    description: Annotated[Text, Form(max_length=500)] = "",
    location: Annotated[Text, Form(max_length=128)] = "",
) -> Response:
    """A new item with its ``received`` step; on to its page."""
    try:
        data = ItemIn.model_validate(
            {
                "code": code,
                "category": category,
                "ref_kind": ref_kind,
                "ref_number": ref_number,
                "area": area,
                "received_at": _moment(received_at, request, "received_at"),
                "handled_by": handled_by,
                "quantity": int(quantity) if quantity.isdigit() else quantity,
                "unit": unit or "piece",
                "description": description,
                "location": location,
            }
        )
        item = service.create_item(db, data=data, actor=actor, scope=scope, now=utcnow())
    except ValidationError as exc:
        return _list(request, db, user, scope, language, error=_invalid(exc).text(language))
    except FangkongError as exc:
        return _list(request, db, user, scope, language, error=exc.text(language))
    return RedirectResponse(f"/custody/{item.id}", status_code=303)


@router.post("/custody/import", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def import_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> Response:
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    try:
        if len(data) > MAX_IMPORT_BYTES:
            raise InvalidInput(
                key="error.custody.file_large",
                params={"mib": MAX_IMPORT_BYTES >> 20},
                field="file",
            )
        report = importing.import_items(
            db, name=file.filename or "", data=data, actor=actor, scope=scope, now=utcnow()
        )
    except FangkongError as exc:
        return _list(request, db, user, scope, language, error=exc.text(language))
    return _list(request, db, user, scope, language, imported=report)


def _item(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    item_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    item = service.get_or_raise(db, item_id=item_id, scope=scope)
    steps = service.steps_of(db, item=item)
    live = {link.step.id for link in service.effective(steps)}
    corrected = {s.corrects_id for s in steps if s.corrects_id is not None}
    nexts = sorted(service.NEXT[item.stage], key=lambda s: list(Stage).index(s))
    return render(
        request,
        "custody/item.html",
        language=language,
        user=user,
        status_code=status_code,
        item=item,
        steps=steps,
        live=live,
        corrected=corrected,
        overdue=service.is_overdue(item, utcnow()),
        nexts=[s.value for s in nexts],
        stages=[s.value for s in Stage],
        can_write=auth.can(user, perms.WRITE),
        error=error,
    )


@router.get("/custody/{item_id:int}", response_class=HTMLResponse)
def item_page(
    request: Request,
    item_id: ItemId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """An item: what it is held for, where its chain stands and its deadline, the chain with
    every correction, and the next step's form."""
    return _item(request, db, user, scope, language, item_id)


@router.post(
    "/custody/{item_id:int}/steps",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def record_step_page(
    request: Request,
    item_id: ItemId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    stage: Annotated[Text, Form(max_length=16)],
    occurred_at: Annotated[Text, Form(max_length=32)],
    handled_by: Annotated[Text, Form(max_length=64)],
    location: Annotated[Text, Form(max_length=128)] = "",
    document: Annotated[Text, Form(max_length=64)] = "",
) -> Response:
    item = service.get_or_raise(db, item_id=item_id, scope=scope)
    try:
        data = StepIn.model_validate(
            {
                "stage": stage,
                "occurred_at": _moment(occurred_at, request, "occurred_at"),
                "handled_by": handled_by,
                "location": location,
                "document": document,
            }
        )
        service.record_step(db, item=item, data=data, actor=actor, now=utcnow())
    except ValidationError as exc:
        error = _invalid(exc)
        return _item(
            request, db, user, scope, language, item_id, error=error.text(language), status_code=422
        )
    except FangkongError as exc:
        return _item(
            request,
            db,
            user,
            scope,
            language,
            item_id,
            error=exc.text(language),
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/custody/{item.id}", status_code=303)


@router.post(
    "/custody/{item_id:int}/steps/{step_id:int}/corrections",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def correct_step_page(
    request: Request,
    item_id: ItemId,
    step_id: StepId,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    void: Annotated[Text, Form(max_length=4)] = "",
    occurred_at: Annotated[Text, Form(max_length=32)] = "",
    handled_by: Annotated[Text, Form(max_length=64)] = "",
    location: Annotated[Text | None, Form(max_length=128)] = None,
    document: Annotated[Text | None, Form(max_length=64)] = None,
) -> Response:
    item = service.get_or_raise(db, item_id=item_id, scope=scope)
    try:
        data = CorrectionIn.model_validate(
            {
                "void": void == "1",
                "occurred_at": _moment(occurred_at, request, "occurred_at")
                if occurred_at
                else None,
                "handled_by": handled_by or None,
                "location": location,
                "document": document,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    service.correct_step(db, item=item, step_id=step_id, data=data, actor=actor, now=utcnow())
    return RedirectResponse(f"/custody/{item.id}", status_code=303)


@router.post("/custody/alerts", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def raise_alerts_page(
    request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    """Open the overdue alerts of your areas now; back to the list of overdue items."""
    service.raise_alerts(db, now=utcnow(), calendar=get_calendar(request), actor=actor, scope=scope)
    return RedirectResponse("/custody?overdue=yes", status_code=303)
