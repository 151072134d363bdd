"""row-level security by area path on the registers' tables (PostgreSQL; nothing on SQLite)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:00:00

Key facilities, devices, hazardous-material holders, their ledger rows, counts and findings
are read only within the transaction's scope (``fangkong.scope_paths``), as the tables of
migration 0008 are (see ``fangkong.core.db_postgresql``; the policies are this revision's own
copy). A holder's sites are filed under the holder and read through it (their own area may lie
in another precinct): not under the wall. The ledger's rows are never updated or deleted (the
triggers of 0010), whatever a policy would allow.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "facility",
    "device",
    "material_holder",
    "material_movement",
    "material_stock_count",
    "material_finding",
)
POLICIES = ("fangkong_read", "fangkong_insert", "fangkong_update", "fangkong_delete")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    for table in TABLES:
        op.execute(
            f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY fangkong_read ON {table} FOR SELECT USING (fangkong_in_scope(area_path));
CREATE POLICY fangkong_insert ON {table} FOR INSERT WITH CHECK (true);
CREATE POLICY fangkong_update ON {table} FOR UPDATE
    USING (fangkong_in_scope(area_path)) WITH CHECK (true);
CREATE POLICY fangkong_delete ON {table} FOR DELETE USING (fangkong_in_scope(area_path));
"""
        )


def downgrade() -> None:
    if not _postgresql():
        return
    for table in TABLES:
        for policy in POLICIES:
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
