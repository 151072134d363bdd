"""Loading the teams from a spreadsheet (CSV or XLSX), each row checked on its own: a bad row
is reported with its number, column and rule, and the others still load. A row whose code
exists updates that team; a new code registers one. One audit event per file.
:func:`export_rows` writes the import's columns, so an export reads back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fangkong.community import service
from fangkong.community.listing import TEAM_COLUMNS, TEAM_REQUIRED, teams_select
from fangkong.community.models import SafetyTeam, TeamKind
from fangkong.community.schemas import TeamIn
from fangkong.core.audit import Actor
from fangkong.core.errors import NotFound
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.http.sheets import (
    Cell,
    ImportReport,
    Register,
    column_aliases,
    import_register,
    parse_row,
    read_rows,
    require_keys,
    whole,
)

COUNTS = ("member_count", "buildings", "households")


def _aliases() -> dict[str, str]:
    return column_aliases(TEAM_COLUMNS, "community.field.")


def _kinds() -> dict[str, str]:
    return {
        translate(f"community.kind.{k.value}", language): k.value
        for k in TeamKind
        for language in ("zh-CN", "en")
    }


def normalise(cells: dict[str, Cell]) -> dict[str, Any]:
    names, kinds = _aliases(), _kinds()
    out: dict[str, Any] = {}
    for column, value in cells.items():
        key = names.get(column)
        if key is None:
            continue
        if key in COUNTS and value is not None:
            value = whole(value)
        elif key == "kind" and isinstance(value, str):
            value = kinds.get(value.strip(), value.strip())
        elif key in ("code", "area") and value is not None:
            value = str(value).strip()
        if value is None and key in COUNTS:
            continue
        out[key] = value
    return out


def import_teams(
    session: Session, *, name: str, data: bytes, actor: Actor, scope: Scope | None, now: datetime
) -> ImportReport:
    """Register or update the teams of a CSV or XLSX file (columns
    :data:`~fangkong.community.listing.TEAM_COLUMNS`, by key or label)."""
    rows = read_rows(name, data)
    require_keys(rows, _aliases(), TEAM_REQUIRED)

    def update(team: SafetyTeam, team_in: TeamIn) -> None:
        service.update_team(
            session, team=team, data=team_in, actor=actor, scope=scope, now=now, audited=False
        )

    teams: Register[TeamIn, SafetyTeam] = Register(
        entity="safety_team",
        parse=lambda cells: parse_row(TeamIn, normalise(cells)),
        find=lambda team_in: service.get_by_code(session, code=team_in.code.strip()),
        create=lambda team_in: service.create_team(
            session, data=team_in, actor=actor, scope=scope, audited=False
        ),
        update=update,
        area_path=lambda team: team.area_path,
        exists_elsewhere=lambda team: NotFound(
            key="error.community.team_exists", params={"code": team.code}, field="code"
        ),
    )
    return import_register(session, teams, name=name, rows=rows, actor=actor, scope=scope)


def export_rows(session: Session, *, scope: Scope) -> tuple[list[str], Iterator[list[Any]]]:
    """The teams in the import's columns (values, not labels): what the CLI writes."""

    def rows() -> Iterator[list[Any]]:
        for team in session.scalars(teams_select(scope).order_by(SafetyTeam.code)).unique():
            yield [
                team.code,
                team.name,
                team.kind.value,
                team.area.code if team.area else "",
                team.member_count,
                team.buildings,
                team.households,
            ]

    return list(TEAM_COLUMNS), rows()
