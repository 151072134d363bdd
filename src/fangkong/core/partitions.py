"""Declarative partitions of the large tables on PostgreSQL (issue 23; migrations 0023, 0026).

The five tables that grow with a county's life (:data:`TABLES`: the incidents and their
timelines, the audit log, a device's status history, the ledger's movements) are
``PARTITION BY LIST (partition_county)``: one partition per county
(``<table>_p<county id>``), one for the rows of no county (``<table>_p0``) and a DEFAULT
(``<table>_pdefault``) so that no insert ever fails. The three largest (:data:`MONTHLY`: the audit
log and the timelines, by the load generator's counts, and the status history, by the sizing
table; migration 0029) are partitioned again ``BY RANGE`` of their time by month
(``<table>_p<county>_<yyyymm>``), each county with a DEFAULT month
(``<table>_p<county>_default``). The functions read a table's shape from the database (is its
DEFAULT partitioned?), not from :data:`TABLES`, so that an older migration that calls them
makes the shape it gave the table.

The partitions are made by SQL functions (:data:`FUNCTIONS`), installed by the migration
and owned by the tables' owner (``SECURITY DEFINER``), so that the application's role, which
owns nothing, can have a county's partitions made when it creates the county
(:func:`add_county`, called by ``areas.service``) and the coming months' made by the server's
job (:func:`add_months`, at start and daily). The partitions are never granted to the
application's role (:func:`fangkong.core.db_postgresql.grant_app_role` revokes them): it reads
and writes through the parent, whose row-level security and grants are the ones that count.

Rows in a county's DEFAULT month (history imported with dates before the county's first
month, a date ahead of its months) are moved into months made for them by the next
:func:`add_months` (the server's daily job, ``fangkong db partitions``): the DEFAULT month is
detached, made again empty, and its rows written back through the county's partition. That
holds the county's partition of that table locked to the commit, once after such an import.
A county's own partition is not made where the table's DEFAULT already holds rows of that
county (written before the county's partition existed): PostgreSQL would refuse it; those rows
stay there (still read) and the function says so in a ``NOTICE``. :func:`detach_month`
detaches one month of a monthly table for archiving.

What refers to an incident carries its partition key beside its id, as a reference to a
partitioned table must (:func:`fangkong.core.county.partition_reference`; migration 0026), and
the incidents' idempotency keys, unique within a partition only, are claimed in the province
(``dispatch.models.IncidentKey``).

Nothing of this on SQLite: there ``partition_county`` is a plain column.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

#: The partitioned tables and the time column each is partitioned by month (None: by county
#: alone).
TABLES: dict[str, str | None] = {
    "incident_event": "at",
    "audit_event": "at",
    "device_status_event": "at",
    "material_movement": None,
    "incident": None,
}
MONTHLY = tuple(t for t, column in TABLES.items() if column is not None)
#: The months made ahead of the current one (the job runs daily: a month is made weeks
#: before its first row).
MONTHS_AHEAD = 3
#: How often the server's job makes the coming months' partitions.
INTERVAL_S = 24 * 3600.0

_PARTITION = re.compile(r"^(?:" + "|".join(TABLES) + r")_p(?:\d+|default)(?:_(?:\d{6}|default))?$")


def is_partition(name: str | None) -> bool:
    """Whether a table of this name is a partition that :mod:`partitions` made (what the
    models do not describe: the migrations' comparison leaves them out)."""
    return bool(name and _PARTITION.match(name))


def _tables_sql() -> str:
    return "ARRAY[" + ", ".join(f"'{t}'" for t in TABLES) + "]::text[]"


#: ``fangkong_partition_months(county, months_ahead[, since])``: the monthly tables' partitions
#: of ``county`` from the month of ``since`` (default: the current one) to ``months_ahead``
#: months after the current one (UTC months), those missing;
#: ``fangkong_partition_county(county, months_ahead)``: every table's partition of ``county``
#: (and its months). Both answer how many partitions they made. The partitions of the
#: append-only tables (audit log, ledger) get the parent's TRUNCATE guards
#: (``fangkong_partition_guard``: a statement trigger of the parent is not fired by a
#: partition's TRUNCATE).
FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION fangkong_partitioned(name text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(name)
$$;

CREATE OR REPLACE FUNCTION fangkong_partition_guard(parent text, part text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    guard record;
BEGIN
    -- The parent's TRUNCATE triggers (the append-only tables' guards), on the partition too:
    -- a statement trigger of the parent is not fired by a TRUNCATE of the partition.
    FOR guard IN SELECT tgname, tgfoid::regproc AS fn FROM pg_trigger
                 WHERE tgrelid = to_regclass(parent) AND NOT tgisinternal
                 AND (tgtype & 32) <> 0 LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %s()', guard.tgname, part, guard.fn);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION fangkong_partition_month(parent text, part text, month_start timestamp)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    sub text := part || '_' || to_char(month_start, 'YYYYMM');
BEGIN
    IF to_regclass(sub) IS NOT NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   sub, part, (month_start AT TIME ZONE 'UTC')::text,
                   ((month_start + interval '1 month') AT TIME ZONE 'UTC')::text);
    PERFORM fangkong_partition_guard(parent, sub);
    RETURN 1;
END
$$;

CREATE OR REPLACE FUNCTION fangkong_partition_months(county integer, months_ahead integer,
    since timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    parent text;
    part text;
    m_from timestamp;
    m_last timestamp;
    m_stray timestamp;
    stray timestamp[];
    made integer := 0;
BEGIN
    FOREACH parent IN ARRAY {_tables_sql()} LOOP
        part := parent || '_p' || county;
        -- a county partition that is itself partitioned (by month), with its DEFAULT month
        CONTINUE WHEN fangkong_partitioned(part) IS NOT TRUE
                      OR to_regclass(part || '_default') IS NULL;
        -- Rows in the DEFAULT month (dated before the county's first month: an import of
        -- history; or ahead of its months) get their months: PostgreSQL refuses a month
        -- while the DEFAULT holds rows of it, so the DEFAULT is made again, empty, and its
        -- rows go back in through the county's partition, into their months.
        EXECUTE format('SELECT array_agg(DISTINCT date_trunc(''month'', at AT TIME ZONE ''UTC'')) '
                       'FROM %I', part || '_default') INTO stray;
        IF stray IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', part, part || '_default');
            EXECUTE format('ALTER TABLE %I RENAME TO %I', part || '_default', part || '_moved');
            EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', part || '_default', part);
            PERFORM fangkong_partition_guard(parent, part || '_default');
            FOREACH m_stray IN ARRAY stray LOOP
                made := made + fangkong_partition_month(parent, part, m_stray);
            END LOOP;
        END IF;
        m_from := date_trunc('month', least(coalesce(since, now()), now()) AT TIME ZONE 'UTC');
        m_last := date_trunc('month', now() AT TIME ZONE 'UTC')
                  + make_interval(months => months_ahead);
        WHILE m_from <= m_last LOOP
            made := made + fangkong_partition_month(parent, part, m_from);
            m_from := m_from + interval '1 month';
        END LOOP;
        IF stray IS NOT NULL THEN
            EXECUTE format('INSERT INTO %I SELECT * FROM %I', part, part || '_moved');
            EXECUTE format('DROP TABLE %I', part || '_moved');
            RAISE NOTICE '%: the rows of its DEFAULT month moved into their months', part;
        END IF;
    END LOOP;
    RETURN made;
END
$$;

CREATE OR REPLACE FUNCTION fangkong_partition_county(county integer, months_ahead integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    parent text;
    part text;
    made integer := 0;
    crowded boolean;
    monthly boolean;
BEGIN
    FOREACH parent IN ARRAY {_tables_sql()} LOOP
        part := parent || '_p' || county;
        -- made once, and only under a parent that is partitioned (the migration swaps the
        -- tables in one by one)
        CONTINUE WHEN to_regclass(part) IS NOT NULL OR to_regclass(parent || '_pdefault') IS NULL;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE partition_county = $1)',
                       parent || '_pdefault') INTO crowded USING county;
        IF crowded THEN
            RAISE NOTICE 'partition % not made: its rows are in %', part, parent || '_pdefault';
            CONTINUE;
        END IF;
        -- monthly where the table's DEFAULT is (the shape the migrations gave the
        -- table, not this code's list: an older migration runs this function too)
        monthly := fangkong_partitioned(parent || '_pdefault');
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%s)%s', part, parent,
                       county, CASE WHEN monthly THEN ' PARTITION BY RANGE (at)' ELSE '' END);
        made := made + 1;
        IF monthly THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', part || '_default', part);
            made := made + 1;
        END IF;
        PERFORM fangkong_partition_guard(parent, part);
        IF monthly THEN
            PERFORM fangkong_partition_guard(parent, part || '_default');
        END IF;
    END LOOP;
    RETURN made + fangkong_partition_months(county, months_ahead);
