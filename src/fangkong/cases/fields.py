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
from fangkong.core.bounds import FIRST_DAY, LAST_DAY, MAX_BIGINT, MAX_ID, in_range
from fangkong.core.errors import InvalidInput
from fangkong.core.models import User
from fangkong.core.scoping import scope_for


def _coerce_one(
    session: Session, f: FieldDecl, raw: Any, *, zone: ZoneInfo, case_path: str | None
) -> Any:
    where = f"fields.{f.name}"
    if f.kind in ("text", "longtext"):
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput(key="error.cases.field_text", params={"name": f.name}, field=where)
        if len(raw) > f.max_length:
            raise InvalidInput(
                key="error.cases.field_long",
                params={"name": f.name, "length": len(raw), "max": f.max_length},
                field=where,
            )
        return raw.strip()
    if f.kind == "choice":
        if raw not in f.options:
            raise InvalidInput(
                key="error.cases.field_choice",
                params={"name": f.name, "value": raw, "options": ", ".join(f.options)},
                field=where,
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
        raise InvalidInput(
            key="error.cases.field_bool", params={"name": f.name, "value": raw}, field=where
        )
    if f.kind == "int":
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise InvalidInput(
                key="error.cases.field_int", params={"name": f.name, "value": raw}, field=where
            ) from None
        if not -MAX_BIGINT <= number <= MAX_BIGINT:
            raise InvalidInput(
                key="error.cases.field_int", params={"name": f.name, "value": raw}, field=where
            )
        return number
    if f.kind == "date":
        try:
            day = date.fromisoformat(str(raw))
        except ValueError:
            raise InvalidInput(
                key="error.cases.field_date", params={"name": f.name, "value": raw}, field=where
            ) from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise _out_of_years(f, raw, where)
        return day.isoformat()
    if f.kind == "datetime":
        try:
            moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        except ValueError:
            raise InvalidInput(
                key="error.cases.field_datetime",
                params={"name": f.name, "value": raw},
                field=where,
            ) from None
        # The year as written first: a time at the calendar's edge overflows in UTC.
        if not in_range(moment) or not in_range(moment.replace(tzinfo=moment.tzinfo or zone)):
            raise _out_of_years(f, raw, where)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return iso(moment)
    # kind == "user": a staff member who can see the case. One who cannot is answered as one
    # who does not exist, by the id given: the caller learns nothing of other areas' staff.
    try:
        user_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(
            key="error.cases.field_user_id", params={"name": f.name, "value": raw}, field=where
        ) from None
    if not 1 <= user_id <= MAX_ID:
        raise InvalidInput(
            key="error.cases.field_user_id", params={"name": f.name, "value": raw}, field=where
        )
    user = session.get(User, user_id)
    if (
        user is None
        or not user.is_active
        or (case_path is not None and not scope_for(session, user).covers(case_path))
    ):
        raise InvalidInput(
            key="error.cases.field_user_unknown",
            params={"name": f.name, "user_id": user_id},
            field=where,
        )
    if f.user_roles and user.role not in f.user_roles:
        raise InvalidInput(
            key="error.cases.field_user_role",
            params={
                "name": f.name,
                "user_id": user_id,
                "roles": " or ".join(r.value for r in f.user_roles),
            },
            field=where,
        )
    return user_id


def _out_of_years(f: FieldDecl, raw: Any, where: str) -> InvalidInput:
    return InvalidInput(
        key="error.cases.field_years",
        params={"name": f.name, "value": raw, "first": FIRST_DAY.year, "last": LAST_DAY.year},
        field=where,
    )


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
        if not allowed:
            raise InvalidInput(
                key="error.cases.field_not_asked_none",
                params={"name": unknown[0]},
                field=f"fields.{unknown[0]}",
            )
        raise InvalidInput(
            key="error.cases.field_not_asked",
            params={"name": unknown[0], "asked": ", ".join(sorted(allowed))},
            field=f"fields.{unknown[0]}",
        )
    plain: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    for name in (*required, *sorted(allowed - set(required))):
        value = raw.get(name)
        f = decl.field(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in required and f.kind != "bool":
                raise InvalidInput(
                    key="error.cases.field_required", params={"name": name}, field=f"fields.{name}"
                )
            if f.kind == "bool" and name in required:
                value = False
            else:
                continue
        converted = _coerce_one(session, f, value, zone=zone, case_path=case_path)
        (personal if f.personal else plain)[name] = converted
    return plain, personal
