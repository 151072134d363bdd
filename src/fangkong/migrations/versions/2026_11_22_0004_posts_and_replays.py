"""posts (units' home sites), replay runs, change-feed indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:29:41.551163
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "dispatch_replay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_dispatch_replay_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_replay")),
    )
    with op.batch_alter_table("dispatch_replay", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dispatch_replay_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dispatch_replay_day"), ["day"], unique=False)

    op.create_table(
        "police_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "police_post",
                "street_post",
                "community_office",
                "school_gate",
                name="postkind",
                native_enum=False,
                length=24,
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
            ["area_id"], ["area.id"], name=op.f("fk_police_post_area_id_area"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_police_post")),
        sa.UniqueConstraint("code", name=op.f("uq_police_post_code")),
    )
    with op.batch_alter_table("police_post", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_police_post_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_police_post_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_police_post_h3_cell"), ["h3_cell"], unique=False)

    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("home_post_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_unit_home_post_id"), ["home_post_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_unit_home_post_id_police_post"),
            "police_post",
            ["home_post_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index("ix_incident_updated_at", ["updated_at"], unique=False)
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_index("ix_unit_updated_at", ["updated_at"], unique=False)

    if _postgresql():
        # Scoping filters by area path prefix: pattern-ops indexes serve LIKE '/1/4/%'.
        op.execute(
            "CREATE INDEX ix_police_post_area_path_pattern "
            "ON police_post (area_path varchar_pattern_ops)"
        )
        op.execute(
            "CREATE INDEX ix_dispatch_replay_area_path_pattern "
            "ON dispatch_replay (area_path varchar_pattern_ops)"
        )


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP INDEX IF EXISTS ix_dispatch_replay_area_path_pattern")
        op.execute("DROP INDEX IF EXISTS ix_police_post_area_path_pattern")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_index("ix_unit_updated_at")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_updated_at")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_unit_home_post_id_police_post"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_unit_home_post_id"))
        batch_op.drop_column("home_post_id")

    with op.batch_alter_table("police_post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_police_post_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_police_post_area_path"))
        batch_op.drop_index(batch_op.f("ix_police_post_area_id"))

    op.drop_table("police_post")
    with op.batch_alter_table("dispatch_replay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispatch_replay_day"))
        batch_op.drop_index(batch_op.f("ix_dispatch_replay_area_path"))

    op.drop_table("dispatch_replay")
