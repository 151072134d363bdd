"""The personal data of cases: its entries in the register, and parties and personal field
values shown masked or, to roles that need them, in clear (every read audited).

Every case has a title, a description, notes and link labels (free text, where people write
names) and may have attachments (sealed files, :mod:`.attachments`); a case type declares its
parties (names and contacts, encrypted) and which data fields are personal (encrypted) or free
text (as written). All of it is kept for the type's ``retention_days`` after the case closes;
:mod:`.purge` then clears each entry as it declares.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fangkong.cases import permissions as perms
from fangkong.cases import registry
from fangkong.cases._common import number, require
from fangkong.cases.declaration import CaseTypeDecl
from fangkong.cases.models import Case, EventKind
from fangkong.cases.storage import AttachmentStorage
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.models import User
from fangkong.core.personal import PersonalField, Protection
from fangkong.core.security import FieldCipher, mask_phone

CLOSED = "the case closed (entered a closing state; a reopen stops the clock)"

#: Clears one entry's values on one case due for the purge; how many values it cleared.
Clear = Callable[[Case, AttachmentStorage | None, datetime], int]


@dataclass(frozen=True, kw_only=True, eq=False)
class CaseField(PersonalField):
    """An entry of the register held by cases of one type, and how the purge clears it."""

    case_type: str
    clear: Clear


def _replace_title(case: Case, _: AttachmentStorage | None, __: datetime) -> int:
    title = number(case)
    changed = case.title != title
    case.title = title
    return int(changed)


def _clear_description(case: Case, _: AttachmentStorage | None, __: datetime) -> int:
    changed = case.description != ""
    case.description = ""
    return int(changed)


def _clear_notes(case: Case, _: AttachmentStorage | None, __: datetime) -> int:
    cleared = 0
    for event in case.events:
        if event.note is not None:
            event.note = None
            cleared += 1
    return cleared


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def _clear_link_labels(case: Case, _: AttachmentStorage | None, __: datetime) -> int:
    cleared = 0
    for link in case.links:
        label = f"{link.kind} {link.ref_id}"
        if link.label != label:
            link.label = label
            cleared += 1
    for event in case.events:
        if event.kind is EventKind.LINK and "label" in event.data:
            event.data = _without(event.data, "label")  # a new dict: JSON is not tracked in place
    return cleared


def _clear_party_names(case: Case, _: AttachmentStorage | None, now: datetime) -> int:
    cleared = 0
    for party in case.parties:
        if party.name_encrypted is not None:
            party.name_encrypted = None
            cleared += 1
        party.anonymised_at = party.anonymised_at or now
    return cleared


def _clear_party_contacts(case: Case, _: AttachmentStorage | None, now: datetime) -> int:
    cleared = 0
    for party in case.parties:
        if party.contact_encrypted is not None:
            party.contact_encrypted = None
            cleared += 1
        party.anonymised_at = party.anonymised_at or now
    return cleared


def _clear_personal_values(case: Case, _: AttachmentStorage | None, __: datetime) -> int:
    # The personal values of a case are one ciphertext (and one per event): all go at once.
    cleared = int(case.personal_encrypted is not None)
    case.personal_encrypted = None
    for event in case.events:
        event.personal_encrypted = None
    return cleared


def _clear_free_text(name: str) -> Clear:
    def clear(case: Case, _: AttachmentStorage | None, __: datetime) -> int:
        cleared = int(name in case.data)
        if cleared:
            case.data = _without(case.data, name)
        for event in case.events:
            if name in event.data:
                event.data = _without(event.data, name)
        return cleared

    return clear


def _delete_files(case: Case, storage: AttachmentStorage | None, _: datetime) -> int:
    attachments = list(case.attachments)
    for attachment in attachments:
        if storage is not None:
            storage.delete(attachment.storage_key)
        case.attachments.remove(attachment)
    return len(attachments)


def _clear_file_names(case: Case, _: AttachmentStorage | None, __: datetime) -> int:
    cleared = 0
    for event in case.events:
        if event.kind is EventKind.ATTACHMENT and "filename" in event.data:
            event.data = {"attachment_id": event.data.get("attachment_id")}
            cleared += 1
    return cleared


def case_fields(decl: CaseTypeDecl) -> list[CaseField]:
    """The register's entries of cases of type ``decl``: what every case holds, its parties
    when the type has them, and its fields declared personal or free text."""
    t = decl.name

    def entry(
        key: str,
        stored_in: str,
        purpose: str,
        protection: Protection,
        cleared: str,
        clear: Clear,
    ) -> CaseField:
        return CaseField(
            key=f"case.{t}.{key}",
            stored_in=stored_in,
            purpose=purpose,
            protection=protection,
            retention_days=decl.retention_days,
            anchor=CLOSED,
            configured_by=f"case type {t!r}: retention_days",
            cleared=cleared,
            case_type=t,
            clear=clear,
        )

    free = Protection.FREE_TEXT
    entries = [
        entry(
            "title",
            "case_record.title",
            "name the case in lists and notices",
            free,
            "the case number",
            _replace_title,
        ),
        entry(
            "description",
            "case_record.description",
            "what the case is about",
            free,
            "empty text",
            _clear_description,
        ),
        entry(
            "notes",
            "case_event.note",
            "comments and notes on transitions and supervision",
            free,
            "NULL",
            _clear_notes,
        ),
        entry(
            "link_labels",
            "case_link.label, case_event.data[label]",
            "say what a linked record is",
            free,
            "the link's kind and id",
            _clear_link_labels,
        ),
        entry(
            "attachments",
            "attachment files (case_attachment.key_encrypted)",
            "documents and photos of the case",
            Protection.ENCRYPTED,
            "file and row deleted",
            _delete_files,
        ),
        entry(
            "attachment_names",
            "case_attachment.filename, case_event.data[filename]",
            "tell the files apart",
            free,
            "the timeline keeps the attachment's id",
            _clear_file_names,
        ),
    ]
    if decl.parties is not None:
        entries += [
            entry(
                "party.name",
                "case_party.name_encrypted",
                "the parties the case is between",
                Protection.ENCRYPTED,
                "NULL (the party keeps its role)",
                _clear_party_names,
            ),
            entry(
                "party.contact",
                "case_party.contact_encrypted",
                "reach the parties",
                Protection.ENCRYPTED,
                "NULL",
                _clear_party_contacts,
            ),
        ]
    for f in decl.fields:
        if f.personal:
            entries.append(
                entry(
                    f"data.{f.name}",
                    f"case_record.personal_encrypted[{f.name}], "
                    f"case_event.personal_encrypted[{f.name}]",
                    f"the {f.name} the workflow records",
                    Protection.ENCRYPTED,
                    "NULL (every personal value of the case at once)",
                    _clear_personal_values,
                )
            )
        elif f.free_text:
            entries.append(
                entry(
                    f"data.{f.name}",
                    f"case_record.data[{f.name}], case_event.data[{f.name}]",
                    f"the {f.name} the workflow records",
                    free,
                    "removed",
                    _clear_free_text(f.name),
                )
            )
    return entries


def register_fields(_: Settings) -> list[CaseField]:
    """The register's entries of every declared case type."""
    return [entry for decl in registry.all_types() for entry in case_fields(decl)]


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
        area_path=case.area_path,
    )
    return _personal_view(case, cipher, masked=False)
