"""Turning a plain table into a partitioned one, and back, on a database with data (the
migrations of :mod:`fangkong.core.partitions`: 0023 and 0026).

:func:`swap` copies a table into a new one and puts it in its place. The new table keeps the
old one's columns and defaults (its id sequence: ids continue), indexes, constraints,
row-level security (policies, forced), grants and triggers (the append-only guards: a row
trigger of the parent is cloned to every partition, and each partition gets the parent's
TRUNCATE guard). Partitioned, its primary key and unique constraints gain the partition
columns, as PostgreSQL requires of a partitioned table; a foreign key is rewritten by the
caller where its target's keys change. Plain again, they lose them.

PostgreSQL only: the migrations call it where ``partition_county`` is a plain column on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text

from fangkong.core.county import NO_COUNTY, PARTITION_COLUMN

#: ``rewrite(definition, partitioned)``: a foreign key's definition as the swapped table has
#: it (the definition read from the old table).
Rewrite = Callable[[str, bool], str]


def _run(conn: Connection, sql: str) -> None:
    conn.execute(text(sql))


class TableShape:
    """What a table is beside its columns: read before the swap, made again after it."""

    def __init__(self, conn: Connection, table: str) -> None:
        self.table = table
        # Indexes that no constraint owns.
        self.indexes: list[str] = list(
            conn.execute(
                text(
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
                text(
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
                text(
                    "SELECT policyname, permissive, roles, cmd, qual, with_check "
                    "FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t"
                ),
                {"t": table},
            )
        )
        row = conn.execute(
            text(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE oid = to_regclass(:t)"
            ),
            {"t": table},
        ).one()
        self.secured, self.forced = bool(row[0]), bool(row[1])
        self.grants: list[tuple[str, str]] = [
            (str(r[0]), str(r[1]))
            for r in conn.execute(
                text(
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
                text(
                    "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(:t) "
                    "AND NOT tgisinternal AND tgparentid = 0 ORDER BY tgname"
                ),
                {"t": table},
            ).scalars()
        )
        self.sequence: str | None = conn.execute(
            text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}
        ).scalar()

    def make(
        self, conn: Connection, *, keys: str, partitioned: bool, rewrite: Rewrite | None
    ) -> None:
        """Create the constraints, indexes, policies and grants on the new table; ``keys``:
        the partition columns a unique key gains (``", partition_county[, at]"``)."""
        table = self.table
        for name, kind, definition in self.constraints:
            if kind in ("p", "u"):
                if partitioned:
                    definition = definition[:-1] + keys + ")"
                else:
                    definition = definition.replace(keys + ")", ")")
            elif kind == "f" and rewrite is not None:
                definition = rewrite(definition, partitioned)
            _run(conn, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for index in self.indexes:
            _run(conn, index.replace(" ON ONLY ", " ON "))
        if self.secured:
            _run(conn, f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        if self.forced:
            _run(conn, f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for name, permissive, roles, cmd, qual, check in self.policies:
            to = ", ".join("public" if r == "public" else f'"{r}"' for r in roles)
            sql = f'CREATE POLICY "{name}" ON {table} AS {permissive} FOR {cmd} TO {to}'
            if qual is not None:
                sql += f" USING ({qual})"
            if check is not None:
                sql += f" WITH CHECK ({check})"
            _run(conn, sql)
        for grantee, privilege in self.grants:
            _run(conn, f'GRANT {privilege} ON {table} TO "{grantee}"')


def columns(conn: Connection, table: str) -> list[str]:
    """The table's columns, in order."""
    return list(
        conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            ),
            {"t": table},
        ).scalars()
    )


def swap(
    conn: Connection,
    table: str,
    *,
    partitioned: bool,
    month: str | None,
    ahead: int,
    rewrite: Rewrite | None = None,
) -> None:
    """Copy ``table`` into a new one, partitioned (by ``partition_county``, then by month of
    column ``month`` where given; its counties' partitions made, and ``ahead`` months past
    the current one) or plain, and put it in its place. The partition functions of
    :mod:`fangkong.core.partitions` must be installed."""
    shape = TableShape(conn, table)
    column = PARTITION_COLUMN
    keys = f", {column}" + (f", {month}" if month else "")
    old = f"{table}_swap"
    _run(conn, f"ALTER TABLE {table} RENAME TO {old}")
    # The owner copies every row, whatever the connection's scope.
    _run(conn, f"ALTER TABLE {old} NO FORCE ROW LEVEL SECURITY")
    names = [c for c in columns(conn, old) if partitioned or c != column]
    if partitioned:
        _run(
            conn,
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE, "
            f"{column} integer NOT NULL) PARTITION BY LIST ({column})",
        )
        select = ", ".join([*names, f"coalesce(county_id, {NO_COUNTY})"])
        insert = ", ".join([*names, column])
    else:
        _run(conn, f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE)")
        _run(conn, f"ALTER TABLE {table} DROP COLUMN {column}")
        select = insert = ", ".join(names)
    # The guards first: a partition made next copies the parent's TRUNCATE guard. They
    # refuse UPDATE, DELETE and TRUNCATE, not the copy's INSERT.
    for trigger in shape.triggers:
        _run(conn, trigger)
    if partitioned:
        sub = f" PARTITION BY RANGE ({month})" if month else ""
        _run(conn, f"CREATE TABLE {table}_pdefault PARTITION OF {table} DEFAULT{sub}")
        defaults = [f"{table}_pdefault"]
        if month:
            _run(
                conn, f"CREATE TABLE {table}_pdefault_default PARTITION OF {table}_pdefault DEFAULT"
            )
            defaults.append(f"{table}_pdefault_default")
        for name in defaults:
            conn.execute(text("SELECT fangkong_partition_guard(:t, :p)"), {"t": table, "p": name})
        _make_partitions(conn, old, month=month, ahead=ahead)
    _run(conn, f"INSERT INTO {table} ({insert}) SELECT {select} FROM {old}")
    if shape.sequence is not None:
        _run(conn, f"ALTER SEQUENCE {shape.sequence} OWNED BY {table}.id")
    _run(conn, f"DROP TABLE {old}")
    shape.make(conn, keys=keys, partitioned=partitioned, rewrite=rewrite)


