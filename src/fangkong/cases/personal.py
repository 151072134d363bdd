"""The personal data of cases: parties and personal field values, encrypted at rest, shown
masked, unmasked by roles that need them (every read audited).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from fangkong.cases import permissions as perms
from fangkong.cases._common import require
from fangkong.cases.models import (
    Case,
)
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.models import User
from fangkong.core.security import FieldCipher, mask_phone


def mask_text(value: str) -> str:
    """A personal text reduced to its length: nothing of it is shown."""
    return f"*** ({len(value)})"


def mask_name(value: str) -> str:
    """First character kept, the rest starred: 张三丰 → 张**."""
    return value[:1] + "*" * max(1, len(value) - 1) if value else ""


def _mask_contact(value: str) -> str:
    return (
        mask_phone(value)
        if value.replace("+", "").replace("-", "").isdigit()
        else (mask_name(value))
    )


def encrypt_json(cipher: FieldCipher | None, values: dict[str, Any]) -> str | None:
    if not values:
        return None
    if cipher is None:
        raise ValueError("a cipher is needed to store personal fields")
    return cipher.encrypt(json.dumps(values, ensure_ascii=False))


def decrypt_json(cipher: FieldCipher, token: str | None) -> dict[str, Any]:
    if token is None:
        return {}
    value = json.loads(cipher.decrypt(token))
    assert isinstance(value, dict)
    return value


@dataclass
class PartyView:
    id: int
    role: str
    name: str | None
    contact: str | None


@dataclass
class PersonalView:
    """Parties and personal field values of a case, masked or in clear."""

    masked: bool
    parties: list[PartyView] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    events: dict[int, dict[str, str]] = field(default_factory=dict)


def _personal_view(case: Case, cipher: FieldCipher, *, masked: bool) -> PersonalView:
    view = PersonalView(masked=masked)

    def show(value: Any, kind: str) -> str:
        text = str(value)
        if not masked:
            return text
        return {"name": mask_name, "contact": _mask_contact}.get(kind, mask_text)(text)

    for party in case.parties:
        view.parties.append(
            PartyView(
                id=party.id,
                role=party.role,
                name=show(cipher.decrypt(party.name_encrypted), "name")
                if party.name_encrypted
                else None,
                contact=show(cipher.decrypt(party.contact_encrypted), "contact")
                if party.contact_encrypted
                else None,
            )
        )
    view.fields = {
        k: show(v, "text") for k, v in decrypt_json(cipher, case.personal_encrypted).items()
    }
    for event in case.events:
        if event.personal_encrypted:
            view.events[event.id] = {
                k: show(v, "text")
                for k, v in decrypt_json(cipher, event.personal_encrypted).items()
            }
    return view


def masked_personal(case: Case, cipher: FieldCipher) -> PersonalView:
    """Personal data as anyone who may read the case sees it: masked."""
    return _personal_view(case, cipher, masked=True)


def reveal_personal(
    session: Session, *, case: Case, viewer: User | None, cipher: FieldCipher, actor: Actor
) -> PersonalView:
    """Unmask parties and personal fields: roles that need it only, and every read is audited."""
    require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="case",
        entity_id=case.id,
        detail={"parties": len(case.parties)},
    )
    return _personal_view(case, cipher, masked=False)
