"""a device's status history partitioned by month under each county on PostgreSQL (issue 23)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-14 09:00:00

The status history is the register's largest table in production (a change of any camera,
gate or sensor of a county, kept for years), larger than the audit log or the incidents'
timelines that 0023 partitioned by month: it is now partitioned the same way, each county's
partition again ``BY RANGE (at)`` by month with a DEFAULT month
(``device_status_event_p<county>_<yyyymm>``), so that a month of it can be detached and
archived (``fangkong db detach-month device_status_event``) and a period's read prunes to its
months. Its primary key becomes ``(id, partition_county, at)`` (PostgreSQL requires the month
in it); the unique ``(device_id, at, partition_county)`` already holds it.

The partition functions read a table's shape from its DEFAULT partition instead of a list
(``fangkong_partitioned``), so that each migration's tables keep the shape it gave them.
Each county's partition is detached and made again in the new shape, the months of its rows
with it, and its rows copied back (:func:`fangkong.core.partition_swap.regroup`); the
downgrade makes them plain again. SQLite: nothing (no partitions).
"""

from collections.abc import Sequence

from alembic import op

from fangkong.core import partition_swap, partitions

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "device_status_event"
#: Months made ahead of the current one by the migration.
AHEAD = 3


def _regroup(*, monthly: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(partitions.FUNCTIONS)
    partition_swap.regroup(bind, TABLE, month="at", monthly=monthly, ahead=AHEAD)


def upgrade() -> None:
    _regroup(monthly=True)


def downgrade() -> None:
    _regroup(monthly=False)
