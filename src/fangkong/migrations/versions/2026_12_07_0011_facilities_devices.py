"""key facilities and their compliance rules; devices (一机一档), their status history and
the zone types of areas

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATTERN_INDEXES = {
    "ix_facility_area_path_pattern": "facility",
    "ix_device_area_path_pattern": "device",
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "facility_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_rule")),
        sa.UniqueConstraint("code", name=op.f("uq_facility_rule_code")),
    )
    op.create_table(
        "device_area_zone",
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column(
            "zone_type",
            sa.Enum(
                "central_urban",
                "urban_fringe",
                "rural",
                "key_site",
                name="zonetype",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
            name=op.f("fk_device_area_zone_area_id_area"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("area_id", name=op.f("pk_device_area_zone")),
    )
    op.create_table(
        "facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "facility_type",
            sa.Enum(
                "school",
                "kindergarten",
                "hospital",
                "bank",
                "fuel_station",
                "chemical_plant",
                "government",
                "transport_hub",
                "port",
                "market",
                "entertainment",
                name="facilitytype",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("staff_count", sa.Integer(), nullable=False),
        sa.Column("guards_full_time", sa.Integer(), nullable=False),
        sa.Column("guards_part_time", sa.Integer(), nullable=False),
        sa.Column("physical_barriers", sa.Boolean(), nullable=False),
        sa.Column("alarm_networked", sa.Boolean(), nullable=False),
        sa.Column("video_networked", sa.Boolean(), nullable=False),
        sa.Column("school_gate_post", sa.Boolean(), nullable=False),
        sa.Column("closed_management", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("h3_cell", sa.String(length=16), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_facility_area_id_area"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility")),
        sa.UniqueConstraint("code", name=op.f("uq_facility_code")),
    )
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facility_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_facility_area_path"), ["area_path"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_facility_facility_type"), ["facility_type"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_facility_h3_cell"), ["h3_cell"], unique=False)

    op.create_table(
        "device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "device_type",
            sa.Enum(
                "camera",
                "alarm_button",
                "vehicle_checkpoint",
                "access_control",
                "perimeter_sensor",
                name="devicetype",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "owner_kind",
            sa.Enum("public", "social", name="ownerkind", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column(
            "zone_type",
            sa.Enum(
                "central_urban",
                "urban_fringe",
                "rural",
                "key_site",
                name="zonetype",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("networked", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "working", "fault", "offline", name="devicestatus", native_enum=False, length=8
            ),
            nullable=False,
        ),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("h3_cell", sa.String(length=16), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_device_area_id_area"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_device_facility_id_facility"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device")),
        sa.UniqueConstraint("code", name=op.f("uq_device_code")),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_h3_cell"), ["h3_cell"], unique=False)
        batch_op.create_index("ix_device_type_status", ["device_type", "status"], unique=False)

    op.create_table(
        "device_status_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "working", "fault", "offline", name="devicestatus", native_enum=False, length=8
            ),
            nullable=False,
        ),
        sa.Column(
            "previous",
            sa.Enum(
                "working", "fault", "offline", name="devicestatus", native_enum=False, length=8
            ),
            nullable=True,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "register",
                "api",
                "import",
                "console",
                name="statussource",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
            name=op.f("fk_device_status_event_device_id_device"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_status_event")),
        sa.UniqueConstraint("device_id", "at", name=op.f("uq_device_status_event_device_id")),
    )
    if _postgresql():
        # Scoping filters by area path prefix: pattern-ops indexes serve LIKE '/1/4/%'.
        for name, table in PATTERN_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} (area_path varchar_pattern_ops)")


def downgrade() -> None:
    if _postgresql():
        for name in PATTERN_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("device_status_event")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index("ix_device_type_status")
        batch_op.drop_index(batch_op.f("ix_device_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_device_facility_id"))
        batch_op.drop_index(batch_op.f("ix_device_area_path"))
        batch_op.drop_index(batch_op.f("ix_device_area_id"))

    op.drop_table("device")
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facility_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_facility_facility_type"))
        batch_op.drop_index(batch_op.f("ix_facility_area_path"))
        batch_op.drop_index(batch_op.f("ix_facility_area_id"))

    op.drop_table("facility")
    op.drop_table("device_area_zone")
    op.drop_table("facility_rule")
