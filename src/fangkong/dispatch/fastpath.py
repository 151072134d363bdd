"""API intake over HTTP (``POST /api/v1/incidents``): the app's intake committer, the work
the route and the fast path share (:func:`take_intake`), and the fast path itself
(:class:`IntakeFastPath`), an ASGI middleware that takes a bearer-token intake before the
framework's layers. See docs/dispatch.md, "What an intake costs"."""

from __future__ import annotations

import asyncio
import functools
import time

import anyio
import anyio.to_thread
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from fangkong.core import audit, auth
from fangkong.core.batching import GroupCommitter
from fangkong.core.config import Settings
from fangkong.core.db import make_engine, make_held_session_factory
from fangkong.core.errors import FangkongError, InvalidInput, Overloaded
from fangkong.core.security import FieldCipher, token_digest
from fangkong.core.writer import ProcessCommitter, WriterParts
from fangkong.dispatch import intake, live, present, service
from fangkong.dispatch import permissions as perms
from fangkong.dispatch.schemas import IncidentIn, RoadAccessOut
from fangkong.http import errors
from fangkong.http.deps import bearer_credential, preferred_language

IntakeAnswer = tuple[bytes, bool]  # the answer's JSON, and whether the incident is new
IntakeCommitter = (
    GroupCommitter[intake.IntakeCall, intake.Written, IntakeAnswer]
    | ProcessCommitter[intake.IntakeCall, IntakeAnswer]
)


def intake_committer(app: Starlette) -> IntakeCommitter:
    """The app's intake committer, made on first use (called on the event loop only): in a
    process of its own (see core/writer.py) unless the settings say a thread or the database
    lives in this process's memory. The server's lifespan starts it with the server."""
    state = app.state
    found: IntakeCommitter | None = getattr(state, "intake_committer", None)
    if found is None:
        settings: Settings = state.settings
        cipher: FieldCipher = state.cipher
        url = state.engine.url
        in_memory = url.get_backend_name() == "sqlite" and (
            url.database in (None, "", ":memory:") or "mode=memory" in str(url)
        )
        if settings.intake_writer == "process" and not in_memory:
            found = ProcessCommitter(
                functools.partial(
                    _writer_parts, settings, url.render_as_string(hide_password=False)
                ),
                name="dispatch-intake",
                after_batch=live.BROKER.notify,
            )
        else:
            found = intake.committer(
                state.session_factory,
                cipher=cipher,
                answer=functools.partial(_intake_answers, cipher=cipher, settings=settings),
            )
        state.intake_committer = found
    return found


def start_intake(app: Starlette) -> None:
    """Start the app's intake writer now rather than on the first intake, whose answer would
    wait for a new process to import the app (call it on the event loop)."""
    committer = intake_committer(app)
    if isinstance(committer, ProcessCommitter):
        committer.start()


def _writer_parts(
    settings: Settings, url: str
) -> WriterParts[intake.IntakeCall, intake.Written, IntakeAnswer]:
    """What the intake writer process writes with, built in that process."""
    cipher = FieldCipher(settings.ensure_secret_key())
    engine = make_engine(url)
    audit.keep_head(engine, audit.head_file_of(settings.data_dir))
    return WriterParts(
        factory=make_held_session_factory(engine),
        write=functools.partial(intake.write, cipher=cipher),
        answer=functools.partial(_intake_answers, cipher=cipher, settings=settings),
    )


def _intake_answers(
    session: Session, written: list[intake.Written], *, cipher: FieldCipher, settings: Settings
) -> list[IntakeAnswer | Exception]:
    """The answers' JSON, made in the intake writer (the event loop only sends them); the
    batch's scenes are snapped to the roads in one go."""
    roads = present.roads(
        present.network_or_none(settings.data_dir), [one.incident for one in written]
    )
    out: list[IntakeAnswer | Exception] = []
    for one, road in zip(written, roads, strict=True):
        try:
            out.append(_intake_answer(session, one, road, cipher=cipher, settings=settings))
        except Exception as exc:  # this call's failure, not the others'
            out.append(exc)
    return out


def _intake_answer(
    session: Session,
    written: intake.Written,
    road: RoadAccessOut | None,
    *,
    cipher: FieldCipher,
    settings: Settings,
) -> IntakeAnswer:
    language = preferred_language(
        written.call.language, written.user.language, settings.default_language
    )
    incident = written.incident
    if isinstance(incident, service.NewIncident):
        detail = present.detail_of(
            session, incident, language, cipher=cipher, road=road, area_code=incident.area_code
        )
    else:
        # A retry: the original may lie outside this user's areas; answer what they may read.
        found = service.get_or_raise(session, incident_id=incident.id, scope=written.scope)
        detail = present.detail_of(session, found, language, cipher=cipher, road=road)
    return detail.model_dump_json().encode("utf-8"), written.created


