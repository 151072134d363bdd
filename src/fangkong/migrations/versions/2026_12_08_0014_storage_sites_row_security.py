"""storage sites under row-level security (issue 19)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 00:00:00

Reserved so that the work on each issue can land in any order on one linear chain; the tables
come with the issue's models.
"""

from collections.abc import Sequence

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
