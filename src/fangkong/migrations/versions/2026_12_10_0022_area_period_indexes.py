"""indexes of an area's incidents and cases by time

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-10 02:55:00

The indicators read a county's incidents of a period and cases opened in a period by the ids
of its areas (``indicators.sources.in_tree``): with ``(area_id, received_at)`` and ``(area_id,
opened_at)`` those reads take the period's rows of those areas alone, where the area's index
gave every month of the county and the time's every county (issue 23's load test).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_incident_area_received", "incident", ["area_id", "received_at"])
    op.create_index("ix_case_record_area_opened", "case_record", ["area_id", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_case_record_area_opened", table_name="case_record")
    op.drop_index("ix_incident_area_received", table_name="incident")
