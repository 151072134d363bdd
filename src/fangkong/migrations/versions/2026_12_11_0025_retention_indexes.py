"""partial indexes of the personal data the retention purge clears

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-11 06:00:00

The purge (``dispatch.retention``) clears the caller's contact, the request's digest, the
description and the handlers' notes of incidents that ended past their retention. Its UPDATEs
read every ended incident of the province on every run, those cleared long ago too (issue
23: about 120 ms and 50 ms a run at 100 counties, growing with the province and its years).
These partial indexes hold only the rows that still hold such data: the incidents by when they
were received (an incident ends after it was received, so the purge asks for those received
before its cut-off too) and the notes by incident. A run reads the rows due, the open and the
not yet due ones of the retention period, and none of those cleared before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = "caller_contact_encrypted IS NOT NULL OR request_hash IS NOT NULL OR description <> ''"


def upgrade() -> None:
    op.create_index(
        "ix_incident_personal_received",
        "incident",
        ["received_at"],
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )
    op.create_index(
        "ix_incident_event_note_held",
        "incident_event",
        ["incident_id"],
        postgresql_where=sa.text("note IS NOT NULL"),
        sqlite_where=sa.text("note IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_incident_event_note_held", table_name="incident_event")
    op.drop_index("ix_incident_personal_received", table_name="incident")
