"""planning II: hotspots, hour-of-week deployment, beats (issue 21)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:00:00

The analyses of Planning II (hotspots, deployment, beats) with their inputs and results, and
the roster adopted per station and hour of week.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATTERN_INDEXES = {
    "ix_planning_analysis_area_path_pattern": "planning_analysis",
    "ix_planning_roster_hour_area_path_pattern": "planning_roster_hour",
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "planning_analysis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "hotspot",
                "deployment",
                "beats",
                name="analysiskind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_planning_analysis_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_analysis")),
    )
    with op.batch_alter_table("planning_analysis", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_planning_analysis_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index("ix_planning_analysis_kind_created", ["kind", "created_at"])
    op.create_table(
        "planning_roster_hour",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("hour_of_week", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "hour_of_week >= 0 AND hour_of_week < 168",
            name=op.f("ck_planning_roster_hour_hour_of_week"),
        ),
        sa.CheckConstraint("units >= 0", name=op.f("ck_planning_roster_hour_units")),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["planning_analysis.id"],
            name=op.f("fk_planning_roster_hour_analysis_id_planning_analysis"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
            name=op.f("fk_planning_roster_hour_area_id_area"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_planning_roster_hour_updated_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_roster_hour")),
        sa.UniqueConstraint(
            "area_id", "hour_of_week", name=op.f("uq_planning_roster_hour_area_id")
        ),
    )
    with op.batch_alter_table("planning_roster_hour", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_planning_roster_hour_area_id"), ["area_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_planning_roster_hour_area_path"), ["area_path"], unique=False
        )
    if _postgresql():
        for name, table in PATTERN_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} (area_path varchar_pattern_ops)")


def downgrade() -> None:
    if _postgresql():
        for name in PATTERN_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("planning_roster_hour", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planning_roster_hour_area_path"))
        batch_op.drop_index(batch_op.f("ix_planning_roster_hour_area_id"))
    op.drop_table("planning_roster_hour")
    with op.batch_alter_table("planning_analysis", schema=None) as batch_op:
        batch_op.drop_index("ix_planning_analysis_kind_created")
        batch_op.drop_index(batch_op.f("ix_planning_analysis_area_path"))
    op.drop_table("planning_analysis")
