"""where each user's own audit events lie, kept by the database (issue 23)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-14 10:00:00

A reader's audit list shows the events of their scope and their own actions wherever those were
filed (an event in a county that has since left their scope stays theirs). On PostgreSQL the
second condition read every county's partitions of the log by their user index: at 100
counties about 90-200 ms to plan and 10 ms to run a county user's list, against 1 ms pruned.
``audit_reader_county`` holds the counties (``0``: none) whose partitions hold a user's events;
the list bounds its reader's own events to those (``audit.visible_to``), so the planner prunes.

The table is kept by the database at every insert into the log, by any writer (the ORM, the
intake writer's plain SQL, a ``COPY``): on PostgreSQL a statement trigger with the inserted
rows (``fangkong_audit_readers``, as the owner: the application's role needs no right on the
table to write it), on SQLite a row trigger. Filled here from the events already written.
SQLite drops a table's triggers when a batch migration rebuilds it: a later migration that
rebuilds ``audit_event`` in batch mode must make ``audit_event_readers`` again (``SQLITE``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL = (
    "INSERT INTO audit_reader_county (user_id, county) "
    "SELECT DISTINCT user_id, partition_county FROM {rows} WHERE user_id IS NOT NULL "
    "ON CONFLICT DO NOTHING"
)
POSTGRESQL = f"""
CREATE OR REPLACE FUNCTION fangkong_audit_readers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    {FILL.format(rows="inserted")};
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_event_readers AFTER INSERT ON audit_event
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION fangkong_audit_readers();
"""
SQLITE = """
CREATE TRIGGER audit_event_readers AFTER INSERT ON audit_event
WHEN NEW.user_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO audit_reader_county (user_id, county)
    VALUES (NEW.user_id, NEW.partition_county);
END
"""


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "audit_reader_county",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_audit_reader_county_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "county", name=op.f("pk_audit_reader_county")),
    )
    if _postgresql():
        # The owner reads every event, whatever the connection's scope.
        op.execute("SELECT set_config('fangkong.scope_paths', '/', true)")
        op.execute("SELECT set_config('fangkong.scope_counties', '*', true)")
        op.execute(FILL.format(rows="audit_event"))
        op.execute(POSTGRESQL)
    else:
        op.execute(FILL.format(rows="audit_event"))
        op.execute(SQLITE)


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP TRIGGER IF EXISTS audit_event_readers ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS fangkong_audit_readers()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_readers")
    op.drop_table("audit_reader_county")
