"""The audit log as the console shows it: the shared table (:mod:`fangkong.http.tables`) over
the events a reader may see (:func:`fangkong.core.audit.visible_to`: those of their areas,
their own, and events of no area to readers of the whole tree), with each action and kind of
record named in the reader's language and each detail written out as readable JSON."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.i18n import catalogue, translate
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import Scope
from fangkong.http.tables import Column, Filter, Table

ACTION_PREFIX = "audit.action."
ENTITY_PREFIX = "audit.entity."


def base_select(session: Session, *, scope: Scope, reader_id: int | None) -> Select[AuditEvent]:
    """The events a reader with ``scope`` may see (scoped as the API's ``GET /audit``)."""
    return select(AuditEvent).where(audit.visible_to(session, scope=scope, reader_id=reader_id))


def labelled(prefix: str, language: str) -> tuple[tuple[str, str], ...]:
    """The values with a label under ``prefix`` in the catalogue, by label."""
    found = [
        (key.removeprefix(prefix), text)
        for key, text in catalogue(language).items()
        if key.startswith(prefix)
    ]
    return tuple(sorted(found, key=lambda pair: pair[1]))


def label(prefix: str, value: str | None, language: str) -> str:
    """``value``'s label in ``language``; the value itself where it has none."""
    if not value:
        return ""
    text = translate(prefix + value, language)
    return value if text == prefix + value else text


def readable(detail: dict[str, Any] | list[Any] | None, *, indent: int | None = 2) -> str:
    """A detail as people read it: JSON with its characters as they are (not ``\\u5de1``)."""
    if detail is None:
        return ""
    return json.dumps(detail, ensure_ascii=False, indent=indent, sort_keys=True)


def _equals(column: Any) -> Any:
    def build(value: str) -> ColumnElement[bool]:
        return column == value  # type: ignore[no-any-return]

    return build


def table(language: str) -> Table:
    """The audit log's table in ``language``, newest first."""

    def t(key: str) -> str:
        return translate(key, language)

    return Table(
        name="audit_event",
        columns=(
            Column("at", t("audit.at"), lambda e: e.at, sort=AuditEvent.at, fmt="seconds"),
            Column("user", t("audit.user"), lambda e: e.username or "", sort=AuditEvent.username),
            Column(
                "action",
                t("audit.action"),
                lambda e: label(ACTION_PREFIX, e.action, language),
                sort=AuditEvent.action,
            ),
            Column(
                "entity",
                t("audit.entity"),
                lambda e: label(ENTITY_PREFIX, e.entity, language),
                sort=AuditEvent.entity,
            ),
            Column("entity_id", t("audit.entity_id"), lambda e: e.entity_id or ""),
            Column("client", t("audit.client"), lambda e: e.client or "", sort=AuditEvent.client),
            Column("detail", t("audit.detail"), lambda e: readable(e.detail, indent=None)),
        ),
        filters=(
            Filter(
                "action",
                t("audit.action"),
                "choice",
                where=_equals(AuditEvent.action),
                choices=labelled(ACTION_PREFIX, language),
            ),
            Filter(
                "entity",
                t("audit.entity"),
                "choice",
                where=_equals(AuditEvent.entity),
                choices=labelled(ENTITY_PREFIX, language),
            ),
            Filter(
                "user",
                t("audit.user"),
                where=lambda v: AuditEvent.username.icontains(v, autoescape=True),
                max_length=64,
                placeholder=t("audit.user_hint"),
            ),
            Filter(
                "entity_id",
                t("audit.entity_id"),
                where=_equals(AuditEvent.entity_id),
                max_length=64,
            ),
            Filter("from", t("audit.from"), "date_from", where=lambda v: AuditEvent.at >= v),
            Filter("to", t("audit.to"), "date_to", where=lambda v: AuditEvent.at < v),
        ),
        default_sort="-at",
        tiebreak=(AuditEvent.id.desc(),),
    )
