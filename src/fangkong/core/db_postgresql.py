"""SQL that only PostgreSQL runs: the audit log's append-only trigger and its privileged
purge (the migrations install them, :mod:`fangkong.core.audit` calls the purge), and
row-level security by area path, the second wall under the services' scoping.

Row-level security: every table that carries an area path (:data:`SCOPED_TABLES`) is read,
updated and deleted only where its path extends one of the paths in the transaction's
setting ``fangkong.scope_paths`` (comma-separated; ``/`` is the system's, every row). The
tables force it on their owner too: only a superuser or a role with ``BYPASSRLS`` gets around
it. Each connection of fangkong starts with the system's scope (:func:`system_scope`: jobs,
the command line, the intake writer, migrations); a request narrows it to its user's areas for
its transaction (:func:`set_scope`, ``SET LOCAL``). A connection that never set it (another
program's) sees no row. Inserts are not checked: the services decide where a record goes.

Since migration 0020 the scope also names the counties its paths reach (``fangkong.scope_counties``:
the ids of the district-level areas, ``0`` for the rows of no county, ``*`` the system's; see
:mod:`fangkong.core.county`), and the policies check ``fangkong_in_county(county_id)`` before the
path; the children of those tables that had no policy of their own (an incident's timeline and
assignments, a device's status history, a case's steps) are walled by county alone. The
policies of migrations 0008 and 0013 built by :func:`enable_row_security` are the path-only ones
that 0020 replaces.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from fangkong.core import county
from fangkong.core.config import MIN_AUDIT_RETENTION_DAYS

#: Refuses UPDATE, DELETE and TRUNCATE of audit events, except a DELETE by the purge
#: function: it runs as the table's owner (SECURITY DEFINER) and says so in a setting of its
#: transaction. An application role that is not the owner cannot pass for it, whatever
#: settings it makes; an owner could drop the trigger anyway.
AUDIT_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION fangkong_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('fangkong.audit_purge', true) = 'on'
       AND current_user = (SELECT tableowner FROM pg_tables
                           WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME)
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION fangkong_audit_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION fangkong_audit_append_only();
"""

#: Deletes the events older than ``before`` and never one younger than the shortest
#: retention, whoever calls it; answers the last deleted event (the chain's new anchor) and
#: how many went.
AUDIT_PURGE = f"""
CREATE OR REPLACE FUNCTION fangkong_audit_purge(before timestamptz,
    OUT anchor_id integer, OUT anchor_hash varchar, OUT deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    SET fangkong.scope_paths = '/' SET fangkong.scope_counties = '*' AS $$
BEGIN
    SELECT id, chain_hash INTO anchor_id, anchor_hash FROM audit_event
        WHERE at < least(before, now() - interval '{MIN_AUDIT_RETENTION_DAYS} days')
        ORDER BY id DESC LIMIT 1;
    deleted := 0;
    IF anchor_id IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('fangkong.audit_purge', 'on', true);
    DELETE FROM audit_event WHERE id <= anchor_id;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('fangkong.audit_purge', 'off', true);
END
$$;
"""

