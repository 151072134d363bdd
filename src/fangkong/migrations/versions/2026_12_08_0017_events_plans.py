"""large-event security, emergency plans and drills (issue 22)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:00:00

Reserved so that the work on each issue can land in any order on one linear chain; the tables
come with the issue's models.
"""

from collections.abc import Sequence

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
