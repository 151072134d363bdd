"""the areas' version, raised by the database at each write of an area

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-13 11:00:00

The point-to-area index of each server process (``areas.index``) asked at most once a second
whether the areas had changed, by a count and maxima over every area. Under row-level security
that read runs the policy on each row: at 100 counties 25-40 ms, paid by whichever request came
first after the second had passed (issue 23's load test: the tails of intake and the live map
on the 100-county server only). ``area_version`` is one row whose number triggers raise at every
insert, update or delete of an area, by any writer, in the writer's transaction (a rollback
takes the raise back with the write); the index asks that row.

SQLite drops a table's triggers when a batch migration rebuilds the table: a later migration
that rebuilds ``area`` in batch mode must make them again (``area_triggers``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An upsert, so that a deleted row comes back at the next write rather than the writes going
# unseen.
RAISE = (
    "INSERT INTO area_version (id, version) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET version = area_version.version + 1"
)
SQLITE_EVENTS = ("insert", "update", "delete")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def area_triggers() -> None:
    """The triggers that raise the version at each write of ``area``."""
    if _postgresql():
        op.execute(
            "CREATE OR REPLACE FUNCTION fangkong_area_written() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {RAISE}; RETURN NULL; END $$"
        )
        # Once a statement, not once a row: an import of a province's areas raises it once.
        op.execute(
            "CREATE TRIGGER area_written AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area "
            "FOR EACH STATEMENT EXECUTE FUNCTION fangkong_area_written()"
        )
    else:
        for when in SQLITE_EVENTS:
            name = f"area_{when}_written"
            op.execute(f"CREATE TRIGGER {name} AFTER {when.upper()} ON area BEGIN {RAISE}; END")


def upgrade() -> None:
    op.create_table(
        "area_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_version")),
    )
    op.execute("INSERT INTO area_version (id, version) VALUES (1, 0)")
    area_triggers()


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP TRIGGER area_written ON area")
        op.execute("DROP FUNCTION fangkong_area_written()")
    else:
        for when in SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER area_{when}_written")
    op.drop_table("area_version")
