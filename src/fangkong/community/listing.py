"""The lists of the community domain as tables of :mod:`fangkong.http.tables`: the teams and
the public's tips of the user's areas, searched, filtered, sorted and exported. Free text and
personal data are never columns (a tip's text is its case's; a member is not listed here)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.community.models import PublicTip, SafetyTeam, TeamKind, TipCategory, TipStatus
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.core.text_match import contains_text
from fangkong.http.tables import Column, Filter, Table

#: The columns of a team import (and of an export): what :class:`~.schemas.TeamIn` takes.
TEAM_COLUMNS = ("code", "name", "kind", "area", "member_count", "buildings", "households")
TEAM_REQUIRED = ("code", "name", "kind", "area")


def teams_select(scope: Scope) -> Select[SafetyTeam]:
    return select(SafetyTeam).where(scope.clause(SafetyTeam.area_path))


def tips_select(scope: Scope) -> Select[PublicTip]:
    return select(PublicTip).where(scope.clause(PublicTip.area_path))


def _area_filter(session: Session, scope: Scope, column: object) -> object:
    def where(code: str) -> ColumnElement[bool]:
        found = area_service.get_by_code_or_raise(session, code=code, scope=scope)
        return column.startswith(found.path, autoescape=True)  # type: ignore[attr-defined, no-any-return]

    return where


def team_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The teams of ``scope`` in ``language``, by code."""

    def t(key: str) -> str:
        return translate(key, language)

    def text(value: str) -> ColumnElement[bool]:
        return contains_text(value, SafetyTeam.code, SafetyTeam.name)

    return Table(
        name="safety_team",
        columns=(
            Column("code", t("community.field.code"), lambda r: r.code, sort=SafetyTeam.code),
            Column(
                "name", t("community.field.name"), lambda r: r.name, sort=pinyin(SafetyTeam.name)
            ),
            Column(
                "kind",
                t("community.field.kind"),
                lambda r: t(f"community.kind.{r.kind.value}"),
                sort=SafetyTeam.kind,
            ),
            Column(
                "area",
                t("community.field.area"),
                lambda r: r.area.code if r.area else None,
                sort=SafetyTeam.area_path,
            ),
            Column(
                "member_count",
                t("community.field.member_count"),
                lambda r: r.member_count,
                sort=SafetyTeam.member_count,
                numeric=True,
            ),
            Column(
                "buildings",
                t("community.field.buildings"),
                lambda r: r.buildings,
                sort=SafetyTeam.buildings,
                numeric=True,
            ),
            Column(
                "households",
                t("community.field.households"),
                lambda r: r.households,
                sort=SafetyTeam.households,
                numeric=True,
            ),
            Column(
                "active",
                t("community.field.active"),
                lambda r: t("community.yes") if r.active else t("community.no"),
                sort=SafetyTeam.active,
            ),
        ),
        filters=(
            Filter("q", t("community.search"), where=text, max_length=64),
            Filter(
                "kind",
                t("community.field.kind"),
                "choice",
                where=lambda v: SafetyTeam.kind == v,
                choices=tuple((k.value, t(f"community.kind.{k.value}")) for k in TeamKind),
            ),
            Filter(
                "area",
                t("community.field.area"),
                where=_area_filter(session, scope, SafetyTeam.area_path),  # type: ignore[arg-type]
                max_length=32,
            ),
        ),
        default_sort="code",
        tiebreak=(SafetyTeam.id,),
    )


def tip_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The public's tips received in ``scope``, newest first; no text, no contact."""

    def t(key: str) -> str:
        return translate(key, language)

    def case_number(tip: PublicTip) -> str | None:
        if tip.case_id is None:
            return None
        case = session.get(Case, tip.case_id)
        if case is None:
            return None
        return cases.number(case)

    return Table(
        name="public_tip",
        columns=(
            Column("id", "#", lambda r: r.id, sort=PublicTip.id, numeric=True),
            Column(
                "received_at",
                t("community.field.received_at"),
                lambda r: r.received_at,
                sort=PublicTip.received_at,
            ),
            Column(
                "category",
                t("community.field.category"),
                lambda r: t(f"community.tip_category.{r.category.value}"),
                sort=PublicTip.category,
            ),
            Column(
                "status",
                t("community.field.status"),
                lambda r: t(f"community.tip_status.{r.status.value}"),
                sort=PublicTip.status,
            ),
            Column(
                "reject_reason",
                t("community.field.reject_reason"),
                lambda r: t(f"community.reject.{r.reject_reason}") if r.reject_reason else "",
            ),
            Column("case", t("community.field.case"), case_number),
            Column(
                "area",
                t("community.field.area"),
                lambda r: r.area.code if r.area else None,
                sort=PublicTip.area_path,
            ),
        ),
        filters=(
            Filter(
                "status",
                t("community.field.status"),
                "choice",
                where=lambda v: PublicTip.status == v,
                choices=tuple((s.value, t(f"community.tip_status.{s.value}")) for s in TipStatus),
            ),
            Filter(
                "category",
                t("community.field.category"),
                "choice",
                where=lambda v: PublicTip.category == v,
                choices=tuple(
                    (c.value, t(f"community.tip_category.{c.value}")) for c in TipCategory
                ),
            ),
            Filter(
                "area",
                t("community.field.area"),
                where=_area_filter(session, scope, PublicTip.area_path),  # type: ignore[arg-type]
                max_length=32,
            ),
            Filter(
                "from",
                t("community.from"),
                "date_from",
                where=lambda v: PublicTip.received_at >= v,
            ),
            Filter("to", t("community.to"), "date_to", where=lambda v: PublicTip.received_at < v),
        ),
        default_sort="-received_at",
        tiebreak=(PublicTip.id,),
    )
