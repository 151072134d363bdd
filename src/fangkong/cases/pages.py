"""Console pages of the case engine: list, create form from the declaration, detail with its
timeline and actions (htmx), supervision board."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from fangkong.areas import service as area_service
from fangkong.cases import indicators as case_indicators
from fangkong.cases import listing, registry, service
from fangkong.cases import permissions as perms
from fangkong.cases.declaration import CaseTypeDecl, TransitionDecl
from fangkong.cases.models import Case
from fangkong.cases.storage import MAX_BYTES
from fangkong.cases.web import Calendar, Storage, attachment_response
from fangkong.core import auth
from fangkong.core.bounds import Id, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.http import tables
from fangkong.http.dates import format_moment
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    get_cipher,
    requires,
)
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
FIELD_PREFIX = "f_"


class Labels:
    """Translated names of one case type's states, transitions, fields and values."""

    def __init__(
        self, decl: CaseTypeDecl, language: str, zone: Any, users: dict[int, str] | None = None
    ) -> None:
        self.decl = decl
        self.language = language
        self.zone = zone
        self.users = users or {}

    def _t(self, key: str) -> str:
        return translate(key, self.language)

    def type(self) -> str:
        return self._t(f"cases.type.{self.decl.name}")

    def state(self, name: str | None) -> str:
        return self._t(f"cases.{self.decl.name}.state.{name}") if name else ""

    def transition(self, name: str | None) -> str:
        return self._t(f"cases.{self.decl.name}.transition.{name}") if name else ""

    def field(self, name: str) -> str:
        return self._t(f"cases.{self.decl.name}.field.{name}")

    def option(self, field: str, value: str) -> str:
        return self._t(f"cases.{self.decl.name}.option.{field}.{value}")

    def value(self, name: str, value: Any) -> str:
        try:
            spec = self.decl.field(name)
        except KeyError:
            return str(value)
        if spec.kind == "choice":
            return self.option(name, str(value))
        if spec.kind == "bool":
            return self._t("cases.yes" if value else "cases.no")
        if spec.kind == "user":
            return self.users.get(int(value), f"#{value}")
        if spec.kind == "datetime":
            return self.time(datetime.fromisoformat(str(value)))
        if spec.kind == "date":
            return format_moment(str(value), language=self.language, zone=self.zone, style="date")
        return str(value)

    def for_type(self, decl: CaseTypeDecl) -> str:
        return self._t(f"cases.type.{decl.name}")

    def event(self, kind: str) -> str:
        return self._t(f"cases.event.{kind}")

    def party_role(self, role: str) -> str:
        return self._t(f"cases.party_role.{role}")

    def link(self, kind: str) -> str:
        return self._t(f"cases.link.{kind}")

    def time(self, moment: datetime | None) -> str:
        """In the reader's language and the configured zone (as every page's ``when``)."""
        return format_moment(moment, language=self.language, zone=self.zone)

    def iso(self, value: str | None) -> str:
        return self.time(datetime.fromisoformat(value)) if value else ""


def _users_by_id(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        u.id: f"{u.display_name} ({u.username})"
        for u in db.scalars(select(User).where(User.id.in_(ids)))
    }


def _user_ids(case: Case) -> set[int]:
    decl = service.decl_of(case)
    user_fields = {f.name for f in decl.fields if f.kind == "user"}
    ids = {int(v) for e in case.events for k, v in e.data.items() if k in user_fields}
    ids |= {int(v) for k, v in case.data.items() if k in user_fields}
    if case.assignee_user_id is not None:
        ids.add(case.assignee_user_id)
    return ids


