"""incidents partitioned by county on PostgreSQL, and the province's claims of their keys

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-12 01:00:00

``incident`` gains ``partition_county`` (the county, ``0`` for none) and, on PostgreSQL, is
copied into a table partitioned ``LIST (partition_county)`` and swapped in, as 0023 did for
the four tables that nothing references (:mod:`fangkong.core.partition_swap`). Four references
point at it, and a reference to a partitioned table names its whole unique key, so each
referencing row carries the incident's partition key beside its id:

- an incident's timeline (``incident_event.partition_county``, which it has) and its
  assignments (``dispatch_assignment.partition_county``, new): ``ON DELETE CASCADE``;
- a plan's activation (``emergency_activation.incident_county``, new) and a merged incident's
  target (``incident.merged_into_county``, new): ``MATCH FULL ON DELETE SET NULL``.

All four are ``ON UPDATE CASCADE``: an incident placed again in another county takes its rows
with it. The incident's unique idempotency key becomes unique within its partition, as
PostgreSQL requires; its uniqueness in the province moves to a claim, ``incident_key``
(key, partition key of the incident), which every writer of incidents fills first
(``dispatch.incidents.claim_keys``) and which refers to its incident (deferred to the
commit: the claim goes in first). On SQLite the columns and the claims are added and filled;
the references stay as they were. The downgrade copies the incidents back into a plain table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fangkong.core import partition_swap, partitions

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Months made ahead (none: the incidents are partitioned by county alone).
AHEAD = 3
#: (referencing table, its foreign key, its partition-key column, the reference's actions)
REFERENCES = (
    (
        "incident_event",
        "fk_incident_event_incident_id_incident",
        "incident_id",
        "partition_county",
        "ON DELETE CASCADE",
    ),
    (
        "dispatch_assignment",
        "fk_dispatch_assignment_incident_id_incident",
        "incident_id",
        "partition_county",
        "ON DELETE CASCADE",
    ),
    (
        "emergency_activation",
        "fk_emergency_activation_incident_id_incident",
        "incident_id",
        "incident_county",
        "MATCH FULL ON DELETE SET NULL",
    ),
)
MERGED_PLAIN = "FOREIGN KEY (merged_into_id) REFERENCES incident(id) ON DELETE SET NULL"
MERGED_PARTITIONED = (
    "FOREIGN KEY (merged_into_id, merged_into_county) REFERENCES incident(id, partition_county) "
    "MATCH FULL ON DELETE SET NULL ON UPDATE CASCADE"
)
CLAIM_FK = "fk_incident_key_idempotency_key_incident"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _merged(definition: str, partitioned: bool) -> str:
    """The merged incident's reference as the swapped table has it (the incident's other
    references, to areas and users, unchanged)."""
    if "(merged_into_id" not in definition:
        return definition
    return MERGED_PARTITIONED if partitioned else MERGED_PLAIN


def _columns() -> None:
    """The new columns, filled from the rows' counties and their incidents'."""
    postgresql = _postgresql()
    if not postgresql:  # PostgreSQL's comes with the partitioned copy
        op.execute("ALTER TABLE incident ADD COLUMN partition_county INTEGER NOT NULL DEFAULT 0")
        op.execute("UPDATE incident SET partition_county = county_id WHERE county_id IS NOT NULL")
    op.add_column("incident", sa.Column("merged_into_county", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE incident SET merged_into_county = (SELECT coalesce(m.county_id, 0) FROM incident m "
        "WHERE m.id = incident.merged_into_id) WHERE merged_into_id IS NOT NULL"
    )
    op.execute(
        "ALTER TABLE dispatch_assignment ADD COLUMN partition_county INTEGER NOT NULL DEFAULT 0"
    )
    op.execute(
        "UPDATE dispatch_assignment SET partition_county = county_id WHERE county_id IS NOT NULL"
    )
    if postgresql:  # the model's default is the application's
        op.execute("ALTER TABLE dispatch_assignment ALTER COLUMN partition_county DROP DEFAULT")
    op.add_column("emergency_activation", sa.Column("incident_county", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE emergency_activation SET incident_county = (SELECT coalesce(i.county_id, 0) "
        "FROM incident i WHERE i.id = emergency_activation.incident_id) "
        "WHERE incident_id IS NOT NULL"
    )


def _claims() -> None:
    """The claims of the keys of the incidents there are."""
    postgresql = _postgresql()
    op.create_table(
        "incident_key",
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("incident_county", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_incident_key")),
        *(
            []
            if postgresql
            else [
                sa.ForeignKeyConstraint(
                    ["idempotency_key"],
                    ["incident.idempotency_key"],
                    name=op.f(CLAIM_FK),
                    ondelete="CASCADE",
                    onupdate="CASCADE",
                    deferrable=True,
                    initially="DEFERRED",
                )
            ]
        ),
    )
    op.execute(
        "INSERT INTO incident_key (idempotency_key, incident_county) "
        "SELECT idempotency_key, partition_county FROM incident"
    )
    if postgresql:
        op.execute(
            f'ALTER TABLE incident_key ADD CONSTRAINT "{CLAIM_FK}" '
            "FOREIGN KEY (idempotency_key, incident_county) "
            "REFERENCES incident(idempotency_key, partition_county) MATCH FULL "
            "ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED"
        )


def _swap(*, partitioned: bool) -> None:
    """``incident`` copied into a partitioned table (or back into a plain one), the
    references to it dropped before and made again after, naming its partition (or not)."""
    for table, name, _, _, _ in REFERENCES:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    partition_swap.swap(
        op.get_bind(), "incident", partitioned=partitioned, month=None, ahead=AHEAD, rewrite=_merged
    )
    for table, name, column, key, actions in REFERENCES:
        if partitioned:
            reference = (
                f"({column}, {key}) REFERENCES incident(id, partition_county) {actions} "
                "ON UPDATE CASCADE"
            )
        else:
            reference = f"({column}) REFERENCES incident(id) {actions.replace('MATCH FULL ', '')}"
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" FOREIGN KEY {reference}')


def upgrade() -> None:
    _columns()
    if _postgresql():
        # The functions as this revision has them: they make the incidents' partitions too.
        op.execute(partitions.FUNCTIONS)
        _swap(partitioned=True)
    _claims()


def downgrade() -> None:
    op.drop_table("incident_key")
    if _postgresql():
        _swap(partitioned=False)
    else:
        op.drop_column("incident", "partition_county")
    op.drop_column("emergency_activation", "incident_county")
    op.drop_column("dispatch_assignment", "partition_county")
    op.drop_column("incident", "merged_into_county")