DROP_AUDIT_GUARDS = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
DROP FUNCTION IF EXISTS fangkong_audit_append_only();
DROP FUNCTION IF EXISTS fangkong_audit_purge(timestamptz);
"""


def purge_audit(conn: Connection, *, before: object) -> tuple[int | None, str | None, int]:
    """Run the privileged purge: the new anchor's id and hash (None if nothing was old
    enough) and the number of events deleted."""
    row = conn.exec_driver_sql(
        "SELECT anchor_id, anchor_hash, deleted FROM fangkong_audit_purge(%(before)s)",
        {"before": before},
    ).one()
    return row[0], row[1], int(row[2])


SCOPE_SETTING = "fangkong.scope_paths"
COUNTY_SETTING = "fangkong.scope_counties"
READER_SETTING = "fangkong.reader_id"
SYSTEM_PATHS = "/"
#: The counties of the system's scope: every one, and the rows of none.
SYSTEM_COUNTIES = "*"
#: In the counties' setting, the rows of no county (filed at the city, or nowhere).
NO_COUNTY = county.NO_COUNTY

#: The tables under row-level security and the column that holds each one's area path.
SCOPED_TABLES = {
    "area": "path",
    "standard_address": "area_path",
    "incident": "area_path",
    "case_record": "area_path",
    "unit": "home_area_path",
    "police_post": "area_path",
    "dispatch_replay": "area_path",
    "audit_event": "area_path",
}

#: ``fangkong_in_scope(path)``: whether ``path`` extends a path of the transaction's scope
#: (the system's scope holds every row, one with no path too).
SCOPE_FUNCTIONS = """
CREATE OR REPLACE FUNCTION fangkong_scope_paths() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT string_to_array(nullif(current_setting('fangkong.scope_paths', true), ''), ',')
$$;
CREATE OR REPLACE FUNCTION fangkong_in_scope(path text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce('/' = ANY (fangkong_scope_paths()), false)
        OR (path IS NOT NULL AND EXISTS (
            SELECT 1 FROM unnest(fangkong_scope_paths()) AS scope (prefix)
            WHERE prefix <> '' AND left(path, length(prefix)) = prefix))
$$;
"""


#: ``fangkong_in_county(county_id)``: whether a row's county is one of the transaction's
#: (``fangkong.scope_counties``: ids, comma-separated, ``0`` for the rows of no county; ``*``
#: the system's, every row). The row-level security of migration 0020 checks it before the
#: area path: the county key is the partition key of the large tables.
COUNTY_FUNCTIONS = """
CREATE OR REPLACE FUNCTION fangkong_scope_counties() RETURNS integer[]
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN setting IS NULL OR setting IN ('', '*') THEN NULL
                ELSE string_to_array(setting, ',')::integer[] END
    FROM (SELECT current_setting('fangkong.scope_counties', true) AS setting) AS scope
$$;
CREATE OR REPLACE FUNCTION fangkong_all_counties() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('fangkong.scope_counties', true) = '*', false)
$$;
CREATE OR REPLACE FUNCTION fangkong_in_county(county integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT fangkong_all_counties()
        OR coalesce(county = ANY (fangkong_scope_counties()), false)
        OR (county IS NULL AND coalesce(0 = ANY (fangkong_scope_counties()), false))
$$;
"""

DROP_COUNTY_FUNCTIONS = """
DROP FUNCTION IF EXISTS fangkong_in_county(integer);
DROP FUNCTION IF EXISTS fangkong_all_counties();
DROP FUNCTION IF EXISTS fangkong_scope_counties();
"""


def _policies(table: str, column: str) -> str:
    if table == "audit_event":
        # A reader sees the events of their areas and their own; events of no area are the
        # whole tree's (a request sets the system's paths for a reader of the whole tree).
        # Deleted only by the purge function (the trigger checks who asks).
        return f"""
CREATE POLICY fangkong_read ON {table} FOR SELECT USING (
    fangkong_in_scope({column})
    OR user_id = nullif(current_setting('{READER_SETTING}', true), '')::integer
);
CREATE POLICY fangkong_insert ON {table} FOR INSERT WITH CHECK (true);
CREATE POLICY fangkong_purge ON {table} FOR DELETE
    USING (current_setting('fangkong.audit_purge', true) = 'on');
"""
    return f"""
CREATE POLICY fangkong_read ON {table} FOR SELECT USING (fangkong_in_scope({column}));
CREATE POLICY fangkong_insert ON {table} FOR INSERT WITH CHECK (true);
CREATE POLICY fangkong_update ON {table} FOR UPDATE
    USING (fangkong_in_scope({column})) WITH CHECK (true);
CREATE POLICY fangkong_delete ON {table} FOR DELETE USING (fangkong_in_scope({column}));
"""


def enable_row_security() -> str:
    """The DDL that turns row-level security on (a migration runs it)."""
    parts = [SCOPE_FUNCTIONS]
    for table, column in SCOPED_TABLES.items():
        parts.append(
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n"
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n" + _policies(table, column)
        )
    return "\n".join(parts)


def disable_row_security() -> str:
    parts = []
    for table in SCOPED_TABLES:
        for policy in ("fangkong_read", "fangkong_insert", "fangkong_update", "fangkong_delete"):
            parts.append(f"DROP POLICY IF EXISTS {policy} ON {table};")
        parts.append(f"DROP POLICY IF EXISTS fangkong_purge ON {table};")
        parts.append(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;")
        parts.append(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;")
    parts.append("DROP FUNCTION IF EXISTS fangkong_in_scope(text);")
    parts.append("DROP FUNCTION IF EXISTS fangkong_scope_paths();")
    return "\n".join(parts)


def system_scope(dbapi_connection: Any, _record: object = None) -> None:
    """Give a new connection the system's scope (an engine's ``connect`` event)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SET {SCOPE_SETTING} = '{SYSTEM_PATHS}'")
        cursor.execute(f"SET {COUNTY_SETTING} = '{SYSTEM_COUNTIES}'")
    finally:
        cursor.close()
    # psycopg opens a transaction for the SET: end it, so the pool gets an idle connection.
    dbapi_connection.commit()


