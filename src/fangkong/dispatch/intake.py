"""API intake (``POST /api/v1/incidents``) written by group commit.

Intake is the command centre's busiest write: calls come in bursts, each a small row. The API
handler does no I/O of its own: it checks the request's shape, notes who sent it (a bearer
token or the session's user, see :func:`fangkong.http.deps.credential_of`) and queues it on the
app's committer: a :class:`~fangkong.core.writer.ProcessCommitter` (a writer process beside
the server) or a :class:`~fangkong.core.batching.GroupCommitter` (a thread). It writes what was
queued in one transaction with :func:`write`: for each call it resolves the user and their
areas (once per credential and batch) and checks the permissions; then
:func:`fangkong.dispatch.service.create_many` places and creates the batch's incidents, as it
does the console form's (one) and the file import's (500 at a time). The answer is sent once
the batch has committed.

Who may do what is read in the same transaction as the write, so a revoked token or a
deactivated user is refused from the next batch on; nothing is cached across batches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeVar, cast

from sqlalchemy.orm import Session, sessionmaker

from fangkong.core import auth
from fangkong.core.audit import Actor
from fangkong.core.batching import AnswerFn, GroupCommitter
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import Scope, scope_of
from fangkong.core.security import FieldCipher
from fangkong.dispatch import permissions as perms
from fangkong.dispatch import service
from fangkong.dispatch.models import Incident
from fangkong.dispatch.schemas import IncidentIn

_PRINCIPALS = "fangkong.intake.principals"


@dataclass(frozen=True)
class IntakeCall:
    """One API intake: the body, its idempotency key and who sent it from where."""

    credential: auth.Credential
    key: str
    body: IncidentIn
    client: str | None
    #: The language asked for by the console's cookie, if any (else the user's).
    language: str | None = None


@dataclass(frozen=True)
class Written:
    """An intake written (or found: ``created`` False) and what its answer needs."""

    call: IntakeCall
    incident: Incident | service.NewIncident
    created: bool
    user: auth.Principal
    scope: Scope


def _principal(session: Session, credential: auth.Credential) -> tuple[auth.Principal, Scope]:
    """The user and scope of ``credential``, read once per batch (the session's life)."""
    known: dict[auth.Credential, tuple[auth.Principal, Scope]] = session.info.setdefault(
        _PRINCIPALS, {}
    )
    found = known.get(credential)
    if found is None:
        user = auth.principal_for(session, credential)
        found = known[credential] = (user, scope_of(user.area_paths))
    return found


def write(
    session: Session, calls: list[IntakeCall], *, cipher: FieldCipher
) -> list[Written | FangkongError]:
    """Create the calls' incidents in the batch's transaction (see the module); for each
    call, what was written or the domain error that refused it."""
    out: list[Written | FangkongError | None] = [None] * len(calls)
    intakes: list[service.Intake] = []
    principals: list[tuple[auth.Principal, Scope]] = []
    placed: list[int] = []
    for i, call in enumerate(calls):
        try:
            user, scope = _principal(session, call.credential)
            auth.require(user, perms.READ)
            body = call.body
            lon, lat = service.place(
                session, lon=body.lon, lat=body.lat, address_code=body.address_code, scope=scope
            )
        except FangkongError as exc:
            out[i] = exc
            continue
        data = service.IncidentIn(
            category=body.category,
            subtype=body.subtype,
            priority=body.priority,
            source=body.source,
            lon=lon,
            lat=lat,
            description=body.description,
            caller_contact=body.caller_contact,
        )
        actor = Actor(user_id=user.id, username=user.username, client=call.client)
        intakes.append(service.Intake(key=call.key, data=data, actor=actor, scope=scope, user=user))
        principals.append((user, scope))
        placed.append(i)
    created = service.create_many(session, intakes, now=utcnow(), cipher=cipher)
    for i, (user, scope), result in zip(placed, principals, created, strict=True):
        out[i] = (
            result
            if isinstance(result, FangkongError)
            else Written(
                call=calls[i], incident=result[0], created=result[1], user=user, scope=scope
            )
        )
    return [cast(Written | FangkongError, r) for r in out]


Answer = TypeVar("Answer")


def committer(
    factory: sessionmaker[Session], *, cipher: FieldCipher, answer: AnswerFn[Written, Answer]
) -> GroupCommitter[IntakeCall, Written, Answer]:
    """A group committer of API intakes; ``answer`` builds the replies from what a batch
    wrote."""
    return GroupCommitter(
        factory,
        write=functools.partial(write, cipher=cipher),
        answer=answer,
        name="dispatch-intake",
    )
