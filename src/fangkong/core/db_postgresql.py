"""SQL that only PostgreSQL runs: the audit log's append-only trigger and its privileged
purge (the migrations install them, :mod:`fangkong.core.audit` calls the purge)."""

from __future__ import annotations

from sqlalchemy import Connection

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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
