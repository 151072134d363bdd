"""a password that must be changed at first login

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-10 02:30:00

``user_account.must_change_password``: set when an administrator creates a user or sets
another user's password; while set, a console login leads only to the change of password and
the user's API tokens are refused. Users that exist keep their passwords (false).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "user_account",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
