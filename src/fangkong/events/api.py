"""REST API of large-event security and emergency plans under ``/api/v1``:

- ``/events``: applications (list, export, one, create, update, import), the organiser's
  contact in clear (audited), the security plan's posts, its rings checked on the road
  network, and the posts of the approved events under way for the command map;
- ``/emergency-plans``: plans (list, export, one, create, update, import);
- ``/emergency-activations``: activations and drills (list, KPIs, one, activate from an
  incident, start a drill, confirm, end, a drill's findings).

Every read is scoped to the user's areas; a record outside them reads as not found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile

from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import AwareMoment, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.i18n import translate
from fangkong.events import importing, listing, plans_api, register, rings
from fangkong.events import permissions as perms
from fangkong.events._web import Format, Limit, RecordId, Sort, import_out, network, read_upload
from fangkong.events.personal import reveal_contact
from fangkong.events.present import event_out
from fangkong.events.schemas import (
    ContactOut,
    EventIn,
    EventOut,
    EventPage,
    ImportOut,
    PostIn,
    RingCheckOut,
    RingPointOut,
)
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    actor_of,
    get_cipher,
    requires,
)

router = APIRouter(dependencies=[requires(perms.READ)])
Text64 = Annotated[
    Text | None, Query(max_length=64, description="Code, name or organiser contains")
]


# --- events ------------------------------------------------------------------------------------


@router.get("/events", response_model=EventPage, tags=["events"])
def list_events(
    request: Request,
    db: DbSession,
    scope: UserScope,
    q: Text64 = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EventPage:
    """Large-event applications of your areas, latest start first, with their grade, factors,
    approval case and security plan (the contact masked)."""
    total, page = register.get_all(db, scope=scope, text=q, limit=limit, offset=offset)
    cipher = get_cipher(request)
    return EventPage(total=total, items=[event_out(db, e, cipher) for e in page])


@router.get(
    "/events/export", response_class=Response, responses=tables.EXPORT_RESPONSES, tags=["events"]
)
def export_events(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    sort: Sort = None,
    format: Format = "csv",
) -> Response:
    """The applications as CSV or XLSX with the labels in your language (no contact;
    audited)."""
    table = listing.event_table(db, scope=scope, language=language)
    return tables.export(
        db,
        listing.events_select(scope),
        table.query(sort=sort, values={"q": q}),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("nav.events", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.get("/events/posts/geojson", tags=["events"])
def running_posts(
    db: DbSession,
    scope: UserScope,
    language: Language,
    at: Annotated[AwareMoment | None, Query(description="The moment (default: now)")] = None,
) -> dict[str, Any]:
    """The security posts of the approved events of your areas under way at ``at``, as
    GeoJSON points for the command map (each with its event, kind and staffing)."""
    moment = at or utcnow()
    features = []
    for event in register.running(db, scope=scope, at=moment):
        for p in event.posts:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                    "properties": {
                        "id": event.id,
                        "code": event.code,
                        "name": f"{event.name} · {p.name}",
                        "kind": p.kind.value,
                        "kind_label": translate(f"events.post.{p.kind.value}", language),
                        "staffing": p.staffing,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


@router.post(
    "/events",
    response_model=EventOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def create_event(
    request: Request,
    body: EventIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> EventOut:
    """Register an application in your areas: graded by the rule, its approval case opened
    (the review's deadline runs from now)."""
    auth.require(user, "cases.create")
    cipher = get_cipher(request)
    event = register.create(
        db,
        data=body,
        user=user,
        actor=actor,
        cipher=cipher,
        scope=scope,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    return event_out(db, event, cipher)


@router.get("/events/{event_id:int}", response_model=EventOut, tags=["events"])
def get_event(request: Request, event_id: RecordId, db: DbSession, scope: UserScope) -> EventOut:
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    return event_out(db, event, get_cipher(request))


@router.put(
    "/events/{event_id:int}",
    response_model=EventOut,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def update_event(
    request: Request,
    event_id: RecordId,
    body: EventIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> EventOut:
    """Change an application (its code stays); it is graded again."""
    cipher = get_cipher(request)
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    register.update(
        db, event=event, data=body, actor=actor, cipher=cipher, scope=scope, now=utcnow()
    )
    return event_out(db, event, cipher)


@router.get(
    "/events/{event_id:int}/contact",
    response_model=ContactOut,
    dependencies=[requires(perms.UNMASK)],
    tags=["events"],
)
def event_contact(
    request: Request,
    event_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ContactOut:
    """The organiser's contact in clear (audited)."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    name, phone = reveal_contact(
        db, event=event, viewer=user, cipher=get_cipher(request), actor=actor
    )
    return ContactOut(contact_name=name, contact_phone=phone)


@router.post(
    "/events/{event_id:int}/posts",
    response_model=EventOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def add_post(
    request: Request,
    event_id: RecordId,
    body: PostIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> EventOut:
    """Add a post, entrance or command post to the security plan, with its staffing and the
    units of your areas assigned to it."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    register.add_post(db, event=event, data=body, actor=actor, scope=scope)
    return event_out(db, event, get_cipher(request))


@router.delete(
    "/events/{event_id:int}/posts/{post_id:int}",
    status_code=204,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def remove_post(
    event_id: RecordId, post_id: RecordId, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    register.remove_post(db, event=event, post_id=post_id, actor=actor)
    return Response(status_code=204)


@router.get("/events/{event_id:int}/rings", response_model=RingCheckOut, tags=["events"])
def event_rings(
    request: Request, event_id: RecordId, db: DbSession, scope: UserScope
) -> RingCheckOut:
    """The plan's response rings against the venue, by road: each point of the venue, its
    time from the nearest post and its ring; passed when every point is within 3 minutes."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    found = rings.check(network(request), event)
    return RingCheckOut(
        event_id=event.id,
        posts=found.posts,
        posts_off_road=found.off_road,
        points=[
            RingPointOut(lon=p.lon, lat=p.lat, time_s=p.time_s, ring=p.ring, post=p.post)
            for p in found.points
        ],
        within_1min=found.share(60),
        within_3min=found.share(180),
        within_5min=found.share(300),
        passed=found.passed,
    )


@router.post(
    "/events/import",
    response_model=ImportOut,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def import_events(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> ImportOut:
    """Register or update applications from a CSV or XLSX file (docs/events.md: code, name,
    organiser, venue_kind, facility_code or venue_polygon, capacity, expected_attendance,
    starts_at, ends_at; contact_name and contact_phone optional). Bad rows are answered with
    their row, column and rule; the others load."""
    auth.require(user, "cases.create")
    report = importing.import_events(
        db,
        name=file.filename or "",
        data=read_upload(file),
        actor=actor,
        cipher=get_cipher(request),
        scope=scope,
        now=utcnow(),
        calendar=get_calendar(request),
        zone=request.app.state.settings.zone,
    )
    return import_out(report)


# Emergency plans, their activations and drills.
router.include_router(plans_api.router)
