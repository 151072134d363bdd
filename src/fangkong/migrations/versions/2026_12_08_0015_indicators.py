"""the indicator system: targets, manual inputs, task ledger (issue 20)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:00:00

Targets per area and year and manual inputs (append-only: their history), the store of
computed figures, the task ledger and the report templates. On PostgreSQL the tables that
carry an area path (inputs, figures, tasks) are behind row-level security as the registers'
are (migration 0013's policies).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATTERN_INDEXES = {
    "ix_indicator_input_area_path_pattern": "indicator_input",
    "ix_indicator_value_area_path_pattern": "indicator_value",
    "ix_indicator_task_area_path_pattern": "indicator_task",
}


SCOPED = ("indicator_input", "indicator_value", "indicator_task")
POLICIES = ("fangkong_read", "fangkong_insert", "fangkong_update", "fangkong_delete")


def _area_fk(table: str, column: str = "area_id", ondelete: str = "CASCADE") -> sa.Constraint:
    return sa.ForeignKeyConstraint(
        [column], ["area.id"], name=op.f(f"fk_{table}_{column}_area"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "indicator_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        _area_fk("indicator_target"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_target")),
    )
    op.create_index(
        "ix_indicator_target_lookup", "indicator_target", ["indicator_id", "year"], unique=False
    )
    op.create_index(
        op.f("ix_indicator_target_area_id"), "indicator_target", ["area_id"], unique=False
    )
    op.create_table(
        "indicator_input",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        _area_fk("indicator_input"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_input")),
    )
    op.create_index(
        "ix_indicator_input_lookup", "indicator_input", ["indicator_id", "period"], unique=False
    )
    op.create_index(op.f("ix_indicator_input_area_id"), "indicator_input", ["area_id"])
    op.create_index(op.f("ix_indicator_input_area_path"), "indicator_input", ["area_path"])
    op.create_table(
        "indicator_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        _area_fk("indicator_value"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_value")),
        sa.UniqueConstraint(
            "indicator_id",
            "area_id",
            "period",
            name=op.f("uq_indicator_value_indicator_id"),
        ),
    )
    op.create_index(
        "ix_indicator_value_period_path", "indicator_value", ["period", "area_path"], unique=False
    )
    op.create_index(op.f("ix_indicator_value_area_id"), "indicator_value", ["area_id"])
    op.create_table(
        "indicator_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("responsible_unit", sa.String(length=128), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "done", "cancelled", name="taskstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("indicator_ids", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _area_fk("indicator_task", ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_indicator_task_case_id_case_record"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_task")),
        sa.UniqueConstraint("code", name=op.f("uq_indicator_task_code")),
    )
    op.create_index(op.f("ix_indicator_task_area_id"), "indicator_task", ["area_id"])
    op.create_index(op.f("ix_indicator_task_area_path"), "indicator_task", ["area_path"])
    op.create_index(op.f("ix_indicator_task_deadline"), "indicator_task", ["deadline"])
    op.create_index(op.f("ix_indicator_task_case_id"), "indicator_task", ["case_id"])
    op.create_table(
        "indicator_report_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_report_template")),
        sa.UniqueConstraint("kind", "language", name=op.f("uq_indicator_report_template_kind")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for name, table in PATTERN_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} (area_path varchar_pattern_ops)")
        for table in SCOPED:
            op.execute(
                f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY fangkong_read ON {table} FOR SELECT USING (fangkong_in_scope(area_path));
CREATE POLICY fangkong_insert ON {table} FOR INSERT WITH CHECK (true);
CREATE POLICY fangkong_update ON {table} FOR UPDATE
    USING (fangkong_in_scope(area_path)) WITH CHECK (true);
CREATE POLICY fangkong_delete ON {table} FOR DELETE USING (fangkong_in_scope(area_path));
"""
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in SCOPED:
            for policy in POLICIES:
                op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        for name in PATTERN_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("indicator_report_template")
    op.drop_table("indicator_task")
    op.drop_table("indicator_value")
    op.drop_table("indicator_input")
    op.drop_table("indicator_target")
