"""The case list (案事件) as a table of :mod:`fangkong.http.tables`: the cases of the user's
areas, filtered by type, state, area, open or closed, overdue and the day they were opened,
sorted by any of its columns, exported as CSV or XLSX.

The title is shown to readers in scope but never exported: people write names in it (free
text, see the personal-data register); no party, description or field value is a column.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import registry
from fangkong.cases._common import number
from fangkong.cases.engine import CaseFilter, filter_clauses, is_overdue
from fangkong.cases.models import Case
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.http.tables import Column, Filter, Table


def base_select(scope: Scope) -> Select[Case]:
    """The cases of ``scope``, joined to their area (sorted by its code or name)."""
    return select(Case).join(Area, Area.id == Case.area_id).where(scope.clause(Case.area_path))


def number_clause(text: str) -> ColumnElement[bool]:
    """The case a number names: ``HZ-000042``, ``hz-42`` or ``42`` (its id); nothing else."""
    found = re.fullmatch(r"\s*(?:([A-Za-z]{2,4})-)?0*(\d{1,18})\s*", text)
    if found is None:
        return false()
    clause = Case.id == int(found.group(2))
    prefix = (found.group(1) or "").upper()
    if prefix:
        types = [d.name for d in registry.all_types() if d.prefix == prefix]
        return and_(clause, Case.case_type.in_(types)) if types else false()
    return clause


def _flag(value: bool, language: str) -> str:
    return translate("cases.yes" if value else "cases.no", language)


def table(session: Session, *, scope: Scope, language: str, now: datetime) -> Table:
    """The case list's table for a reader with ``scope`` in ``language`` (``now``: what
    overdue means), newest first."""

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    def only(name: str, convert: Any = str) -> Any:
        """The condition of one field of :class:`CaseFilter` set to ``convert(value)``."""

        def build(value: Any) -> ColumnElement[bool]:
            filters = CaseFilter(**{name: convert(value)})
            return and_(*filter_clauses(session, scope=scope, filters=filters, now=now))

        return build

    def yes(value: str) -> bool:
        return value == "1"

    types = registry.all_types()
    type_label = {d.name: t(f"cases.type.{d.name}") for d in types}

    def state_label(case: Case) -> str:
        return t(f"cases.{case.case_type}.state.{case.state}")

    area_name = Area.name_en if language == "en" else pinyin(Area.name_zh)
    # A state's name may be declared by several types: one choice, every type's label.
    labels: dict[str, list[str]] = {}
    for decl in types:
        for state in decl.states:
            text = f"{type_label[decl.name]} · {t(f'cases.{decl.name}.state.{state.name}')}"
            labels.setdefault(state.name, []).append(text)
    states = tuple((name, " / ".join(found)) for name, found in labels.items())
    return Table(
        name="case",
        columns=(
            Column("number", t("cases.number"), number, sort=Case.id),
            Column(
                "type",
                t("cases.type"),
                lambda c: type_label.get(c.case_type, c.case_type),
                sort=Case.case_type,
            ),
            Column("title", t("cases.case_title"), lambda c: c.title, export=False),
            Column("state", t("cases.state"), state_label, sort=Case.state),
            Column("area", t("cases.area"), lambda c: c.area.name(language), sort=area_name),
            Column(
                "area_code", t("cases.area_code"), lambda c: c.area.code, sort=Area.code, show=False
            ),
            Column("opened_at", t("cases.opened_at"), lambda c: c.opened_at, sort=Case.opened_at),
            Column("due_at", t("cases.due_at"), lambda c: c.due_at, sort=Case.due_at),
            Column(
                "closed_at",
                t("cases.closed_at"),
                lambda c: c.closed_at,
                sort=Case.closed_at,
                show=False,
            ),
            Column(
                "overdue",
                t("cases.overdue"),
                lambda c: _flag(is_overdue(c, now), language),
                show=False,
            ),
            Column(
                "supervised",
                t("cases.supervised"),
                lambda c: c.supervision_count,
                numeric=True,
                show=False,
            ),
            Column(
                "escalation_risk",
                t("cases.escalation_risk"),
                lambda c: _flag(c.escalation_risk, language),
                show=False,
            ),
        ),
        filters=(
            Filter(
                "q", t("cases.number"), where=number_clause, max_length=32, placeholder="HZ-000042"
            ),
            Filter(
                "type",
                t("cases.type"),
                "choice",
                where=only("case_type"),
                choices=tuple(type_label.items()),
            ),
            Filter("state", t("cases.state"), "choice", where=only("state"), choices=states),
            Filter("area", t("cases.area_code"), where=only("area_code"), max_length=32),
            Filter(
                "open",
                t("cases.open_filter"),
                "choice",
                where=only("open", yes),
                choices=(("1", t("cases.open")), ("0", t("cases.closed"))),
            ),
            Filter(
                "overdue",
                t("cases.overdue"),
                "choice",
                where=only("overdue", yes),
                choices=(("1", t("cases.yes")), ("0", t("cases.no"))),
            ),
            Filter(
                "from", t("cases.opened_from"), "date_from", where=lambda v: Case.opened_at >= v
            ),
            Filter("to", t("cases.opened_to"), "date_to", where=lambda v: Case.opened_at < v),
        ),
        default_sort="-number",
        tiebreak=(Case.id.desc(),),
    )