def _form_fields(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        raw = form.get(FIELD_PREFIX + name)
        if isinstance(raw, str) and raw != "":
            values[name] = raw
    return values


def _field_choices(
    db: Session, decl: CaseTypeDecl, fields: tuple[str, ...], case_path: str | None
) -> dict[str, list[tuple[str, str]]]:
    """Options of the user fields among ``fields``: staff who can see the case."""
    choices: dict[str, list[tuple[str, str]]] = {}
    for name in fields:
        spec = decl.field(name)
        if spec.kind == "user" and case_path is not None:
            users = service.assignable_users(db, case_path=case_path, roles=spec.user_roles or None)
            choices[name] = [(str(u.id), f"{u.display_name} ({u.username})") for u in users]
    return choices


# --- list ------------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def cases_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """案事件: the cases of your areas as the shared table (filters, sort, pages); with
    ``export=csv|xlsx`` the whole view as a file (no titles: people write names in them)."""
    now = utcnow()
    result = tables.view(
        request,
        db,
        listing.table(db, scope=scope, language=language, now=now),
        listing.base_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("cases.title", language),
    )
    if not isinstance(result, tables.Page):
        return result
    zone = request.app.state.settings.zone
    return render(
        request,
        "cases/list.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        labels={d.name: Labels(d, language, zone) for d in registry.all_types()},
        now=now,
        types=registry.all_types(),
        number=service.number,
        can_create=auth.can(user, perms.CREATE),
    )


# --- create ----------------------------------------------------------------------------------


def _creatable(user: User) -> list[CaseTypeDecl]:
    if not auth.can(user, perms.CREATE):
        return []
    return [d for d in registry.all_types() if user.role in d.create_roles]


def _render_new(
    request: Request,
    db: Session,
    user: User,
    scope: Scope,
    language: str,
    decl: CaseTypeDecl,
    *,
    values: dict[str, str] | None = None,
    error: FangkongError | None = None,
) -> Response:
    zone = request.app.state.settings.zone
    areas = area_service.get_all(db, scope=scope)
    return render(
        request,
        "cases/new.html",
        language=language,
        user=user,
        decl=decl,
        labels=Labels(decl, language, zone),
        types=_creatable(user),
        areas=areas,
        values=values or {},
        error=error,
        status_code=422 if error else 200,
        field_prefix=FIELD_PREFIX,
    )


def _point(lon: str, lat: str) -> tuple[float | None, float | None]:
    """The place picked on the new-case form: both empty, no point; else finite degrees in
    range (:class:`InvalidInput` naming ``lon``)."""
    lon, lat = lon.strip(), lat.strip()
    if not lon and not lat:
        return None, None
    try:
        x, y = float(lon), float(lat)
    except ValueError:
        x = y = math.nan
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(
            key="error.cases.point_invalid", params={"lon": lon[:32], "lat": lat[:32]}, field="lon"
        )
    return x, y


@router.get("/cases/new", response_class=HTMLResponse, dependencies=[requires(perms.CREATE)])
def new_case_form(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    type: Text = "hazard",
) -> Response:
    decl = registry.get(type)
    return _render_new(request, db, user, scope, language, decl)


@router.post("/cases/new", response_class=HTMLResponse, dependencies=[requires(perms.CREATE)])
async def create_case(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
    calendar: Calendar,
) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    decl = registry.get(values.get("type", ""))
    try:
        lon, lat = _point(values.get("lon", ""), values.get("lat", ""))
        area = service.resolve_area(
            db, scope=scope, area_code=values.get("area_code") or None, lon=lon, lat=lat
        )
        parties: list[service.PartyIn] = []
        if decl.parties is not None:
            for i in range(decl.parties.maximum):
                name = values.get(f"party_name_{i}", "").strip()
                if name:
                    parties.append(
                        service.PartyIn(
                            role=values.get(f"party_role_{i}", ""),
                            name=name,
                            contact=values.get(f"party_contact_{i}", "").strip() or None,
                        )
                    )
        with db.begin_nested():  # a refused create leaves nothing behind in the request
            case = service.create(
                db,
                case_type=decl.name,
                title=values.get("title", ""),
                description=values.get("description", ""),
                area=area,
                fields=_form_fields(form, (*decl.create_fields, *decl.create_optional)),
                parties=parties,
                user=user,
                actor=actor,
                now=utcnow(),
                calendar=calendar,
                cipher=get_cipher(request),
                lon=lon,
                lat=lat,
            )
    except FangkongError as exc:
        if exc.status_code not in (409, 422):
            raise
        return _render_new(request, db, user, scope, language, decl, values=values, error=exc)
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


# --- detail and actions ----------------------------------------------------------------------


def _render_case(
    request: Request,
    db: Session,
    user: User,
    language: str,
    case: Case,
    *,
    fragment: bool,
    open_action: str | None = None,
    values: dict[str, str] | None = None,
    error: FangkongError | None = None,
    status_code: int = 200,
) -> Response:
    decl = service.decl_of(case)
    zone = request.app.state.settings.zone
    now = utcnow()
    labels = Labels(decl, language, zone, _users_by_id(db, _user_ids(case)))
    allowed = service.allowed_transitions(case, user)
    opened: TransitionDecl | None = next((t for t in allowed if t.name == open_action), None)
    choices = _field_choices(
        db, decl, (*opened.fields, *opened.optional_fields) if opened else (), case.area_path
    )
    return render(
        request,
        "cases/body.html" if fragment else "cases/detail.html",
        language=language,
        user=user,
        case=case,
        decl=decl,
        labels=labels,
        number=service.number(case),
        personal=service.masked_personal(case, get_cipher(request)),
        allowed=allowed,
        opened=opened,
        choices=choices,
        values=values or {},
        error=error,
        now=now,
        overdue=service.is_overdue(case, now),
        field_prefix=FIELD_PREFIX,
        can_supervise=auth.can(user, perms.SUPERVISE) and case.closed_at is None,
        can_act=auth.can(user, perms.ACT),
        can_unmask=auth.can(user, perms.UNMASK),
        can_download=service.may_open_attachments(case, user),
        link_kinds=service.LINK_KINDS,
        default_due=(now + timedelta(days=3)).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        status_code=status_code,
    )


@router.get("/cases/board", response_class=HTMLResponse)
def board_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    area: Text = "",
    type: Text = "",
    days: int = 365,
) -> Response:
    now = utcnow()
    chosen = area_service.get_by_code_or_raise(db, code=area, scope=scope) if area else None
    case_type = type if type in registry.names() else None
    parent, rows = service.board(db, scope=scope, now=now, area=chosen, case_type=case_type)
    days = min(max(days, 1), 3660)
    start = now - timedelta(days=days)
    figures = []
    if parent is not None:
        for decl in registry.all_types():
            if case_type is None or decl.name == case_type:
                figures.append(
                    (
                        decl,
                        case_indicators.compute(
                            db, case_type=decl.name, area=parent, start=start, end=now, now=now
                        ),
                    )
                )
    ancestors = (
        [a for a in area_service.ancestors(db, area=parent) if scope.covers(a.path)]
        if parent is not None
        else []
    )
    return render(
        request,
        "cases/board.html",
        language=language,
        user=user,
        parent=parent,
        rows=rows,
        buckets=service.AGE_BUCKETS_DAYS,
        figures=figures,
        days=days,
        notices=service.notices_for(db, user=user, scope=scope, limit=20),
        unread=len(service.notices_for(db, user=user, scope=scope, limit=200, unread_only=True)),
        number=service.number,
        ancestors=ancestors,
        type=case_type or "",
        types=registry.all_types(),
        labels={
            d.name: Labels(d, language, request.app.state.settings.zone)
            for d in registry.all_types()
        },
    )


@router.post("/cases/board/read", response_class=HTMLResponse)
def read_notices(db: DbSession, user: CurrentUser) -> Response:
    """Mark all of the user's notices read and go back to the board."""
    service.mark_notices_read(db, user=user, now=utcnow())
    return RedirectResponse("/cases/board", status_code=303)


@router.get("/cases/{case_id:int}", response_class=HTMLResponse)
def case_page(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    return _render_case(request, db, user, language, case, fragment=False)


@router.get("/cases/{case_id:int}/act/{name}", response_class=HTMLResponse)
def action_form(
    case_id: Id,
    name: Text,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    return _render_case(request, db, user, language, case, fragment=True, open_action=name)


def _after_write(
    request: Request,
    db: Session,
    user: User,
    language: str,
    case: Case,
) -> Response:
    if request.headers.get("hx-request"):
        return _render_case(request, db, user, language, case, fragment=True)
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def _failed(
    request: Request,
    db: Session,
    user: User,
    language: str,
    case_id: Id,
    scope: Scope,
    exc: FangkongError,
    *,
    open_action: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    htmx = bool(request.headers.get("hx-request"))
    # htmx swaps only 2xx answers: the fault is shown in the swapped fragment.
    return _render_case(
        request,
        db,
        user,
        language,
        case,
        fragment=htmx,
        open_action=open_action,
        values=values,
        error=exc,
        status_code=200 if htmx else exc.status_code,
    )


@router.post(
    "/cases/{case_id:int}/act/{name}",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACT)],
)
async def take_action(
    case_id: Id,
    name: Text,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
    calendar: Calendar,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    decl = service.decl_of(case)
    spec = decl.transition(name)
    names = (*spec.fields, *spec.optional_fields) if spec else ()
    fields = _form_fields(form, names)
    for field_name in names:
        if decl.field(field_name).kind == "bool":
            fields[field_name] = values.get(FIELD_PREFIX + field_name) == "true"
    version = values.get("version", "")
    try:
        with db.begin_nested():
            service.transition(
                db,
                case=case,
                name=name,
                fields=fields,
                note=values.get("note"),
                user=user,
                actor=actor,
                now=utcnow(),
                calendar=calendar,
                cipher=get_cipher(request),
                expected_version=int(version) if version.isdigit() else None,
            )
    except FangkongError as exc:
        return _failed(
            request, db, user, language, case_id, scope, exc, open_action=name, values=values
        )
    return _after_write(request, db, user, language, case)


@router.post(
    "/cases/{case_id:int}/comment", response_class=HTMLResponse, dependencies=[requires(perms.ACT)]
)
async def add_comment(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    form = await request.form()
    text = form.get("text")
    try:
        with db.begin_nested():
            service.comment(
                db,
                case=case,
                text=text if isinstance(text, str) else "",
                user=user,
                actor=actor,
                now=utcnow(),
            )
    except FangkongError as exc:
        return _failed(request, db, user, language, case_id, scope, exc)
    return _after_write(request, db, user, language, case)


@router.post(
    "/cases/{case_id:int}/links", response_class=HTMLResponse, dependencies=[requires(perms.ACT)]
)
async def add_link(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        with db.begin_nested():
            service.add_link(
                db,
                case=case,
                kind=values.get("kind", ""),
                ref_id=values.get("ref_id", ""),
                label=values.get("label", ""),
                user=user,
                actor=actor,
                now=utcnow(),
                scope=scope,
            )
    except FangkongError as exc:
        return _failed(request, db, user, language, case_id, scope, exc)
    return _after_write(request, db, user, language, case)


@router.post(
    "/cases/{case_id:int}/supervise",
    response_class=HTMLResponse,
    dependencies=[requires(perms.SUPERVISE)],
)
async def supervise(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    form = await request.form()
    due, note = form.get("due_at"), form.get("note")
    zone = request.app.state.settings.zone
    try:
        try:
            due_at = datetime.fromisoformat(str(due))
        except ValueError:
            raise InvalidInput(
                key="error.cases.due_format", params={"value": due}, field="due_at"
            ) from None
        if due_at.tzinfo is None:
            due_at = due_at.replace(tzinfo=zone)
        with db.begin_nested():
            service.supervise(
                db,
                case=case,
                due_at=due_at.astimezone(UTC),
                note=note if isinstance(note, str) else "",
                user=user,
                actor=actor,
                now=utcnow(),
            )
    except FangkongError as exc:
        return _failed(request, db, user, language, case_id, scope, exc)
    return _after_write(request, db, user, language, case)


@router.post(
    "/cases/{case_id:int}/attachments",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACT)],
)
async def upload(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
    storage: Storage,
) -> Response:
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    form = await request.form()
    upload_file = form.get("file")
    try:
        if not isinstance(upload_file, UploadFile):
            raise InvalidInput(key="error.cases.no_file", field="file")
        try:
            data = await upload_file.read(MAX_BYTES + 1)
        finally:
            await form.close()
        with db.begin_nested():
            service.add_attachment(
                db,
                case=case,
                filename=upload_file.filename or "",
                content_type=upload_file.content_type,
                data=data,
                storage=storage,
                cipher=get_cipher(request),
                user=user,
                actor=actor,
                now=utcnow(),
            )
    except FangkongError as exc:
        return _failed(request, db, user, language, case_id, scope, exc)
    return _after_write(request, db, user, language, case)


@router.get("/cases/{case_id:int}/attachments/{attachment_id:int}")
def download(
    case_id: Id,
    attachment_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    storage: Storage,
) -> Response:
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
    response_class=HTMLResponse,
    dependencies=[requires(perms.UNMASK)],
)
def personal_fragment(
    case_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> Response:
    """Parties in clear, as a fragment that replaces the masked list; the read is audited."""
    case = service.get_or_raise(db, case_id=case_id, scope=scope)
    view = service.reveal_personal(
        db, case=case, viewer=user, cipher=get_cipher(request), actor=actor
    )
    decl = service.decl_of(case)
    return render(
        request,
        "cases/personal.html",
        language=language,
        user=user,
        case=case,
        personal=view,
        labels=Labels(decl, language, request.app.state.settings.zone),
    )
