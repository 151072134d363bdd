"""the county (tenant) key: county_id on every table with a place, backfilled (issue 23)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-09 01:00:00

Every table that keeps an area path gets ``county_id`` (foreign key to ``area``, indexed): the
county of its path, the second id of ``/city/county/...`` (:mod:`fangkong.core.county`); every
table that hangs off one of them gets its parent's. Both backends. The backfill reads each
table's distinct paths and sets the county of each; the children copy their parent's. The
append-only tables (audit log, ledger, chain of custody) let this one backfill through: on
PostgreSQL their user triggers are disabled and row-level security is not forced for the
statement's length, on SQLite their triggers are dropped and created again as they were.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fangkong.core.county import county_of

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> its path column, in the order they are filled
FROM_PATH: dict[str, str] = {
    "area": "path",
    "standard_address": "area_path",
    "area_residents": "area_path",
    "audit_event": "area_path",
    "case_record": "area_path",
    "dispatch_replay": "area_path",
    "emergency_plan": "area_path",
    "facility": "area_path",
    "incident": "area_path",
    "indicator_input": "area_path",
    "indicator_value": "area_path",
    "indicator_task": "area_path",
    "material_holder": "area_path",
    "material_site": "area_path",
    "material_movement": "area_path",
    "material_stock_count": "area_path",
    "material_finding": "area_path",
    "planning_analysis": "area_path",
    "planning_checkpoint": "area_path",
    "planning_scenario": "area_path",
    "planning_run": "area_path",
    "planning_roster_hour": "area_path",
    "police_post": "area_path",
    "unit": "home_area_path",
    "safety_team": "area_path",
    "safety_member": "area_path",
    "safety_shift": "area_path",
    "public_tip": "area_path",
    "custody_item": "area_path",
    "custody_step": "area_path",
    "device": "area_path",
    "emergency_activation": "area_path",
    "event_application": "area_path",
}
#: table -> (parent table, foreign-key column), filled after their parents
FROM_PARENT: dict[str, tuple[str, str]] = {
    "case_attachment": ("case_record", "case_id"),
    "case_deadline_action": ("case_record", "case_id"),
    "case_event": ("case_record", "case_id"),
    "case_link": ("case_record", "case_id"),
    "case_notice": ("case_record", "case_id"),
    "case_party": ("case_record", "case_id"),
    "device_status_event": ("device", "device_id"),
    "incident_event": ("incident", "incident_id"),
    "dispatch_assignment": ("incident", "incident_id"),
    "emergency_activation_step": ("emergency_activation", "activation_id"),
    "event_security_post": ("event_application", "event_id"),
    "material_site_capacity": ("material_site", "site_id"),
    "safety_shift_member": ("safety_shift", "shift_id"),
    "planning_scenario_site": ("planning_scenario", "scenario_id"),
    "planning_address_weight": ("standard_address", "address_id"),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _add(table: str) -> None:
    fk, ix = f"fk_{table}_county_id_area", f"ix_{table}_county_id"
    if _postgresql():
        op.add_column(table, sa.Column("county_id", sa.Integer(), nullable=True))
        op.create_foreign_key(fk, table, "area", ["county_id"], ["id"])
    else:  # SQLite adds a column's reference inline, never as a constraint of its own
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN county_id INTEGER CONSTRAINT {fk} REFERENCES area (id)"
        )
    op.create_index(ix, table, ["county_id"])


class _Unguarded:
    """Let the migration write ``table`` whatever its append-only guards say."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.triggers: list[str] = []
        self.forced = False

    def __enter__(self) -> None:
        conn = op.get_bind()
        if _postgresql():
            self.forced = bool(
                conn.execute(
                    sa.text("SELECT relforcerowsecurity FROM pg_class WHERE relname = :t"),
                    {"t": self.table},
                ).scalar()
            )
            op.execute(f"ALTER TABLE {self.table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {self.table} DISABLE TRIGGER USER")
            return
        rows = conn.execute(
            sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": self.table},
        ).all()
        self.triggers = [str(sql) for _, sql in rows]
        for name, _ in rows:
            op.execute(f'DROP TRIGGER "{name}"')

    def __exit__(self, *_exc: object) -> None:
        if _postgresql():
            op.execute(f"ALTER TABLE {self.table} ENABLE TRIGGER USER")
            if self.forced:
                op.execute(f"ALTER TABLE {self.table} FORCE ROW LEVEL SECURITY")
            return
        for sql in self.triggers:
            op.execute(sql)


def _fill_from_path(table: str, column: str) -> None:
    conn = op.get_bind()
    paths = conn.execute(
        sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")
    ).scalars()
    counties = [{"c": county_of(p), "p": p} for p in paths if county_of(p) is not None]
    if counties:
        with _Unguarded(table):
            conn.execute(
                sa.text(f"UPDATE {table} SET county_id = :c WHERE {column} = :p"), counties
            )


def _fill_from_parent(table: str, parent: str, via: str) -> None:
    conn = op.get_bind()
    if conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is None:
        return
    with _Unguarded(table):
        conn.execute(
            sa.text(
                f"UPDATE {table} SET county_id = "
                f"(SELECT p.county_id FROM {parent} AS p WHERE p.id = {table}.{via})"
            )
        )


def upgrade() -> None:
    for table in (*FROM_PATH, *FROM_PARENT):
        _add(table)
    for table, column in FROM_PATH.items():
        _fill_from_path(table, column)
    for table, (parent, via) in FROM_PARENT.items():
        _fill_from_parent(table, parent, via)


def downgrade() -> None:
    for table in reversed((*FROM_PATH, *FROM_PARENT)):
        op.drop_index(f"ix_{table}_county_id", table_name=table)
        if _postgresql():
            op.drop_constraint(f"fk_{table}_county_id_area", table, type_="foreignkey")
            op.drop_column(table, "county_id")
        else:
            op.execute(f"ALTER TABLE {table} DROP COLUMN county_id")