def counties_setting(counties: tuple[int, ...] | None) -> str:
    """The counties' setting: ``*`` for every county (None), else the ids."""
    return SYSTEM_COUNTIES if counties is None else ",".join(str(c) for c in counties)


def set_scope(
    conn: Connection,
    *,
    paths: tuple[str, ...],
    counties: tuple[int, ...] | None,
    reader_id: int | None,
) -> None:
    """Narrow the transaction's scope to ``paths`` and the ``counties`` they reach (None:
    every county; :data:`NO_COUNTY` among them for the rows of none) (``SET LOCAL``: it ends
    with the transaction), and name its reader (their own audit events stay theirs)."""
    conn.exec_driver_sql(
        "SELECT set_config(%(scope)s, %(paths)s, true), set_config(%(county)s, %(ids)s, true),"
        " set_config(%(reader)s, %(id)s, true)",
        {
            "scope": SCOPE_SETTING,
            "paths": ",".join(paths),
            "county": COUNTY_SETTING,
            "ids": counties_setting(counties),
            "reader": READER_SETTING,
            "id": "" if reader_id is None else str(reader_id),
        },
    )


#: The transaction's scope as its two settings: (paths, counties).
Settings = tuple[str | None, str | None]


def current_scope(conn: Connection) -> Settings:
    row = conn.exec_driver_sql(
        f"SELECT current_setting('{SCOPE_SETTING}', true), "
        f"current_setting('{COUNTY_SETTING}', true)"
    ).one()
    return row[0], row[1]


def is_system(settings: Settings) -> bool:
    return settings == (SYSTEM_PATHS, SYSTEM_COUNTIES)


def restore_scope(conn: Connection, settings: Settings) -> None:
    conn.exec_driver_sql(
        "SELECT set_config(%(scope)s, %(paths)s, true), set_config(%(county)s, %(ids)s, true)",
        {
            "scope": SCOPE_SETTING,
            "paths": settings[0] or "",
            "county": COUNTY_SETTING,
            "ids": settings[1] or "",
        },
    )


def grant_app_role(conn: Connection, role: str) -> None:
    """Let ``role`` (not the tables' owner) run fangkong: read and write every table, but
    only read and append the audit log. Run by the owner after each upgrade."""
    quoted = conn.dialect.identifier_preparer.quote(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM {quoted}",
    ):
        conn.exec_driver_sql(statement)
    # The partitions of the large tables (:mod:`fangkong.core.partitions`) are read and
    # written through their parents, whose grants and row-level security count: a partition
    # named directly would have neither.
    for name in conn.exec_driver_sql(
        "SELECT relname FROM pg_class WHERE relispartition AND relkind IN ('r', 'p') "
        "AND relnamespace = current_schema()::regnamespace"
    ).scalars():
        conn.exec_driver_sql(f'REVOKE ALL ON "{name}" FROM {quoted}')