END
$$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS fangkong_partition_county(integer, integer);
DROP FUNCTION IF EXISTS fangkong_partition_months(integer, integer, timestamptz);
DROP FUNCTION IF EXISTS fangkong_partition_month(text, text, timestamp);
DROP FUNCTION IF EXISTS fangkong_partition_guard(text, text);
DROP FUNCTION IF EXISTS fangkong_partitioned(text);
"""


def _postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def add_county(conn: Connection, county_id: int, *, months_ahead: int = MONTHS_AHEAD) -> int:
    """Make county ``county_id``'s partitions of every partitioned table (and its coming
    months), those missing; how many were made (0 on SQLite)."""
    if not _postgresql(conn):
        return 0
    made = conn.execute(
        text("SELECT fangkong_partition_county(:county, :ahead)"),
        {"county": county_id, "ahead": months_ahead},
    ).scalar_one()
    return int(made)


def counties(conn: Connection) -> list[int]:
    """The counties that have partitions (:data:`county.NO_COUNTY` among them)."""
    found = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": next(iter(TABLES))},
    ).scalars()
    prefix = next(iter(TABLES)) + "_p"
    return sorted(int(name[len(prefix) :]) for name in found if name[len(prefix) :].isdigit())


def county_months(conn: Connection, county_id: int, *, months_ahead: int = MONTHS_AHEAD) -> int:
    """Make the current and the next ``months_ahead`` months' partitions of county
    ``county_id``'s monthly tables, those missing, and move the rows waiting in its DEFAULT
    months into theirs; how many were made (0 on SQLite)."""
    if not _postgresql(conn):
        return 0
    made = conn.execute(
        text("SELECT fangkong_partition_months(:county, :ahead)"),
        {"county": county_id, "ahead": months_ahead},
    ).scalar_one()
    return int(made)


def add_months(conn: Connection, *, months_ahead: int = MONTHS_AHEAD) -> int:
    """:func:`county_months` for every county, in the caller's transaction."""
    if not _postgresql(conn):
        return 0
    return sum(
        county_months(conn, county_id, months_ahead=months_ahead) for county_id in counties(conn)
    )


