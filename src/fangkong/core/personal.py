"""The register of personal data: every field that can hold it, why, how it is kept, for how long.

SCOPE asks for one register in the code: each field that can hold personal data, with its
purpose, protection and retention; the masks and purges follow it, and a test walks it. Core
holds the register, not the knowledge (as with permissions): each domain declares its own
fields in its ``personal.py`` and registers them here when that module is imported, together
with the purge that clears them when their retention ends. Free text in which people write
names (descriptions, notes) counts as personal, and so does a value derived from a personal
field (a digest): it goes when the field goes.

The register is read with the installation's settings, since retention is configured there or
in the case declarations: :func:`fields` lists every entry; :func:`purge_all` runs every
registered purge at one moment; :func:`run_purges` is the server's and the command line's job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from fangkong.core import audit
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.config import Settings
from fangkong.core.db import session_scope, utcnow
from fangkong.core.models import User
from fangkong.core.security import FieldCipher

log = logging.getLogger(__name__)

#: How often the server runs the purges (s): a value outlives its retention by at most this.
PURGE_INTERVAL_S = 6 * 3600.0


class Protection(StrEnum):
    """How a field's value is protected while it is kept."""

    #: Ciphertext at rest under the field cipher (files: a key of their own, kept encrypted by
    #: it); shown masked; in clear only with an unmask permission, and every such read audited.
    ENCRYPTED = "encrypted"
    #: Text as written, where people may write names: shown only to users who may read the
    #: record in their areas, never exported or put in indicators, deleted on schedule.
    FREE_TEXT = "free_text"
    #: A keyed digest (HMAC under a key derived from the secret) of personal data: nothing can
    #: be found back from it without the key; it goes with the data it was made from.
    KEYED_DIGEST = "keyed_digest"


@dataclass(frozen=True, kw_only=True)
class PersonalField:
    """One entry of the register.

    Attributes
    ----------
    key : str
        Unique name in the register, e.g. ``incident.caller_contact`` or
        ``case.dispute.data.agreement_text``.
    stored_in : str
        Where the value lives: ``table.column``, a JSON key (``table.column[key]``) or files.
    purpose : str
        The workflow that needs it (minimum necessary: no field without one).
    protection : Protection
    retention_days : int
        Days after ``anchor`` before the value is deleted (0: at the next purge).
    anchor : str
        The moment the retention counts from, e.g. "the incident ended".
    configured_by : str
        Where ``retention_days`` is set (a setting, a case declaration).
    cleared : str
        What the purge leaves in its place.
    """

    key: str
    stored_in: str
    purpose: str
    protection: Protection
    retention_days: int
    anchor: str
    configured_by: str
    cleared: str


#: A domain's entries, for the installation's settings.
Source = Callable[[Settings], Iterable[PersonalField]]


@dataclass(frozen=True)
class PurgeContext:
    """What a purge needs: the moment (its cut-offs count back from it), the settings (the
    retention, the data folder), the field cipher and who purges (for the audit log)."""

    now: datetime
    settings: Settings
    cipher: FieldCipher
    actor: Actor = SYSTEM


#: A domain's purge: clears its register's fields whose retention ended at ``context.now``,
#: in the session's transaction; the number of values cleared, by register key.
Purge = Callable[[Session, PurgeContext], Mapping[str, int]]

_sources: dict[str, Source] = {}
_purges: dict[str, Purge] = {}


def register(domain: str, source: Source, purge: Purge) -> None:
    """Register ``domain``'s personal fields and the purge that clears them (once per domain;
    registering again replaces, as a module reloaded would)."""
    _sources[domain] = source
    _purges[domain] = purge


def fields(settings: Settings) -> list[PersonalField]:
    """Every entry of the register, by domain in order of registration; keys are unique."""
    entries = [entry for source in _sources.values() for entry in source(settings)]
    keys = [entry.key for entry in entries]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise RuntimeError(f"personal data register: keys declared twice: {duplicates}")
    return entries


def domains() -> list[str]:
    return list(_purges)


def purge_all(session: Session, context: PurgeContext) -> dict[str, int]:
    """Run every registered purge in ``session``; the values cleared, by register key."""
    cleared: dict[str, int] = {}
    for purge in _purges.values():
        cleared.update(purge(session, context))
    return cleared


def run_purges(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    cipher: FieldCipher,
    now: datetime | None = None,
) -> dict[str, int]:
    """Every registered purge, each in a transaction of its own (one that fails is logged
    and the others still run; the first failure is raised once all have run)."""
    context = PurgeContext(now=now or utcnow(), settings=settings, cipher=cipher)
    cleared: dict[str, int] = {}
    failure: Exception | None = None
    for domain, purge in list(_purges.items()):
        try:
            with session_scope(factory) as session:
                cleared.update(purge(session, context))
        except Exception as exc:
            log.exception("personal data purge of %s failed", domain)
            failure = failure or exc
    if failure is not None:
        raise failure
    return cleared


# --- the core's own personal data: staff members' work phones ---------------------------------

STAFF_PHONE = "user_account.phone"


def _core_fields(settings: Settings) -> list[PersonalField]:
    return [
        PersonalField(
            key=STAFF_PHONE,
            stored_in="user_account.phone_encrypted",
            purpose="reach a staff member on duty",
            protection=Protection.ENCRYPTED,
            retention_days=0,
            anchor="the account is deactivated",
            configured_by="fixed: kept while the account is active",
            cleared="NULL",
        )
    ]


def _purge_core(session: Session, context: PurgeContext) -> dict[str, int]:
    """Delete the work phone of deactivated accounts."""
    result = session.execute(
        update(User)
        .where(User.is_active.is_(False), User.phone_encrypted.is_not(None))
        .values(phone_encrypted=None)
        .execution_options(synchronize_session="fetch")
    )
    cleared = int(getattr(result, "rowcount", 0) or 0)
    if cleared:
        audit.record(
            session,
            actor=context.actor,
            action="purge",
            entity="user",
            detail={"fields": {STAFF_PHONE: cleared}},
        )
    return {STAFF_PHONE: cleared}


register("core", _core_fields, _purge_core)
