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
from typing import Any

import sqlalchemy as sa
from alembic import op

from fangkong.core import partitions

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


def _keys(table: str) -> str:
    month = TABLES[table]
    return f", {COLUMN}" + (f", {month}" if month else "")


class _Shape:
    """What a table is beside its columns: read before the swap, made again after it."""

    def __init__(self, conn: sa.Connection, table: str) -> None:
        self.table = table
        # Indexes that no constraint owns.
        self.indexes: list[str] = list(
            conn.execute(
                sa.text(
                    "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
                    "WHERE i.indrelid = to_regclass(:t) AND NOT EXISTS ("
                    "  SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
                    "  AND c.conrelid = i.indrelid)"
                ),
                {"t": table},
            ).scalars()
        )
        self.constraints: list[tuple[str, str, str]] = [
            (str(r[0]), str(r[1]), str(r[2]))
            for r in conn.execute(
                sa.text(
                    "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = to_regclass(:t) AND conparentid = 0 "
                    "AND contype IN ('p', 'u', 'f', 'c') "
                    "ORDER BY contype = 'f', conname"
                ),
                {"t": table},
            )
        ]
        self.policies: list[Any] = list(
            conn.execute(
                sa.text(
                    "SELECT policyname, permissive, roles, cmd, qual, with_check "
                    "FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t"
                ),
                {"t": table},
            )
        )
        row = conn.execute(
            sa.text(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE oid = to_regclass(:t)"
            ),
            {"t": table},
        ).one()
        self.secured, self.forced = bool(row[0]), bool(row[1])
        self.grants: list[tuple[str, str]] = [
            (str(r[0]), str(r[1]))
            for r in conn.execute(
                sa.text(
                    "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
                    "WHERE table_schema = current_schema() AND table_name = :t "
                    "AND grantee <> (SELECT pg_get_userbyid(relowner) FROM pg_class "
                    "                WHERE oid = to_regclass(:t))"
                ),
                {"t": table},
            )
        ]
        #: The table's own triggers (the append-only guards), as they were created.
        self.triggers: list[str] = list(
            conn.execute(
                sa.text(
                    "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(:t) "
                    "AND NOT tgisinternal AND tgparentid = 0 ORDER BY tgname"
                ),
                {"t": table},
            ).scalars()
        )
        self.sequence: str | None = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}
        ).scalar()

    def make(self, *, partitioned: bool) -> None:
        """Create the constraints, indexes, policies and grants on the new ``table``."""
        table, keys = self.table, _keys(self.table)
        for name, kind, definition in self.constraints:
            if kind in ("p", "u"):
                if partitioned:
                    definition = definition[:-1] + keys + ")"
                else:
                    definition = definition.replace(keys + ")", ")")
            elif kind == "f" and table == "material_movement" and "corrects_id" in definition:
                definition = (
                    definition.replace(CORRECTS_PLAIN, CORRECTS_PARTITIONED)
                    if partitioned
                    else definition.replace(CORRECTS_PARTITIONED, CORRECTS_PLAIN)
                )
            op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for index in self.indexes:
            op.execute(index.replace(" ON ONLY ", " ON "))
        if self.secured:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        if self.forced:
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for name, permissive, roles, cmd, qual, check in self.policies:
            to = ", ".join("public" if r == "public" else f'"{r}"' for r in roles)
            sql = f'CREATE POLICY "{name}" ON {table} AS {permissive} FOR {cmd} TO {to}'
            if qual is not None:
                sql += f" USING ({qual})"
            if check is not None:
                sql += f" WITH CHECK ({check})"
            op.execute(sql)
        for grantee, privilege in self.grants:
            op.execute(f'GRANT {privilege} ON {table} TO "{grantee}"')


def _columns(conn: sa.Connection, table: str) -> list[str]:
    return list(
        conn.execute(
            sa.text(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            ),
            {"t": table},
        ).scalars()
    )


def _swap(table: str, *, partitioned: bool) -> None:
    """Copy ``table`` into a new one (partitioned or plain) and put it in its place."""
    conn = op.get_bind()
    shape = _Shape(conn, table)
    old = f"{table}_swap"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    # The owner copies every row, whatever the connection's scope.
    op.execute(f"ALTER TABLE {old} NO FORCE ROW LEVEL SECURITY")
    columns = [c for c in _columns(conn, old) if partitioned or c != COLUMN]
    if partitioned:
        op.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE, "
            f"{COLUMN} integer NOT NULL) PARTITION BY LIST ({COLUMN})"
        )
        select = ", ".join([*columns, f"coalesce(county_id, {NONE})"])
        insert = ", ".join([*columns, COLUMN])
    else:
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE)")
        op.execute(f"ALTER TABLE {table} DROP COLUMN {COLUMN}")
        select = insert = ", ".join(columns)
    # The guards first: a partition made next copies the parent's TRUNCATE guard. They
    # refuse UPDATE, DELETE and TRUNCATE, not the copy's INSERT.
    for trigger in shape.triggers:
        op.execute(trigger)
    if partitioned:
        month = TABLES[table]
        sub = f" PARTITION BY RANGE ({month})" if month else ""
        op.execute(f"CREATE TABLE {table}_pdefault PARTITION OF {table} DEFAULT{sub}")
        defaults = [f"{table}_pdefault"]
        if month:
            op.execute(
                f"CREATE TABLE {table}_pdefault_default PARTITION OF {table}_pdefault DEFAULT"
            )
            defaults.append(f"{table}_pdefault_default")
        for name in defaults:
            conn.execute(
                sa.text("SELECT fangkong_partition_guard(:t, :p)"), {"t": table, "p": name}
            )
        _make_partitions(conn, table, old)
    op.execute(f"INSERT INTO {table} ({insert}) SELECT {select} FROM {old}")
    if shape.sequence is not None:
        op.execute(f"ALTER SEQUENCE {shape.sequence} OWNED BY {table}.id")
    op.execute(f"DROP TABLE {old}")
    shape.make(partitioned=partitioned)


def _make_partitions(conn: sa.Connection, table: str, old: str) -> None:
    """The partitions of every county (and of none), and for a monthly table the months of
    the rows being copied in and the coming ones."""
    month = TABLES[table]
    counties = set(
        conn.execute(sa.text(r"SELECT id FROM area WHERE path ~ '^/[0-9]+/[0-9]+/$'")).scalars()
    )
    counties |= {
        int(c)
        for c in conn.execute(
            sa.text(f"SELECT DISTINCT county_id FROM {old} WHERE county_id IS NOT NULL")
        ).scalars()
    }
    counties.add(NONE)
    since: dict[int, Any] = {}
    if month:
        since = {
            int(c): at
            for c, at in conn.execute(
                sa.text(
                    f"SELECT coalesce(county_id, 0), min({month}) FROM {old} "
                    "GROUP BY coalesce(county_id, 0)"
                )
            )
        }
    for county in sorted(counties):
        conn.execute(
            sa.text("SELECT fangkong_partition_county(:c, :ahead)"), {"c": county, "ahead": AHEAD}
        )
        if since.get(county) is not None:
            conn.execute(
                sa.text("SELECT fangkong_partition_months(:c, :ahead, :since)"),
                {"c": county, "ahead": AHEAD, "since": since[county]},
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
