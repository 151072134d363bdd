"""declarative partitions of the four large tables on PostgreSQL (issue 23)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-11 01:00:00

``partition_county`` (the county, ``0`` for the rows of none; never NULL, no foreign key) on
``incident_event``, ``audit_event``, ``device_status_event`` and ``material_movement``,
filled from ``county_id``. On SQLite that is all. On PostgreSQL each table is copied into a
partitioned one and swapped in (:mod:`fangkong.core.partitions`): LIST by ``partition_county``
with a partition per county (the district-level areas: their paths are ``/city/county/``), one
for the rows of none and a DEFAULT; the audit log and the timelines again by month of ``at``,
the months of their rows and the coming ones, with a DEFAULT month. The new table keeps the
old one's columns and defaults (its id sequence: ids continue), indexes, foreign keys,
row-level security (policies, forced), grants and triggers (the append-only guards of the audit
log and the ledger: a row trigger of the parent is cloned to every partition, and each
partition gets the parent's TRUNCATE guard); its primary key and unique constraints gain the
partition columns (``(id, partition_county[, at])``), and the ledger's correction reference
becomes ``(corrects_id, partition_county)`` (a correction is of the same holder's row, so of
the same county). The downgrade copies each back into a plain table as 0022 had it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fangkong.core import partition_swap, partitions

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables, as of this revision, and their month column (None: by county alone).
TABLES: dict[str, str | None] = {
    "incident_event": "at",
    "audit_event": "at",
    "device_status_event": None,
    "material_movement": None,
}
COLUMN = "partition_county"
#: The rows of no county.
NONE = 0
#: Months made ahead of the current one by the migration.
AHEAD = 3
#: The ledger's correction reference, plain and partitioned.
CORRECTS_PLAIN = "FOREIGN KEY (corrects_id) REFERENCES material_movement(id)"
CORRECTS_PARTITIONED = (
    "FOREIGN KEY (corrects_id, partition_county) REFERENCES material_movement(id, partition_county)"
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _corrects(definition: str, partitioned: bool) -> str:
    """The ledger's correction reference as the swapped table has it."""
    if CORRECTS_PLAIN not in definition and CORRECTS_PARTITIONED not in definition:
        return definition
    return (
        definition.replace(CORRECTS_PLAIN, CORRECTS_PARTITIONED)
        if partitioned
        else definition.replace(CORRECTS_PARTITIONED, CORRECTS_PLAIN)
    )


def _swap(table: str, *, partitioned: bool) -> None:
    """Copy ``table`` into a new one (partitioned or plain) and put it in its place."""
    partition_swap.swap(
        op.get_bind(),
        table,
        partitioned=partitioned,
        month=TABLES[table],
        ahead=AHEAD,
        rewrite=_corrects if table == "material_movement" else None,
    )


def _sqlite_fill(table: str) -> None:
    """The rows' own key on SQLite; an append-only table's triggers let this one fill
    through (dropped, then created again as they were)."""
    conn = op.get_bind()
    triggers = conn.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
        {"t": table},
    ).all()
    for name, _ in triggers:
        op.execute(f'DROP TRIGGER "{name}"')
    op.execute(f"UPDATE {table} SET {COLUMN} = county_id WHERE county_id IS NOT NULL")
    for _, sql in triggers:
        op.execute(str(sql))


def upgrade() -> None:
    if not _postgresql():
        for table in TABLES:
            # SQLite adds a NOT NULL column only with a default; the rows' own follow.
            op.execute(f"ALTER TABLE {table} ADD COLUMN {COLUMN} INTEGER NOT NULL DEFAULT {NONE}")
            _sqlite_fill(table)
        return
    op.execute(partitions.FUNCTIONS)
    for table in TABLES:
        _swap(table, partitioned=True)


def downgrade() -> None:
    if not _postgresql():
        for table in reversed(TABLES):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {COLUMN}")
        return
    for table in reversed(TABLES):
        _swap(table, partitioned=False)
    op.execute(partitions.DROP_FUNCTIONS)