def run_months(factory: sessionmaker[Session], *, months_ahead: int = MONTHS_AHEAD) -> int:
    """The server's job (at start, then daily) and ``fangkong db partitions``:
    :func:`county_months` for every county, a transaction a county. Each partition made or
    moved holds a lock to its transaction's commit: a province's counties in one
    transaction could need more locks than PostgreSQL's table holds (after an import of
    many counties' history)."""
    with factory() as session:
        conn = session.connection()
        every = counties(conn) if _postgresql(conn) else []
        session.commit()
    made = 0
    for county_id in every:
        with factory() as session:
            made += county_months(session.connection(), county_id, months_ahead=months_ahead)
            session.commit()
    if made:
        log.info("made %d monthly partitions", made)
    return made


def detach_month(conn: Connection, table: str, month: date) -> list[str]:
    """Detach every county's partition of ``table`` for ``month`` (its rows leave the table;
    the partitions stay as tables of their own, to dump and drop, or to move to cheaper
    storage); the names detached. The table's owner runs it (``fangkong db detach-month``).

    The audit log is refused: its retention is the purge, which moves the chain's anchor so
    that the chain still verifies; detaching a month of it would break the chain.
    Not ``CONCURRENTLY``: PostgreSQL refuses that where the table has a DEFAULT partition,
    which these have so that no insert fails; the detach holds the parent's lock briefly.
    """
    if TABLES.get(table) is None:
        raise ValueError(f"{table} is not partitioned by month")
    if table == "audit_event":
        raise ValueError("audit_event is purged (fangkong audit purge), not detached")
    if not _postgresql(conn):
        return []
    suffix = f"_{month.year:04d}{month.month:02d}"
    detached: list[str] = []
    for county_id in counties(conn):
        part = f"{table}_p{county_id}"
        sub = part + suffix
        attached = conn.execute(
            text(
                "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(:sub) "
                "AND inhparent = to_regclass(:part)"
            ),
            {"sub": sub, "part": part},
        ).first()
        if attached is None:
            continue
        conn.exec_driver_sql(f'ALTER TABLE "{part}" DETACH PARTITION "{sub}"')
        detached.append(sub)
    return detached
