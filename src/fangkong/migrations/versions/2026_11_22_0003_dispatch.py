"""dispatch: incidents, their timeline, units, dispatch records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=32), nullable=False),
        sa.Column(
            "priority",
            sa.Enum("P1", "P2", "P3", "P4", name="priority", native_enum=False, length=4),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "call", "patrol", "alarm", "public_tip", name="source", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("caller_contact_encrypted", sa.String(length=512), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "dispatched",
                "en_route",
                "on_scene",
                "cleared",
                "closed",
                "cancelled",
                "merged",
                name="incidentstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("en_route_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_scene_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("h3_cell", sa.String(length=16), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_incident_area_id_area"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_incident_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["incident.id"],
            name=op.f("fk_incident_merged_into_id_incident"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_incident_idempotency_key")),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_h3_cell"), ["h3_cell"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_received_at"), ["received_at"], unique=False)
        batch_op.create_index(
            "ix_incident_status_received", ["status", "received_at"], unique=False
        )

    op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sign", sa.String(length=32), nullable=False),
        sa.Column(
            "unit_type",
            sa.Enum(
                "car",
                "motorcycle",
                "foot",
                "boat",
                "drone_team",
                name="unittype",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("home_area_id", sa.Integer(), nullable=False),
        sa.Column("home_area_path", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "available",
                "en_route",
                "on_scene",
                "out_of_service",
                name="unitstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("staged", sa.Boolean(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("position_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["home_area_id"],
            ["area.id"],
            name=op.f("fk_unit_home_area_id_area"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
        sa.UniqueConstraint("call_sign", name=op.f("uq_unit_call_sign")),
    )
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unit_home_area_id"), ["home_area_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_unit_home_area_path"), ["home_area_path"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_unit_status"), ["status"], unique=False)

    op.create_table(
        "dispatch_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("predicted_s", sa.Float(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dispatched_by_id"],
            ["user_account.id"],
            name=op.f("fk_dispatch_assignment_dispatched_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_dispatch_assignment_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
            name=op.f("fk_dispatch_assignment_unit_id_unit"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_assignment")),
    )
    with op.batch_alter_table("dispatch_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dispatch_assignment_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dispatch_assignment_unit_id"), ["unit_id"], unique=False
        )

    op.create_table(
        "incident_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_event_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_incident_event_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_event")),
    )
    with op.batch_alter_table("incident_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_event_incident_id"), ["incident_id"], unique=False
        )

    if _postgresql():
        # Scoping filters by area path prefix: pattern-ops indexes serve LIKE '/1/4/%'.
        op.execute(
            "CREATE INDEX ix_incident_area_path_pattern ON incident (area_path varchar_pattern_ops)"
        )
        op.execute(
            "CREATE INDEX ix_unit_home_area_path_pattern "
            "ON unit (home_area_path varchar_pattern_ops)"
        )


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP INDEX IF EXISTS ix_unit_home_area_path_pattern")
        op.execute("DROP INDEX IF EXISTS ix_incident_area_path_pattern")
    with op.batch_alter_table("incident_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_event_incident_id"))

    op.drop_table("incident_event")
    with op.batch_alter_table("dispatch_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispatch_assignment_unit_id"))
        batch_op.drop_index(batch_op.f("ix_dispatch_assignment_incident_id"))

    op.drop_table("dispatch_assignment")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_status"))
        batch_op.drop_index(batch_op.f("ix_unit_home_area_path"))
        batch_op.drop_index(batch_op.f("ix_unit_home_area_id"))

    op.drop_table("unit")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_status_received")
        batch_op.drop_index(batch_op.f("ix_incident_received_at"))
        batch_op.drop_index(batch_op.f("ix_incident_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_incident_category"))
        batch_op.drop_index(batch_op.f("ix_incident_area_path"))
        batch_op.drop_index(batch_op.f("ix_incident_area_id"))

    op.drop_table("incident")
