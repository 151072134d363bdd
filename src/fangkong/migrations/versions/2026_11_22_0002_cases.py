"""the case engine: cases, timeline, parties, attachments, links, deadline actions, notices

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "case_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=48), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("h3_cell", sa.String(length=16), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("personal_encrypted", sa.Text(), nullable=True),
        sa.Column("assignee_org", sa.String(length=128), nullable=True),
        sa.Column("assignee_user_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_round", sa.Integer(), nullable=False),
        sa.Column("is_overdue", sa.Boolean(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supervised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supervision_count", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("escalation_risk", sa.Boolean(), nullable=False),
        sa.Column("risk_reasons", sa.JSON(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["area.id"], name=op.f("fk_case_record_area_id_area"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_user_id"],
            ["user_account.id"],
            name=op.f("fk_case_record_assignee_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_case_record_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_record")),
    )
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_record_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_record_area_path"), ["area_path"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_record_assignee_user_id"), ["assignee_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_case_record_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_record_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_record_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index("ix_case_record_type_state", ["case_type", "state"], unique=False)

    op.create_table(
        "case_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_case_attachment_case_id_case_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_attachment")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_case_attachment_storage_key")),
    )
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_attachment_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_deadline_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("deadline_round", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_case_deadline_action_case_id_case_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_deadline_action")),
        sa.UniqueConstraint(
            "case_id", "deadline_round", "action", name=op.f("uq_case_deadline_action_case_id")
        ),
    )
    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "create",
                "transition",
                "comment",
                "supervise",
                "attachment",
                "link",
                "remind",
                "overdue",
                "escalate",
                "risk",
                "purge",
                name="eventkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("transition", sa.String(length=48), nullable=True),
        sa.Column("from_state", sa.String(length=48), nullable=True),
        sa.Column("to_state", sa.String(length=48), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("personal_encrypted", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_case_event_case_id_case_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_case_event_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_event_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_case_link_case_id_case_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_link")),
        sa.UniqueConstraint("case_id", "kind", "ref_id", name=op.f("uq_case_link_case_id")),
    )
    with op.batch_alter_table("case_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_link_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "create",
                "transition",
                "comment",
                "supervise",
                "attachment",
                "link",
                "remind",
                "overdue",
                "escalate",
                "risk",
                "purge",
                name="eventkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_case_notice_case_id_case_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_case_notice_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notice")),
    )
    with op.batch_alter_table("case_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_notice_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_notice_user_id"), ["user_id"], unique=False)

    op.create_table(
        "case_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("name_encrypted", sa.String(length=512), nullable=True),
        sa.Column("contact_encrypted", sa.String(length=512), nullable=True),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_case_party_case_id_case_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_party")),
    )
    with op.batch_alter_table("case_party", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_party_case_id"), ["case_id"], unique=False)

    if _postgresql():
        # Scoping filters cases by area path prefix: a pattern-ops index serves LIKE '/1/4/%'.
        op.execute(
            "CREATE INDEX ix_case_record_area_path_pattern "
            "ON case_record (area_path varchar_pattern_ops)"
        )


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP INDEX IF EXISTS ix_case_record_area_path_pattern")
    with op.batch_alter_table("case_party", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_party_case_id"))

    op.drop_table("case_party")
    with op.batch_alter_table("case_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_notice_user_id"))
        batch_op.drop_index(batch_op.f("ix_case_notice_case_id"))

    op.drop_table("case_notice")
    with op.batch_alter_table("case_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_link_case_id"))

    op.drop_table("case_link")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_case_id"))

    op.drop_table("case_event")
    op.drop_table("case_deadline_action")
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_attachment_case_id"))

    op.drop_table("case_attachment")
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_index("ix_case_record_type_state")
        batch_op.drop_index(batch_op.f("ix_case_record_opened_at"))
        batch_op.drop_index(batch_op.f("ix_case_record_due_at"))
        batch_op.drop_index(batch_op.f("ix_case_record_closed_at"))
        batch_op.drop_index(batch_op.f("ix_case_record_assignee_user_id"))
        batch_op.drop_index(batch_op.f("ix_case_record_area_path"))
        batch_op.drop_index(batch_op.f("ix_case_record_area_id"))

    op.drop_table("case_record")
