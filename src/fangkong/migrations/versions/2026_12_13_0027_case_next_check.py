"""when the deadline tick next looks at a case

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-13 09:00:00

The cases' deadline tick (every five minutes in the server) read every open case with a
deadline and worked out each of its actions' times in Python, those long done too: at 100
counties about 20,000 cases and 1.5 s of the server's process a tick, whatever was due (issue
23's load test). ``next_check_at`` holds when a case needs looking at: the earliest of its
deadline's actions not yet done, or when its deadline last changed; none once nothing is left.
The tick reads the cases whose time has come through a partial index of the cases that have
one. Every open case with a deadline is looked at by the first tick after this migration.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("case_record", sa.Column("next_check_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE case_record SET next_check_at = state_entered_at "
        "WHERE closed_at IS NULL AND due_at IS NOT NULL"
    )
    op.create_index(
        "ix_case_record_next_check",
        "case_record",
        ["next_check_at"],
        postgresql_where=sa.text("next_check_at IS NOT NULL"),
        sqlite_where=sa.text("next_check_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_record_next_check", table_name="case_record")
    # not in batch mode: SQLite drops the column in place, the table's county key kept
    op.drop_column("case_record", "next_check_at")
