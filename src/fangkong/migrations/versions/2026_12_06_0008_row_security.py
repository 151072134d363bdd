"""row-level security by area path on PostgreSQL (nothing on SQLite)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:30:00

The tables that carry an area path (areas, standard addresses, incidents, cases, units, posts,
replays, audit events) are read, updated and deleted only within the transaction's scope
(``fangkong.scope_paths``), their owner included (FORCE). See ``fangkong.core.db_postgresql``.
The audit purge function is replaced by one that reads as the system.
"""

from collections.abc import Sequence

from alembic import op

from fangkong.core import db_postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute(db_postgresql.AUDIT_PURGE)
    op.execute(db_postgresql.enable_row_security())


def downgrade() -> None:
    if not _postgresql():
        return
    op.execute(db_postgresql.disable_row_security())
