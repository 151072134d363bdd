"""community safety forces, public tips, custody of seized property (issue 22)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 00:00:00

Safety teams with their counts, the minimal member records of patrols and committees, patrol
shifts and their rosters, residents per area (entered by hand), public tips; seized items and
their chain of custody, append-only: triggers refuse ``UPDATE`` and ``DELETE`` of a step on
both backends (a correction is a new step naming the one it replaces), as the materials
ledger's (0010). On PostgreSQL the tables that carry an area path are under row-level security
(the policies of 0008 and 0013); a roster's rows are read through their shift.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The chain of custody: rows appended, never updated or deleted.
APPEND_ONLY = ("custody_step",)
#: The tables read within the transaction's scope, by their own area path.
SCOPED = (
    "safety_team",
    "safety_member",
    "safety_shift",
    "area_residents",
    "public_tip",
    "custody_item",
    "custody_step",
)
#: A roster's row is in scope when its shift is.
ROSTER_IN_SCOPE = (
    "EXISTS (SELECT 1 FROM safety_shift AS s"
    " WHERE s.id = safety_shift_member.shift_id AND fangkong_in_scope(s.area_path))"
)
POLICIES = ("fangkong_read", "fangkong_insert", "fangkong_update", "fangkong_delete")

PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION fangkong_custody_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the chain of custody is append-only: % on % refused (record a correction)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _guard(table: str) -> list[str]:
    if _postgresql():
        return [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fangkong_custody_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION fangkong_custody_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'the chain of custody is append-only: UPDATE on {table} refused "
        "(record a correction)'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'the chain of custody is append-only: DELETE on {table} refused "
        "(record a correction)'); END",
    ]


def _unguard(table: str) -> list[str]:
    if _postgresql():
        return [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
    ]


def _row_security(table: str, in_scope: str) -> str:
    return f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY fangkong_read ON {table} FOR SELECT USING ({in_scope});
CREATE POLICY fangkong_insert ON {table} FOR INSERT WITH CHECK (true);
CREATE POLICY fangkong_update ON {table} FOR UPDATE USING ({in_scope}) WITH CHECK (true);
CREATE POLICY fangkong_delete ON {table} FOR DELETE USING ({in_scope});
"""


