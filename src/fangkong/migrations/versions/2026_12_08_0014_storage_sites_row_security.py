"""storage sites under row-level security (issue 19)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 00:00:00

A holder's sites and their capacities are read through the holder (PostgreSQL; nothing on
SQLite): a site is seen, updated and deleted only where its holder's area path is in the
transaction's scope (``fangkong_in_scope``, migration 0008), a capacity only where its site
is. Not by the site's own area: a magazine out of town stands in another precinct than its
holder, and the holder's station keeps its books (the services scope sites the same way,
:func:`fangkong.materials.register.get_site_by_code_or_raise`). A site's code is unique
across the county, checked as the system.

Both backends: the device figures' covering index ``ix_device_figures`` (area, zone type,
type, owner, networked, status), from which the figures count their groups of devices in
index order, without reading or sorting the table (issue 19's benchmark: SQLite sorted
100,000 devices for the GROUP BY, slower than pandas reading them all).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Each table and the condition that puts one of its rows in the transaction's scope.
IN_SCOPE = {
    "material_site": (
        "EXISTS (SELECT 1 FROM material_holder AS h"
        " WHERE h.id = material_site.holder_id AND fangkong_in_scope(h.area_path))"
    ),
    "material_site_capacity": (
        "EXISTS (SELECT 1 FROM material_site AS s JOIN material_holder AS h ON h.id = s.holder_id"
        " WHERE s.id = material_site_capacity.site_id AND fangkong_in_scope(h.area_path))"
    ),
}
POLICIES = ("fangkong_read", "fangkong_insert", "fangkong_update", "fangkong_delete")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


FIGURES_INDEX = "ix_device_figures"
FIGURES_COLUMNS = ["area_id", "zone_type", "device_type", "owner_kind", "networked", "status"]


def upgrade() -> None:
    op.create_index(FIGURES_INDEX, "device", FIGURES_COLUMNS)
    if not _postgresql():
        return
    for table, in_scope in IN_SCOPE.items():
        op.execute(
            f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY fangkong_read ON {table} FOR SELECT USING ({in_scope});
CREATE POLICY fangkong_insert ON {table} FOR INSERT WITH CHECK (true);
CREATE POLICY fangkong_update ON {table} FOR UPDATE USING ({in_scope}) WITH CHECK (true);
CREATE POLICY fangkong_delete ON {table} FOR DELETE USING ({in_scope});
"""
        )


def downgrade() -> None:
    op.drop_index(FIGURES_INDEX, table_name="device")
    if not _postgresql():
        return
    for table in IN_SCOPE:
        for policy in POLICIES:
            op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
