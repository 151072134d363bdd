"""Who hears of a case: the users of a role bound to its area or the nearest area above it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.cases.declaration import CaseTypeDecl
from fangkong.cases.models import (
    Case,
    CaseNotice,
    EventKind,
)
from fangkong.core.models import Role, User, UserArea


def ancestor_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


#: Who is bound to an area in some roles, as read once by a caller that asks again and again
#: in one transaction (the deadline tick: the cases of a grid ask for its users each).
BoundUsers = dict[tuple[int, frozenset[Role]], list[User]]


def users_bound_to(
    session: Session, *, area_id: int, roles: Iterable[Role], known: BoundUsers | None = None
) -> list[User]:
    """Active users of ``roles`` bound to exactly the area ``area_id`` (from ``known`` where
    it has been read already, and kept there)."""
    wanted = frozenset(roles)
    if not wanted:
        return []
    if known is not None and (area_id, wanted) in known:
        return list(known[area_id, wanted])
    query = (
        select(User)
        .join(UserArea, UserArea.user_id == User.id)
        .where(UserArea.area_id == area_id, User.role.in_(list(wanted)), User.is_active)
        .order_by(User.id)
    )
    found = list(session.scalars(query).unique())
    if known is not None:
        known[area_id, wanted] = found
    return list(found)


def nearest_users(
    session: Session,
    *,
    path: str,
    roles: Iterable[Role],
    skip_own: bool = False,
    known: BoundUsers | None = None,
) -> list[User]:
    """Users of ``roles`` bound to the deepest area on ``path`` that has any (own area first,
    or the parent first when ``skip_own``)."""
    ids = ancestor_ids(path)
    if skip_own:
        ids = ids[:-1]
    roles = list(roles)
    for area_id in reversed(ids):
        found = users_bound_to(session, area_id=area_id, roles=roles, known=known)
        if found:
            return found
    return []


def notify(
    session: Session, case: Case, users: Iterable[User], kind: EventKind, now: datetime
) -> list[str]:
    names: list[str] = []
    for user in {u.id: u for u in users}.values():
        session.add(CaseNotice(case_id=case.id, user_id=user.id, kind=kind, at=now))
        names.append(user.username)
    return sorted(names)


def actors_of_state(decl: CaseTypeDecl, state: str) -> set[Role]:
    return {role for t in decl.leaving(state) for role in t.roles} - {Role.ADMIN}


def assignee_or_actors(
    session: Session, decl: CaseTypeDecl, case: Case, *, known: BoundUsers | None = None
) -> list[User]:
    if case.assignee_user_id is not None:
        user = session.get(User, case.assignee_user_id)
        if user is not None and user.is_active:
            return [user]
    return nearest_users(
        session, path=case.area_path, roles=actors_of_state(decl, case.state), known=known
    )


def assignable_users(
    session: Session, *, case_path: str, roles: Iterable[Role] | None = None
) -> list[User]:
    """Active staff who can see a case at ``case_path`` (bound to its area or an ancestor)."""
    query = (
        select(User)
        .join(UserArea, UserArea.user_id == User.id)
        .where(
            UserArea.area_id.in_(ancestor_ids(case_path)),
            User.is_active,
            User.role.not_in([Role.VIEWER, Role.EVALUATOR]),
        )
        .order_by(User.username)
    )
    if roles is not None:
        query = query.where(User.role.in_(list(roles)))
    return list(session.scalars(query).unique())