def upgrade() -> None:
    op.create_table(
        "area_residents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
            name=op.f("fk_area_residents_area_id_area"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_residents")),
        sa.UniqueConstraint("area_id", name=op.f("uq_area_residents_area_id")),
    )
    op.create_index(
        op.f("ix_area_residents_area_path"), "area_residents", ["area_path"], unique=False
    )
    op.create_table(
        "safety_team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "volunteer_patrol",
                "safety_committee",
                "informant_network",
                name="teamkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("buildings", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disbanded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_safety_team_area_id_area"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_team")),
        sa.UniqueConstraint("code", name=op.f("uq_safety_team_code")),
    )
    op.create_index(op.f("ix_safety_team_area_id"), "safety_team", ["area_id"], unique=False)
    op.create_index(op.f("ix_safety_team_area_path"), "safety_team", ["area_path"], unique=False)
    op.create_index(op.f("ix_safety_team_kind"), "safety_team", ["kind"], unique=False)
    op.create_table(
        "custody_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "cash",
                "vehicle",
                "electronics",
                "document",
                "weapon",
                "drug",
                "valuables",
                "other",
                name="itemcategory",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column(
            "ref_kind",
            sa.Enum("incident", "case", name="refkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("ref_number", sa.String(length=48), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "received",
                "stored",
                "moved",
                "examined",
                "returned",
                "disposed",
                name="stage",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("stage_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_case_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_case_id"],
            ["case_record.id"],
            name=op.f("fk_custody_item_alert_case_id_case_record"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_custody_item_area_id_area"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_item")),
        sa.UniqueConstraint("code", name=op.f("uq_custody_item_code")),
    )
    op.create_index(op.f("ix_custody_item_area_id"), "custody_item", ["area_id"], unique=False)
    op.create_index(op.f("ix_custody_item_area_path"), "custody_item", ["area_path"], unique=False)
    op.create_index(op.f("ix_custody_item_category"), "custody_item", ["category"], unique=False)
    op.create_index(op.f("ix_custody_item_closed_at"), "custody_item", ["closed_at"], unique=False)
    op.create_index(op.f("ix_custody_item_due_at"), "custody_item", ["due_at"], unique=False)
    op.create_index(
        op.f("ix_custody_item_ref_number"), "custody_item", ["ref_number"], unique=False
    )
    op.create_index(op.f("ix_custody_item_stage"), "custody_item", ["stage"], unique=False)
    op.create_table(
        "public_tip",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt_digest", sa.String(length=64), nullable=False),
        sa.Column("form_nonce", sa.String(length=32), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "fire",
                "traffic",
                "structural",
                "chemical",
                "crowd",
                "public_order",
                "other",
                name="tipcategory",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("accepted", "rejected", name="tipstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reject_reason", sa.String(length=32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("has_photo", sa.Boolean(), nullable=False),
        sa.Column("contact_encrypted", sa.String(length=512), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("h3_cell", sa.String(length=16), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_public_tip_area_id_area"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_public_tip_case_id_case_record"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_tip")),
        sa.UniqueConstraint("form_nonce", name=op.f("uq_public_tip_form_nonce")),
        sa.UniqueConstraint("receipt_digest", name=op.f("uq_public_tip_receipt_digest")),
    )
    op.create_index(op.f("ix_public_tip_area_id"), "public_tip", ["area_id"], unique=False)
    op.create_index(op.f("ix_public_tip_area_path"), "public_tip", ["area_path"], unique=False)
    op.create_index(op.f("ix_public_tip_case_id"), "public_tip", ["case_id"], unique=False)
    op.create_index(op.f("ix_public_tip_category"), "public_tip", ["category"], unique=False)
    op.create_index(op.f("ix_public_tip_h3_cell"), "public_tip", ["h3_cell"], unique=False)
    op.create_index(op.f("ix_public_tip_received_at"), "public_tip", ["received_at"], unique=False)
    op.create_index(op.f("ix_public_tip_status"), "public_tip", ["status"], unique=False)
    op.create_table(
        "safety_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("name_encrypted", sa.String(length=512), nullable=True),
        sa.Column("phone_encrypted", sa.String(length=512), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["safety_team.id"],
            name=op.f("fk_safety_member_team_id_safety_team"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_member")),
    )
    op.create_index(
        op.f("ix_safety_member_area_path"), "safety_member", ["area_path"], unique=False
    )
    op.create_index(op.f("ix_safety_member_left_at"), "safety_member", ["left_at"], unique=False)
    op.create_index(op.f("ix_safety_member_team_id"), "safety_member", ["team_id"], unique=False)
    op.create_table(
        "safety_shift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("turned_out", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "planned", "done", "cancelled", name="shiftstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_safety_shift_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["safety_team.id"],
            name=op.f("fk_safety_shift_team_id_safety_team"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_shift")),
    )
    op.create_index(op.f("ix_safety_shift_area_id"), "safety_shift", ["area_id"], unique=False)
    op.create_index(op.f("ix_safety_shift_area_path"), "safety_shift", ["area_path"], unique=False)
    op.create_index(op.f("ix_safety_shift_starts_at"), "safety_shift", ["starts_at"], unique=False)
    op.create_index(op.f("ix_safety_shift_team_id"), "safety_shift", ["team_id"], unique=False)
    op.create_table(
        "custody_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "received",
                "stored",
                "moved",
                "examined",
                "returned",
                "disposed",
                name="stage",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("handled_by", sa.String(length=64), nullable=False),
        sa.Column("document", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("void", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["custody_step.id"],
            name=op.f("fk_custody_step_corrects_id_custody_step"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["custody_item.id"],
            name=op.f("fk_custody_step_item_id_custody_item"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_step")),
        sa.UniqueConstraint("corrects_id", name=op.f("uq_custody_step_corrects_id")),
        sa.UniqueConstraint("item_id", "seq", name=op.f("uq_custody_step_item_id")),
    )
    op.create_index(op.f("ix_custody_step_area_path"), "custody_step", ["area_path"], unique=False)
    op.create_index(op.f("ix_custody_step_item_id"), "custody_step", ["item_id"], unique=False)
    op.create_table(
        "safety_shift_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["safety_member.id"],
            name=op.f("fk_safety_shift_member_member_id_safety_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shift_id"],
            ["safety_shift.id"],
            name=op.f("fk_safety_shift_member_shift_id_safety_shift"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_shift_member")),
        sa.UniqueConstraint("shift_id", "member_id", name=op.f("uq_safety_shift_member_shift_id")),
    )
    op.create_index(
        op.f("ix_safety_shift_member_member_id"), "safety_shift_member", ["member_id"], unique=False
    )
    op.create_index(
        op.f("ix_safety_shift_member_shift_id"), "safety_shift_member", ["shift_id"], unique=False
    )

    for table in APPEND_ONLY:
        if _postgresql():
            op.execute(PG_APPEND_ONLY)
        for statement in _guard(table):
            op.execute(statement)
    if _postgresql():
        for table in SCOPED:
            op.execute(_row_security(table, "fangkong_in_scope(area_path)"))
            # Scoping filters by area path prefix: pattern-ops indexes serve LIKE '/1/4/%'.
            op.execute(
                f"CREATE INDEX ix_{table}_area_path_pattern ON {table} "
                "(area_path varchar_pattern_ops)"
            )
        op.execute(_row_security("safety_shift_member", ROSTER_IN_SCOPE))


def downgrade() -> None:
    if _postgresql():
        for table in (*SCOPED, "safety_shift_member"):
            for policy in POLICIES:
                op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        for table in SCOPED:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_area_path_pattern")
    for table in APPEND_ONLY:
        for statement in _unguard(table):
            op.execute(statement)
    if _postgresql():
        op.execute("DROP FUNCTION IF EXISTS fangkong_custody_append_only()")
    op.drop_index(op.f("ix_safety_shift_member_shift_id"), table_name="safety_shift_member")
    op.drop_index(op.f("ix_safety_shift_member_member_id"), table_name="safety_shift_member")
    op.drop_table("safety_shift_member")
    op.drop_index(op.f("ix_custody_step_item_id"), table_name="custody_step")
    op.drop_index(op.f("ix_custody_step_area_path"), table_name="custody_step")
    op.drop_table("custody_step")
    op.drop_index(op.f("ix_safety_shift_team_id"), table_name="safety_shift")
    op.drop_index(op.f("ix_safety_shift_starts_at"), table_name="safety_shift")
    op.drop_index(op.f("ix_safety_shift_area_path"), table_name="safety_shift")
    op.drop_index(op.f("ix_safety_shift_area_id"), table_name="safety_shift")
    op.drop_table("safety_shift")
    op.drop_index(op.f("ix_safety_member_team_id"), table_name="safety_member")
    op.drop_index(op.f("ix_safety_member_left_at"), table_name="safety_member")
    op.drop_index(op.f("ix_safety_member_area_path"), table_name="safety_member")
    op.drop_table("safety_member")
    op.drop_index(op.f("ix_public_tip_status"), table_name="public_tip")
    op.drop_index(op.f("ix_public_tip_received_at"), table_name="public_tip")
    op.drop_index(op.f("ix_public_tip_h3_cell"), table_name="public_tip")
    op.drop_index(op.f("ix_public_tip_category"), table_name="public_tip")
    op.drop_index(op.f("ix_public_tip_case_id"), table_name="public_tip")
    op.drop_index(op.f("ix_public_tip_area_path"), table_name="public_tip")
    op.drop_index(op.f("ix_public_tip_area_id"), table_name="public_tip")
    op.drop_table("public_tip")
    op.drop_index(op.f("ix_custody_item_stage"), table_name="custody_item")
    op.drop_index(op.f("ix_custody_item_ref_number"), table_name="custody_item")
    op.drop_index(op.f("ix_custody_item_due_at"), table_name="custody_item")
    op.drop_index(op.f("ix_custody_item_closed_at"), table_name="custody_item")
    op.drop_index(op.f("ix_custody_item_category"), table_name="custody_item")
    op.drop_index(op.f("ix_custody_item_area_path"), table_name="custody_item")
    op.drop_index(op.f("ix_custody_item_area_id"), table_name="custody_item")
    op.drop_table("custody_item")
    op.drop_index(op.f("ix_safety_team_kind"), table_name="safety_team")
    op.drop_index(op.f("ix_safety_team_area_path"), table_name="safety_team")
    op.drop_index(op.f("ix_safety_team_area_id"), table_name="safety_team")
    op.drop_table("safety_team")
    op.drop_index(op.f("ix_area_residents_area_path"), table_name="area_residents")
    op.drop_table("area_residents")
