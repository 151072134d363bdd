"""personal data register: keyed idempotency digests that go with the contact, sealed attachments

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:10:00

``incident.request_hash`` was a plain SHA-256 of the create request, the caller's contact
included, and outlived the contact's purge: a search of a few hundred thousand phone numbers
found a deleted number again. It becomes an HMAC under a key derived from the secret key (the
key ``fangkong db upgrade`` hands over), and may be NULL: it is deleted with the contact.

Each row's request is rebuilt from its columns (the contact decrypted) and checked against the
stored hash before it is rehashed; a row whose request cannot be rebuilt (its contact already
purged), or every row when no secret key is handed over, loses its digest: a create sent again
under its key is then a conflict, never a match found by guessing.

``case_attachment.key_encrypted``: the key of a sealed file, encrypted with the field cipher;
NULL for files stored in clear before, which the purge job seals.
"""

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from fangkong.core.security import FieldCipher

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Set by :func:`fangkong.core.migrate.upgrade` from the installation's settings.
SECRET_KEY_ATTRIBUTE = "secret_key"
BATCH = 1000

INCIDENT = sa.table(
    "incident",
    sa.column("id", sa.Integer),
    sa.column("request_hash", sa.String),
    sa.column("category", sa.String),
    sa.column("subtype", sa.String),
    sa.column("priority", sa.String),
    sa.column("source", sa.String),
    sa.column("lon", sa.Float),
    sa.column("lat", sa.Float),
    sa.column("description", sa.Text),
    sa.column("caller_contact_encrypted", sa.String),
)
ATTACHMENT = sa.table("case_attachment", sa.column("key_encrypted", sa.String))


def _canonical(row: Any, contact: str | None) -> str:
    """The request as ``IncidentIn.canonical`` wrote it (sorted JSON of its fields)."""
    body = {
        "category": row.category,
        "subtype": row.subtype,
        "priority": row.priority,
        "source": row.source,
        "lon": round(row.lon, 7),
        "lat": round(row.lat, 7),
        "description": row.description,
        "caller_contact": contact,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def _keyed(row: Any, cipher: FieldCipher | None) -> str | None:
    """The row's digest keyed, or None when its request cannot be rebuilt and checked."""
    if cipher is None:
        return None
    if row.caller_contact_encrypted is None:
        contacts: list[str | None] = [None, ""]  # none given, or an empty one
    else:
        try:
            contacts = [cipher.decrypt(row.caller_contact_encrypted)]
        except ValueError:
            return None
    for contact in contacts:
        text = _canonical(row, contact)
        plain = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if hmac.compare_digest(plain, row.request_hash):
            return cipher.keyed_digest(text)
    return None


def _rehash(bind: sa.Connection) -> None:
    secret = context.config.attributes.get(SECRET_KEY_ATTRIBUTE)
    cipher = FieldCipher(secret) if secret else None
    last = 0
    while True:
        rows = bind.execute(
            sa.select(INCIDENT)
            .where(INCIDENT.c.id > last, INCIDENT.c.request_hash.is_not(None))
            .order_by(INCIDENT.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.update(INCIDENT)
            .where(INCIDENT.c.id == sa.bindparam("row_id"))
            .values(request_hash=sa.bindparam("digest")),
            [{"row_id": row.id, "digest": _keyed(row, cipher)} for row in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.alter_column("request_hash", existing_type=sa.String(length=64), nullable=True)
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_encrypted", sa.String(length=255), nullable=True))
    _rehash(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    sealed = bind.execute(
        sa.select(sa.func.count())
        .select_from(ATTACHMENT)
        .where(ATTACHMENT.c.key_encrypted.is_not(None))
    ).scalar_one()
    if sealed:
        raise RuntimeError(
            f"{sealed} attachments are sealed: going below revision 0007 would lose their keys"
        )
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.drop_column("key_encrypted")
    # The digests stay keyed: the older version takes them for another request (a conflict).
    bind.execute(
        sa.update(INCIDENT).where(INCIDENT.c.request_hash.is_(None)).values(request_hash="")
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.alter_column("request_hash", existing_type=sa.String(length=64), nullable=False)
