"""the search key of standard addresses (folded texts, pinyin, initials), filled for the
rows already there

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fangkong.areas.search import search_key

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    op.add_column(
        "standard_address",
        sa.Column("search_key", sa.Text(), server_default="", nullable=False),
    )
    bind = op.get_bind()
    table = sa.table(
        "standard_address",
        sa.column("id", sa.Integer),
        sa.column("text_zh", sa.String),
        sa.column("text_en", sa.String),
        sa.column("search_key", sa.Text),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.text_zh, table.c.text_en)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [{"row_id": r.id, "search_key": search_key(r.text_zh, r.text_en)} for r in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("standard_address") as batch:
        batch.drop_column("search_key")