class SenderCheck:
    """Who sends an intake, checked before its body is read: a stranger (a token or a
    session's user unknown, revoked, expired or inactive) or a role without the intake
    permission is answered at once, without the server reading or validating what it sent.

    A credential found good is trusted for :attr:`TRUSTED_S` by this check only; the intake
    writer reads it again with every batch, so a revoked token writes nothing from its next
    batch on (see intake.py), and at most its next bodies in those seconds are read.
    """

    #: Seconds a credential found good is not read again before a body is read.
    TRUSTED_S = 5.0
    #: The most credentials remembered; past it, the oldest are forgotten.
    MAX_REMEMBERED = 10_000

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._trusted: dict[tuple[str, object], float] = {}

    async def check(self, credential: auth.Credential) -> None:
        """Refuse ``credential`` (:class:`Unauthorized`, :class:`Forbidden`) unless it may
        send an intake."""
        key: tuple[str, object] = (
            ("token", token_digest(credential.token))
            if credential.token is not None
            else ("user", credential.user_id)
        )
        until = self._trusted.get(key)
        now = time.monotonic()
        if until is not None and until > now:
            return
        # The database is read in a thread: never on the event loop.
        await anyio.to_thread.run_sync(self._read, credential)
        if len(self._trusted) >= self.MAX_REMEMBERED:
            for old in list(self._trusted)[: self.MAX_REMEMBERED // 2]:
                del self._trusted[old]
        self._trusted.pop(key, None)
        self._trusted[key] = time.monotonic() + self.TRUSTED_S

    def _read(self, credential: auth.Credential) -> None:
        with self._factory() as session:
            auth.require(auth.principal_for(session, credential), perms.INTAKE)


def sender_check(app: Starlette) -> SenderCheck:
    """The app's :class:`SenderCheck`, made on first use (on the event loop)."""
    found: SenderCheck | None = getattr(app.state, "intake_sender_check", None)
    if found is None:
        found = app.state.intake_sender_check = SenderCheck(app.state.session_factory)
    return found


def room_left(app: Starlette) -> bool:
    """Whether the app's writer has fewer intakes waiting than it may queue
    (``intake_max_pending``)."""
    settings: Settings = app.state.settings
    return intake_committer(app).pending < settings.intake_max_pending


def queue_full(app: Starlette) -> Overloaded:
    """The error of an intake the writer has no room for (503 with Retry-After)."""
    settings: Settings = app.state.settings
    return Overloaded(
        key="error.dispatch.intake_queue_full",
        params={"retry_after_s": settings.retry_after_s},
        retry_after_s=settings.retry_after_s,
    )


def check_room(app: Starlette) -> None:
    """Refuse an intake (:func:`queue_full`) when the app's writer has as many waiting as it
    may queue: under overload the intakes taken are answered in their usual time, the others
    told to come back with the same key, rather than all of them waiting behind a queue that
    grows."""
    if not room_left(app):
        raise queue_full(app)


def _queue_full_answer(app: Starlette) -> Response:
    """:func:`queue_full`'s answer, made once per app: under overload, refusing is most of
    what the server does."""
    found: Response | None = getattr(app.state, "intake_queue_full_answer", None)
    if found is None:
        found = app.state.intake_queue_full_answer = errors.domain_error(queue_full(app))
    return found


def incident_in(raw: bytes) -> IncidentIn:
    """The intake's body checked from its JSON text; a fault is the API's 422, as for a
    declared body (its fields under ``body``)."""
    try:
        return IncidentIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**fault, "loc": ("body", *fault["loc"])} for fault in exc.errors()]
        ) from None


async def take_intake(
    app: Starlette,
    credential: auth.Credential,
    raw: bytes,
    *,
    header_key: str | None,
    client: str | None,
    language: str | None,
) -> Response:
    """Check an intake's body and key, queue it on the committer and answer once written: the
    route's work, shared with :class:`IntakeFastPath`."""
    body = incident_in(raw)
    if header_key and body.idempotency_key and header_key != body.idempotency_key:
        raise InvalidInput(key="error.dispatch.key_differs", field="idempotency_key")
    key = header_key or body.idempotency_key
    if not key:
        raise InvalidInput(key="error.dispatch.key_required", field="idempotency_key")
    call = intake.IntakeCall(
        credential=credential, key=key, body=body, client=client, language=language
    )
    check_room(app)  # again: others may have been queued while this body came
    body_json, created = await asyncio.wrap_future(intake_committer(app).submit(call))
    # Made and checked as an IncidentDetail by the committer: sent as it is.
    return Response(body_json, status_code=201 if created else 200, media_type="application/json")


class IntakeFastPath:
    """ASGI middleware: ``POST /api/v1/incidents`` with a bearer token and no cookie, the
    command centre's busiest request, taken before the framework's layers (sessions, error
    handlers, routing, dependencies), which cost more CPU than the request's own work on the
    event loop. It does what the route (:func:`fangkong.dispatch.api.create_incident`) does,
    with the same answers and errors; anything else (the console's cookie-authenticated intake
    among it) goes to the app."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        credential = None
        header_key: str | None = None
        for name, value in scope["headers"]:
            if name == b"cookie":
                credential = None
                break
            if name == b"authorization" and credential is None:
                credential = bearer_credential(value.decode("latin-1"))
                if credential is None:
                    break
            elif name == b"idempotency-key" and header_key is None:
                header_key = value.decode("latin-1")
        if credential is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        response: Response
        try:
            # Who sent it first: a stranger's body is never read; nor one the writer has no
            # room for.
            await sender_check(scope["app"]).check(credential)
            if not room_left(scope["app"]):
                await _queue_full_answer(scope["app"])(scope, receive, send)
                return
            raw = await _body(receive)
            if raw is None:  # the client left: nobody to answer
                return
            response = await take_intake(
                scope["app"],
                credential,
                raw,
                header_key=header_key,
                client=client[0] if client else None,
                language=None,
            )
        except RequestValidationError as exc:
            response = errors.invalid_request(exc)
        except FangkongError as exc:
            response = errors.domain_error(exc)
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes | None:
    """A request's whole body; None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
