"""row-level security by county, the second wall's first check (PostgreSQL; issue 23)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09 02:00:00

The transaction's scope names the counties its user's areas reach (``fangkong.scope_counties``,
set with the paths by :func:`fangkong.core.db_postgresql.set_scope`): every table under
row-level security by its own area path (migrations 0008, 0013, 0018) now checks the county
key first, then the path; an incident's timeline events and dispatch assignments, a device's
status history and a case's steps, which had no wall of their own, are read, updated and
deleted only within the scope's counties. The audit purge function reads as the system in
both settings. Nothing on SQLite.
"""

from collections.abc import Sequence

from alembic import op

from fangkong.core import db_postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "fangkong.reader_id"
#: The tables under row-level security by their own area path, and that column.
BY_PATH = {
    "area": "path",
    "standard_address": "area_path",
    "incident": "area_path",
    "case_record": "area_path",
    "unit": "home_area_path",
    "police_post": "area_path",
    "dispatch_replay": "area_path",
    "audit_event": "area_path",
    "facility": "area_path",
    "device": "area_path",
    "material_holder": "area_path",
    "material_movement": "area_path",
    "material_stock_count": "area_path",
    "material_finding": "area_path",
    "safety_team": "area_path",
    "safety_member": "area_path",
    "safety_shift": "area_path",
    "area_residents": "area_path",
    "public_tip": "area_path",
    "custody_item": "area_path",
    "custody_step": "area_path",
}
#: The children under a wall of their own: by the county copied from their parent.
BY_COUNTY = ("incident_event", "dispatch_assignment", "device_status_event", "case_event")
POLICIES = ("fangkong_read", "fangkong_insert", "fangkong_update", "fangkong_delete")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _recreate(table: str, in_scope: str) -> None:
    if table == "audit_event":
        op.execute(
            f"""
DROP POLICY fangkong_read ON audit_event;
CREATE POLICY fangkong_read ON audit_event FOR SELECT USING (
    ({in_scope})
    OR user_id = nullif(current_setting('{READER}', true), '')::integer
);
"""
        )
        return
    op.execute(
        f"""
DROP POLICY fangkong_read ON {table};
DROP POLICY fangkong_update ON {table};
DROP POLICY fangkong_delete ON {table};
CREATE POLICY fangkong_read ON {table} FOR SELECT USING ({in_scope});
CREATE POLICY fangkong_update ON {table} FOR UPDATE USING ({in_scope}) WITH CHECK (true);
CREATE POLICY fangkong_delete ON {table} FOR DELETE USING ({in_scope});
"""
    )


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute(db_postgresql.COUNTY_FUNCTIONS)
    op.execute(db_postgresql.AUDIT_PURGE)
    for table, column in BY_PATH.items():
        # The county first: on a table partitioned by it, the planner prunes by it.
        _recreate(table, f"fangkong_in_county(county_id) AND fangkong_in_scope({column})")
    for table in BY_COUNTY:
        op.execute(
            f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY fangkong_read ON {table} FOR SELECT USING (fangkong_in_county(county_id));
CREATE POLICY fangkong_insert ON {table} FOR INSERT WITH CHECK (true);
CREATE POLICY fangkong_update ON {table} FOR UPDATE
    USING (fangkong_in_county(county_id)) WITH CHECK (true);
CREATE POLICY fangkong_delete ON {table} FOR DELETE USING (fangkong_in_county(county_id));
"""
        )


def downgrade() -> None:
    if not _postgresql():
        return
    for table in BY_COUNTY:
        for policy in POLICIES:
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table, column in BY_PATH.items():
        _recreate(table, f"fangkong_in_scope({column})")
    op.execute(db_postgresql.DROP_COUNTY_FUNCTIONS)