def _make_partitions(conn: Connection, old: str, *, month: str | None, ahead: int) -> None:
    """The partitions of every county (and of none), and for a monthly table the months of
    the rows being copied in and the coming ones."""
    counties = set(
        conn.execute(text(r"SELECT id FROM area WHERE path ~ '^/[0-9]+/[0-9]+/$'")).scalars()
    )
    counties |= {
        int(c)
        for c in conn.execute(
            text(f"SELECT DISTINCT county_id FROM {old} WHERE county_id IS NOT NULL")
        ).scalars()
    }
    counties.add(NO_COUNTY)
    since: dict[int, Any] = {}
    if month:
        since = {
            int(c): at
            for c, at in conn.execute(
                text(
                    f"SELECT coalesce(county_id, {NO_COUNTY}), min({month}) FROM {old} "
                    f"GROUP BY coalesce(county_id, {NO_COUNTY})"
                )
            )
        }
    for county in sorted(counties):
        conn.execute(
            text("SELECT fangkong_partition_county(:c, :ahead)"), {"c": county, "ahead": ahead}
        )
        if since.get(county) is not None:
            conn.execute(
                text("SELECT fangkong_partition_months(:c, :ahead, :since)"),
                {"c": county, "ahead": ahead, "since": since[county]},
            )


def _primary_key(conn: Connection, table: str) -> tuple[str, str]:
    row = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(:t) AND contype = 'p'"
        ),
        {"t": table},
    ).one()
    return str(row[0]), str(row[1])


def _set_primary_key(conn: Connection, table: str, definition: str) -> None:
    name, _ = _primary_key(conn, table)
    _run(conn, f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    _run(conn, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def regroup(conn: Connection, table: str, *, month: str, monthly: bool, ahead: int) -> None:
    """Partition ``table``, already partitioned by county, again by month of column
    ``month`` under each county (``monthly``; else no longer by month): the DEFAULT
    partition and each county's made again in the new shape (by the partition functions,
    which read the shape from the DEFAULT), the months of the rows and ``ahead`` past the
    current one made, the rows copied in; the primary key gains ``month`` (or loses it).
    The rest of the table (its columns, sequence, indexes, constraints, policies, grants, row
    triggers) is the parent's and stays; new partitions take the parent's indexes and row
    triggers, and the functions give them its TRUNCATE guards. Holds the table's lock to the
    commit.

    A unique key of the table must already hold ``month``, as PostgreSQL requires of a key of
    a table partitioned by it; the primary key is the one this changes.
    """
    _, key = _primary_key(conn, table)
    by_month = f", {month})"
    if monthly and not key.endswith(by_month):
        _set_primary_key(conn, table, key[:-1] + by_month)
    forced = conn.execute(
        text("SELECT relforcerowsecurity FROM pg_class WHERE oid = to_regclass(:t)"),
        {"t": table},
    ).scalar_one()
    # The owner copies every row back, whatever the connection's scope.
    _run(conn, f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    names = ", ".join(columns(conn, table))
    parts = list(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(:t) ORDER BY c.relname"
            ),
            {"t": table},
        ).scalars()
    )
    default = f"{table}_pdefault"
    # The DEFAULT first: the functions read the table's shape from it.
    moved = [default]
    _run(conn, f"ALTER TABLE {table} DETACH PARTITION {default}")
    _run(conn, f"ALTER TABLE {default} RENAME TO {default}_swap")
    sub = f" PARTITION BY RANGE ({month})" if monthly else ""
    _run(conn, f"CREATE TABLE {default} PARTITION OF {table} DEFAULT{sub}")
    made = [default]
    if monthly:
        _run(conn, f"CREATE TABLE {default}_default PARTITION OF {default} DEFAULT")
        made.append(f"{default}_default")
    for name in made:
        conn.execute(text("SELECT fangkong_partition_guard(:t, :p)"), {"t": table, "p": name})
    prefix = f"{table}_p"
    for part in parts:
        county = part[len(prefix) :]
        if not county.isdigit():
            continue
        moved.append(part)
        _run(conn, f"ALTER TABLE {table} DETACH PARTITION {part}")
        _run(conn, f"ALTER TABLE {part} RENAME TO {part}_swap")
        conn.execute(
            text("SELECT fangkong_partition_county(:c, :ahead)"), {"c": int(county), "ahead": ahead}
        )
        if monthly:
            since = conn.execute(text(f"SELECT min({month}) FROM {part}_swap")).scalar()
            if since is not None:
                conn.execute(
                    text("SELECT fangkong_partition_months(:c, :ahead, :since)"),
                    {"c": int(county), "ahead": ahead, "since": since},
                )
    for part in moved:
        _run(conn, f"INSERT INTO {table} ({names}) SELECT {names} FROM {part}_swap")
        _run(conn, f"DROP TABLE {part}_swap")
    if not monthly and key.endswith(by_month):
        _set_primary_key(conn, table, key[: -len(by_month)] + ")")
    if forced:
        _run(conn, f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
