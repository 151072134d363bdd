"""large-event security, emergency plans and drills (issue 22)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:00:00

Event applications (the venue, attendance, the risk grade and its factors, the organiser's
contact encrypted) and the posts of their security plans; emergency plans (tiered
reinforcement, checkpoints to close, facilities to notify, targets) and their activations,
real or drill, and the steps of an activation (a checkpoint closed, a facility notified: who
and when). The tables that carry an area path are behind PostgreSQL's row-level security
as the registers' are (0013); a plan's posts are filed under their event.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPED = ("event_application", "emergency_plan", "emergency_activation")
POLICIES = ("fangkong_read", "fangkong_insert", "fangkong_update", "fangkong_delete")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "emergency_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("checkpoint_ids", sa.JSON(), nullable=False),
        sa.Column("facility_ids", sa.JSON(), nullable=False),
        sa.Column("target_first_s", sa.Integer(), nullable=False),
        sa.Column("target_full_s", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
            name=op.f("fk_emergency_plan_area_id_area"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_plan")),
        sa.UniqueConstraint("code", name=op.f("uq_emergency_plan_code")),
    )
    with op.batch_alter_table("emergency_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_emergency_plan_area_id"), ["area_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_emergency_plan_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_emergency_plan_category"), ["category"], unique=False)

    op.create_table(
        "emergency_activation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        _when("started_at"),
        _when("confirmed_at", True),
        _when("ended_at", True),
        sa.Column("proposals", sa.JSON(), nullable=False),
        sa.Column("confirmed_unit_ids", sa.JSON(), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_emergency_activation_incident_id_incident"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["emergency_plan.id"],
            name=op.f("fk_emergency_activation_plan_id_emergency_plan"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"],
            ["user_account.id"],
            name=op.f("fk_emergency_activation_started_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_activation")),
    )
    with op.batch_alter_table("emergency_activation", schema=None) as batch_op:
        for column in ("area_path", "drill", "incident_id", "plan_id", "started_at"):
            batch_op.create_index(
                batch_op.f(f"ix_emergency_activation_{column}"), [column], unique=False
            )

    op.create_table(
        "emergency_activation_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activation_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("checkpoint", "facility", name="stepkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        _when("done_at"),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.Column("done_by", sa.String(length=128), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["activation_id"],
            ["emergency_activation.id"],
            name=op.f("fk_emergency_activation_step_activation_id_emergency_activation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["done_by_id"],
            ["user_account.id"],
            name=op.f("fk_emergency_activation_step_done_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_activation_step")),
        sa.UniqueConstraint(
            "activation_id",
            "kind",
            "ref_id",
            name=op.f("uq_emergency_activation_step_activation_id"),
        ),
    )
    with op.batch_alter_table("emergency_activation_step", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_activation_step_activation_id"),
            ["activation_id"],
            unique=False,
        )

    op.create_table(
        "event_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("organiser", sa.String(length=128), nullable=False),
        sa.Column("contact_name_encrypted", sa.String(length=512), nullable=True),
        sa.Column("contact_phone_encrypted", sa.String(length=512), nullable=True),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column(
            "venue_kind",
            sa.Enum(
                "stadium",
                "indoor_hall",
                "theatre",
                "exhibition",
                "square",
                "park",
                "street",
                "other",
                name="venuekind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("venue_polygon", sa.JSON(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("expected_attendance", sa.Integer(), nullable=False),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column(
            "risk_grade",
            sa.Enum(
                "low",
                "medium",
                "high",
                "very_high",
                name="riskgrade",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("risk_score", sa.Integer(), nullable=False),
        sa.Column("risk_factors", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("h3_cell", sa.String(length=16), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
            name=op.f("fk_event_application_area_id_area"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_event_application_case_id_case_record"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_event_application_facility_id_facility"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_application")),
        sa.UniqueConstraint("code", name=op.f("uq_event_application_code")),
    )
    with op.batch_alter_table("event_application", schema=None) as batch_op:
        for column in (
            "area_id",
            "area_path",
            "case_id",
            "ends_at",
            "facility_id",
            "h3_cell",
            "starts_at",
        ):
            batch_op.create_index(
                batch_op.f(f"ix_event_application_{column}"), [column], unique=False
            )

    op.create_table(
        "event_security_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "post",
                "entrance",
                "command",
                "medical",
                name="securitypostkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("staffing", sa.Integer(), nullable=False),
        sa.Column("unit_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event_application.id"],
            name=op.f("fk_event_security_post_event_id_event_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_security_post")),
    )
    with op.batch_alter_table("event_security_post", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_security_post_event_id"), ["event_id"], unique=False
        )

    if _postgresql():
        for table in SCOPED:
            # Scoping filters by area path prefix: pattern-ops indexes serve LIKE '/1/4/%'.
            op.execute(
                f"CREATE INDEX ix_{table}_area_path_pattern ON {table} "
                "(area_path varchar_pattern_ops)"
            )
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
    if _postgresql():
        for table in SCOPED:
            for policy in POLICIES:
                op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_area_path_pattern")
    op.drop_table("event_security_post")
    op.drop_table("event_application")
    op.drop_table("emergency_activation_step")
    op.drop_table("emergency_activation")
    op.drop_table("emergency_plan")
