"""planning: checkpoints, scenarios and their sites, runs, address weights, settings

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PATTERN_INDEXES = {
    "ix_planning_checkpoint_area_path_pattern": "planning_checkpoint",
    "ix_planning_scenario_area_path_pattern": "planning_scenario",
    "ix_planning_run_area_path_pattern": "planning_run",
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "planning_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("road", sa.String(length=128), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("inbound", "outbound", "both", name="direction", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "planned",
                "inactive",
                name="checkpointstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("h3_cell", sa.String(length=16), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
            name=op.f("fk_planning_checkpoint_area_id_area"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_checkpoint")),
        sa.UniqueConstraint("code", name=op.f("uq_planning_checkpoint_code")),
    )
    with op.batch_alter_table("planning_checkpoint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_planning_checkpoint_area_id"), ["area_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_planning_checkpoint_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_planning_checkpoint_h3_cell"), ["h3_cell"], unique=False
        )

    op.create_table(
        "planning_scenario",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
            name=op.f("fk_planning_scenario_area_id_area"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_planning_scenario_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_scenario")),
    )
    with op.batch_alter_table("planning_scenario", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_planning_scenario_area_path"), ["area_path"], unique=False
        )

    op.create_table(
        "planning_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_planning_setting_updated_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_planning_setting")),
    )
    op.create_table(
        "planning_address_weight",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["address_id"],
            ["standard_address.id"],
            name=op.f("fk_planning_address_weight_address_id_standard_address"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_address_weight")),
        sa.UniqueConstraint(
            "address_id", "name", name=op.f("uq_planning_address_weight_address_id")
        ),
    )
    with op.batch_alter_table("planning_address_weight", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_planning_address_weight_address_id"), ["address_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_planning_address_weight_name"), ["name"], unique=False)

    op.create_table(
        "planning_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "coverage",
                "placement",
                "ring",
                "compare",
                "replay",
                name="runkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                "cancelled",
                name="runstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_planning_run_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["planning_scenario.id"],
            name=op.f("fk_planning_run_scenario_id_planning_scenario"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_run")),
    )
    with op.batch_alter_table("planning_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_planning_run_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_planning_run_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_planning_run_scenario_id"), ["scenario_id"], unique=False
        )
        batch_op.create_index("ix_planning_run_status", ["status"], unique=False)

    op.create_table(
        "planning_scenario_site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum("add", "move", "remove", name="siteaction", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["police_post.id"],
            name=op.f("fk_planning_scenario_site_post_id_police_post"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["planning_scenario.id"],
            name=op.f("fk_planning_scenario_site_scenario_id_planning_scenario"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_scenario_site")),
    )
    with op.batch_alter_table("planning_scenario_site", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_planning_scenario_site_scenario_id"), ["scenario_id"], unique=False
        )

    if _postgresql():
        # Scoping filters by area path prefix: pattern-ops indexes serve LIKE '/1/4/%'.
        for name, table in PATTERN_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} (area_path varchar_pattern_ops)")


def downgrade() -> None:
    if _postgresql():
        for name in PATTERN_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("planning_scenario_site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planning_scenario_site_scenario_id"))

    op.drop_table("planning_scenario_site")
    with op.batch_alter_table("planning_run", schema=None) as batch_op:
        batch_op.drop_index("ix_planning_run_status")
        batch_op.drop_index(batch_op.f("ix_planning_run_scenario_id"))
        batch_op.drop_index(batch_op.f("ix_planning_run_kind"))
        batch_op.drop_index(batch_op.f("ix_planning_run_area_path"))

    op.drop_table("planning_run")
    with op.batch_alter_table("planning_address_weight", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planning_address_weight_name"))
        batch_op.drop_index(batch_op.f("ix_planning_address_weight_address_id"))

    op.drop_table("planning_address_weight")
    op.drop_table("planning_setting")
    with op.batch_alter_table("planning_scenario", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planning_scenario_area_path"))

    op.drop_table("planning_scenario")
    with op.batch_alter_table("planning_checkpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planning_checkpoint_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_planning_checkpoint_area_path"))
        batch_op.drop_index(batch_op.f("ix_planning_checkpoint_area_id"))

    op.drop_table("planning_checkpoint")
