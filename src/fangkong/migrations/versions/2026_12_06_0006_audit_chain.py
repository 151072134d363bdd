"""audit log scoped by area path and chained by hash; append-only on PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 18:40:00

Events written before get the area path of what they concern where it can be found (an
incident's, a case's, a unit's, a user's areas' common one), then are chained in id order.
On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE of events; the retention purge
deletes through a privileged function.
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

from fangkong.core import db_postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

#: Where an event about each kind of entity finds its area path (by the entity's id).
_AREA_OF = {
    "incident": ("incident", "area_path"),
    "case": ("case_record", "area_path"),
    "unit": ("unit", "home_area_path"),
    "police_post": ("police_post", "area_path"),
    "standard_address": ("standard_address", "area_path"),
    "area": ("area", "path"),
    "dispatch_replay": ("dispatch_replay", "area_path"),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _common_path(paths: list[str]) -> str | None:
    """As ``fangkong.core.scoping.common_path`` (a migration keeps its own copy)."""
    common: list[str] | None = None
    for path in paths:
        parts = [p for p in path.split("/") if p]
        if common is None:
            common = parts
            continue
        size = 0
        while size < min(len(common), len(parts)) and common[size] == parts[size]:
            size += 1
        common = common[:size]
    return "/" + "/".join(common) + "/" if common else None


def _canonical(row: Any) -> bytes:
    """As ``fangkong.core.audit.canonical``, frozen here as of this revision."""
    at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
    detail = row.detail
    if isinstance(detail, str):  # a driver that hands JSON back as text
        detail = json.loads(detail)
    values = [
        at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        row.user_id,
        row.username,
        row.client,
        row.action,
        row.entity,
        row.entity_id,
        detail,
        row.area_path,
    ]
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _backfill_area_paths(conn: sa.Connection) -> None:
    for entity, (table, column) in _AREA_OF.items():
        conn.execute(
            sa.text(
                f"UPDATE audit_event SET area_path = (SELECT t.{column} FROM {table} t "
                "WHERE CAST(t.id AS VARCHAR(64)) = audit_event.entity_id) "
                "WHERE entity = :entity AND entity_id IS NOT NULL"
            ),
            {"entity": entity},
        )
    # A user's events (their creation, logins, phone reads) and their tokens' belong to the
    # user's areas.
    paths: dict[int, list[str]] = {}
    for user_id, path in conn.execute(
        sa.text("SELECT ua.user_id, a.path FROM user_area ua JOIN area a ON a.id = ua.area_id")
    ):
        paths.setdefault(user_id, []).append(path)
    tokens: dict[int, int] = {
        token_id: user_id
        for token_id, user_id in conn.execute(sa.text("SELECT id, user_id FROM api_token"))
    }
    updates = []
    for event_id, entity, entity_id in conn.execute(
        sa.text(
            "SELECT id, entity, entity_id FROM audit_event "
            "WHERE entity IN ('user', 'api_token') AND entity_id IS NOT NULL"
        )
    ):
        try:
            key = int(entity_id)
        except ValueError:
            continue
        user_id = key if entity == "user" else tokens.get(key)
        found = _common_path(paths.get(user_id, [])) if user_id is not None else None
        if found is not None:
            updates.append({"id": event_id, "path": found})
    if updates:
        conn.execute(sa.text("UPDATE audit_event SET area_path = :path WHERE id = :id"), updates)


def _chain(conn: sa.Connection) -> None:
    prev = GENESIS
    last_id = None
    updates: list[dict[str, Any]] = []
    rows = conn.execute(
        sa.text(
            "SELECT id, at, user_id, username, client, action, entity, entity_id, detail, "
            "area_path FROM audit_event ORDER BY id"
        ).columns(at=sa.DateTime(timezone=True), detail=sa.JSON())
    )
    for row in rows:
        own = hashlib.sha256(prev.encode("ascii") + b"\n" + _canonical(row)).hexdigest()
        updates.append({"id": row.id, "prev": prev, "own": own})
        prev, last_id = own, row.id
    for start in range(0, len(updates), 1000):
        conn.execute(
            sa.text("UPDATE audit_event SET prev_hash = :prev, chain_hash = :own WHERE id = :id"),
            updates[start : start + 1000],
        )
    conn.execute(
        sa.text("INSERT INTO audit_chain (id, last_id, last_hash) VALUES (1, :last_id, :hash)"),
        {"last_id": last_id, "hash": prev},
    )


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_path", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_event_area_path"), ["area_path"], unique=False)
        # A user with events is never deleted (they are deactivated): setting the events'
        # user to NULL would alter them.
        batch_op.drop_constraint("fk_audit_event_user_id_user_account", type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_event_user_id_user_account"),
            "user_account",
            ["user_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=True),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_id", sa.Integer(), nullable=True),
        sa.Column("anchor_hash", sa.String(length=64), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    conn = op.get_bind()
    _backfill_area_paths(conn)
    _chain(conn)
    if _postgresql():
        # Scoping filters by area path prefix: a pattern-ops index serves LIKE '/1/4/%'.
        op.execute(
            "CREATE INDEX ix_audit_event_area_path_pattern "
            "ON audit_event (area_path varchar_pattern_ops)"
        )
        op.execute(db_postgresql.AUDIT_APPEND_ONLY)
        op.execute(db_postgresql.AUDIT_PURGE)


def downgrade() -> None:
    if _postgresql():
        op.execute(db_postgresql.DROP_AUDIT_GUARDS)
        op.execute("DROP INDEX IF EXISTS ix_audit_event_area_path_pattern")
    op.drop_table("audit_chain")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_event_user_id_user_account", type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_event_user_id_user_account"),
            "user_account",
            ["user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_index(batch_op.f("ix_audit_event_area_path"))
        batch_op.drop_column("chain_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("area_path")
