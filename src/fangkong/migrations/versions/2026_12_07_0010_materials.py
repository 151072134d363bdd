"""hazardous materials: catalogue, holders, sites and capacities, the movement ledger and
stock counts (append-only: triggers refuse UPDATE and DELETE on both backends), tolerances,
findings

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:00:00

The ledger's rows are never changed: a correction is a new row naming the one it replaces.
The triggers below make the database refuse what the application never does, so that a
program or a person with a database client cannot rewrite the history either (the tables'
owner could drop the triggers, as with the audit log). The SQL is this revision's own copy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The ledger's tables: rows appended, never updated or deleted.
APPEND_ONLY = ("material_movement", "material_stock_count")
PATTERN_INDEXES = {
    "ix_material_holder_area_path_pattern": "material_holder",
    "ix_material_movement_area_path_pattern": "material_movement",
    "ix_material_stock_count_area_path_pattern": "material_stock_count",
    "ix_material_finding_area_path_pattern": "material_finding",
}

PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION fangkong_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused (record a correction)',
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
            "FOR EACH ROW EXECUTE FUNCTION fangkong_ledger_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION fangkong_ledger_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on {table} refused "
        "(record a correction)'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on {table} refused "
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


def upgrade() -> None:
    op.create_table(
        "material",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=128), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column(
            "material_class",
            sa.Enum(
                "civil_explosive",
                "toxic_chemical",
                "explosive_precursor",
                "fireworks",
                name="materialclass",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "base_unit",
            sa.Enum("kg", "l", "piece", "m", name="baseunit", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material")),
        sa.UniqueConstraint("code", name=op.f("uq_material_code")),
    )
    op.create_table(
        "material_tolerance",
        sa.Column(
            "material_class",
            sa.Enum(
                "civil_explosive",
                "toxic_chemical",
                "explosive_precursor",
                "fireworks",
                name="materialclass",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("relative", sa.Float(), nullable=False),
        sa.Column("absolute_milli", sa.BigInteger(), nullable=False),
        sa.Column("window_hours", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("material_class", name=op.f("pk_material_tolerance")),
    )
    op.create_table(
        "material_holder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "producer",
                "distributor",
                "user",
                "blasting",
                "storage",
                "transport",
                "retail",
                name="holderkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("licence_classes", sa.JSON(), nullable=False),
        sa.Column("licence_from", sa.Date(), nullable=True),
        sa.Column("licence_until", sa.Date(), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("contact_name_encrypted", sa.String(length=512), nullable=True),
        sa.Column("contact_phone_encrypted", sa.String(length=512), nullable=True),
        sa.Column("deregistered_at", sa.DateTime(timezone=True), nullable=True),
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
            name=op.f("fk_material_holder_area_id_area"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_holder")),
        sa.UniqueConstraint("code", name=op.f("uq_material_holder_code")),
    )
    with op.batch_alter_table("material_holder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_material_holder_area_id"), ["area_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_material_holder_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_material_holder_h3_cell"), ["h3_cell"], unique=False)

    op.create_table(
        "material_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "count_mismatch",
                "negative_stock",
                "over_capacity",
                "transfer_unmatched",
                "transfer_quantity",
                "transfer_time",
                "unlicensed",
                name="discrepancykind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_record.id"],
            name=op.f("fk_material_finding_case_id_case_record"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["material_holder.id"],
            name=op.f("fk_material_finding_holder_id_material_holder"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_finding")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_material_finding_fingerprint")),
    )
    with op.batch_alter_table("material_finding", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_material_finding_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_material_finding_holder_id"), ["holder_id"], unique=False
        )

    op.create_table(
        "material_site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "magazine",
                "warehouse",
                "workshop",
                "shop",
                "vehicle",
                name="sitekind",
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
            name=op.f("fk_material_site_area_id_area"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["material_holder.id"],
            name=op.f("fk_material_site_holder_id_material_holder"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_site")),
        sa.UniqueConstraint("code", name=op.f("uq_material_site_code")),
    )
    with op.batch_alter_table("material_site", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_material_site_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_material_site_area_path"), ["area_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_material_site_h3_cell"), ["h3_cell"], unique=False)
        batch_op.create_index(batch_op.f("ix_material_site_holder_id"), ["holder_id"], unique=False)

    op.create_table(
        "material_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "produce",
                "receive",
                "store",
                "issue",
                "use",
                "sell",
                "transport",
                "return",
                "destroy",
                name="movementkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_s", sa.BigInteger(), nullable=False),
        sa.Column("document_no", sa.String(length=64), nullable=False),
        sa.Column("counterparty_id", sa.Integer(), nullable=True),
        sa.Column("counterparty_site_id", sa.Integer(), nullable=True),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("void", sa.Boolean(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "quantity",
                "material",
                "time",
                "document",
                "site",
                "counterparty",
                "duplicate",
                "other",
                name="correctionreason",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["material_movement.id"],
            name=op.f("fk_material_movement_corrects_id_material_movement"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_id"],
            ["material_holder.id"],
            name=op.f("fk_material_movement_counterparty_id_material_holder"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_site_id"],
            ["material_site.id"],
            name=op.f("fk_material_movement_counterparty_site_id_material_site"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["material_holder.id"],
            name=op.f("fk_material_movement_holder_id_material_holder"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["material_id"],
            ["material.id"],
            name=op.f("fk_material_movement_material_id_material"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["material_site.id"],
            name=op.f("fk_material_movement_site_id_material_site"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_movement")),
        sa.UniqueConstraint("corrects_id", name=op.f("uq_material_movement_corrects_id")),
    )
    with op.batch_alter_table("material_movement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_material_movement_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_material_movement_counterparty_id"), ["counterparty_id"], unique=False
        )
        batch_op.create_index("ix_material_movement_document", ["document_no"], unique=False)
        batch_op.create_index(
            "ix_material_movement_holder_occurred", ["holder_id", "occurred_s"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_material_movement_material_id"), ["material_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_material_movement_occurred_s"), ["occurred_s"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_material_movement_site_id"), ["site_id"], unique=False)

    op.create_table(
        "material_site_capacity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "material_class",
            sa.Enum(
                "civil_explosive",
                "toxic_chemical",
                "explosive_precursor",
                "fireworks",
                name="materialclass",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "unit",
            sa.Enum("kg", "l", "piece", "m", name="baseunit", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("capacity_milli", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["material_site.id"],
            name=op.f("fk_material_site_capacity_site_id_material_site"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_site_capacity")),
        sa.UniqueConstraint(
            "site_id", "material_class", "unit", name=op.f("uq_material_site_capacity_site_id")
        ),
    )
    with op.batch_alter_table("material_site_capacity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_material_site_capacity_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "material_stock_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counted_s", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("document_no", sa.String(length=64), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("void", sa.Boolean(), nullable=False),
        sa.Column("area_path", sa.String(length=255), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["material_stock_count.id"],
            name=op.f("fk_material_stock_count_corrects_id_material_stock_count"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["material_holder.id"],
            name=op.f("fk_material_stock_count_holder_id_material_holder"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["material_id"],
            ["material.id"],
            name=op.f("fk_material_stock_count_material_id_material"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["material_site.id"],
            name=op.f("fk_material_stock_count_site_id_material_site"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_stock_count")),
        sa.UniqueConstraint("corrects_id", name=op.f("uq_material_stock_count_corrects_id")),
    )
    with op.batch_alter_table("material_stock_count", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_material_stock_count_area_path"), ["area_path"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_material_stock_count_counted_s"), ["counted_s"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_material_stock_count_holder_id"), ["holder_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_material_stock_count_site_id"), ["site_id"], unique=False
        )

    if _postgresql():
        op.execute(PG_APPEND_ONLY)
        # Scoping filters by area path prefix: pattern-ops indexes serve LIKE '/1/4/%'.
        for name, table in PATTERN_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} (area_path varchar_pattern_ops)")
    for table in APPEND_ONLY:
        for statement in _guard(table):
            op.execute(statement)


def downgrade() -> None:
    for table in APPEND_ONLY:
        for statement in _unguard(table):
            op.execute(statement)
    if _postgresql():
        for name in PATTERN_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute("DROP FUNCTION IF EXISTS fangkong_ledger_append_only()")
    with op.batch_alter_table("material_stock_count", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_stock_count_site_id"))
        batch_op.drop_index(batch_op.f("ix_material_stock_count_holder_id"))
        batch_op.drop_index(batch_op.f("ix_material_stock_count_counted_s"))
        batch_op.drop_index(batch_op.f("ix_material_stock_count_area_path"))

    op.drop_table("material_stock_count")
    with op.batch_alter_table("material_site_capacity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_site_capacity_site_id"))

    op.drop_table("material_site_capacity")
    with op.batch_alter_table("material_movement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_movement_site_id"))
        batch_op.drop_index(batch_op.f("ix_material_movement_occurred_s"))
        batch_op.drop_index(batch_op.f("ix_material_movement_material_id"))
        batch_op.drop_index("ix_material_movement_holder_occurred")
        batch_op.drop_index("ix_material_movement_document")
        batch_op.drop_index(batch_op.f("ix_material_movement_counterparty_id"))
        batch_op.drop_index(batch_op.f("ix_material_movement_area_path"))

    op.drop_table("material_movement")
    with op.batch_alter_table("material_site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_site_holder_id"))
        batch_op.drop_index(batch_op.f("ix_material_site_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_material_site_area_path"))
        batch_op.drop_index(batch_op.f("ix_material_site_area_id"))

    op.drop_table("material_site")
    with op.batch_alter_table("material_finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_finding_holder_id"))
        batch_op.drop_index(batch_op.f("ix_material_finding_area_path"))

    op.drop_table("material_finding")
    with op.batch_alter_table("material_holder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_holder_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_material_holder_area_path"))
        batch_op.drop_index(batch_op.f("ix_material_holder_area_id"))

    op.drop_table("material_holder")
    op.drop_table("material_tolerance")
    op.drop_table("material")
