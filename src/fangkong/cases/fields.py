"""Field values of a case: checked against the declaration and converted, then split into
plain and personal values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from fangkong.cases._common import iso
from fangkong.cases.declaration import CaseTypeDecl, FieldDecl
from fangkong.core.errors import InvalidInput
from fangkong.core.models import User
from fangkong.core.scoping import scope_for


def _coerce_one(
    session: Session, f: FieldDecl, raw: Any, *, zone: ZoneInfo, case_path: str | None
) -> Any:
    where = f"fields.{f.name}"
    if f.kind in ("text", "longtext"):
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput(f"{where} must be non-empty text", field=where)
        if len(raw) > f.max_length:
            raise InvalidInput(
                f"{where} has {len(raw)} characters; at most {f.max_length}", field=where
            )
        return raw.strip()
    if f.kind == "choice":
        if raw not in f.options:
            raise InvalidInput(
                f"{where}: {raw!r} is not one of {', '.join(f.options)}", field=where
            )
        return raw
    if f.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in (
            "true",
            "on",
            "1",
            "yes",
            "false",
            "off",
            "0",
            "no",
        ):
            return raw.lower() in ("true", "on", "1", "yes")
        raise InvalidInput(f"{where}: {raw!r} is not true or false", field=where)
    if f.kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"{where}: {raw!r} is not a whole number", field=where) from None
    if f.kind == "date":
        try:
            return date.fromisoformat(str(raw)).isoformat()
        except ValueError:
            raise InvalidInput(
                f"{where}: {raw!r} is not a date (YYYY-MM-DD)", field=where
            ) from None
    if f.kind == "datetime":
        try:
            moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        except ValueError:
            raise InvalidInput(
                f"{where}: {raw!r} is not a date and time (ISO 8601)", field=where
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return iso(moment)
    # kind == "user": a staff member who can see the case
    try:
        user_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: {raw!r} is not a user id", field=where) from None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise InvalidInput(f"{where}: user {user_id} does not exist or is inactive", field=where)
    if f.user_roles and user.role not in f.user_roles:
        raise InvalidInput(
            f"{where}: user {user.username!r} is not a "
            f"{' or '.join(r.value for r in f.user_roles)}",
            field=where,
        )
    if case_path is not None and not scope_for(session, user).covers(case_path):
        raise InvalidInput(
            f"{where}: user {user.username!r} is not bound to the case's area", field=where
        )
    return user_id


def coerce_fields(
    session: Session,
    decl: CaseTypeDecl,
    *,
    required: Iterable[str],
    optional: Iterable[str],
    raw: dict[str, Any],
    zone: ZoneInfo,
    case_path: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check and convert submitted field values: (plain values, personal values).

    Unknown fields, missing required ones and values of the wrong kind raise
    :class:`InvalidInput` naming ``fields.<name>`` and the rule. Empty optional values are
    dropped.
    """
    required = tuple(required)
    allowed = set(required) | set(optional)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(
            f"fields.{unknown[0]} is not asked here (asked: "
            f"{', '.join(sorted(allowed)) or 'nothing'})",
            field=f"fields.{unknown[0]}",
        )
    plain: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    for name in (*required, *sorted(allowed - set(required))):
        value = raw.get(name)
        f = decl.field(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in required and f.kind != "bool":
                raise InvalidInput(f"fields.{name} is required", field=f"fields.{name}")
            if f.kind == "bool" and name in required:
                value = False
            else:
                continue
        converted = _coerce_one(session, f, value, zone=zone, case_path=case_path)
        (personal if f.personal else plain)[name] = converted
    return plain, personal
