"""Tips from the public (群众举报): a hazard or a concern at a place, sent with no login.

The way in is guarded without a CAPTCHA (docs/community.md):

- a **form token** signed by the server (:func:`issue_token`): good from
  :data:`TOKEN_MIN_AGE_S` to :data:`TOKEN_MAX_AGE_S` after it was issued (a form sent sooner
  was not filled in by a person), taken once (its nonce is kept with the tip);
- a **proof of work**: the sender finds a ``nonce`` such that SHA-256 of ``token:nonce`` starts
  with :data:`DIFFICULTY_BITS` zero bits (about 65,000 hashes: a fraction of a second in a
  phone's browser, and the cost of every tip a script would send);
- a **rate limit** per client address (:class:`ClientLimit`, in the serving process's memory:
  the address is never stored);
- **size limits**: text, place and contact by the schema, the photo by
  :data:`PHOTO_MAX_BYTES` and its type by its first bytes.

A tip that passes is taken: it becomes a hazard case on the engine (finding route
``public_tip``), linked to the tip, with its text as the case's description and its photo as
the case's sealed attachment — or it is rejected with a reason (outside the county, links in
the text, too short) and keeps nothing but its category, place and reason. The tipster gets a
receipt code to follow it (kept as a keyed digest) and may leave a contact (encrypted, purged).
Nothing internal is shown to the public: no case number, area, handler or note, only a stage.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.models import Case
from fangkong.cases.storage import AttachmentStorage
from fangkong.community.models import PublicTip, TipCategory, TipStatus
from fangkong.community.schemas import PublicTipIn
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound, Throttled
from fangkong.core.i18n import translate
from fangkong.core.scoping import as_system
from fangkong.core.security import FieldCipher

#: A form token is good this long after it was issued (s) ...
TOKEN_MAX_AGE_S = 30 * 60
#: ... and not before this (s): a person takes longer to fill in the form.
TOKEN_MIN_AGE_S = 3
#: Leading zero bits the proof of work must have.
DIFFICULTY_BITS = 16
#: The largest photo (bytes) and the types taken, by their first bytes.
PHOTO_MAX_BYTES = 3 * 1024 * 1024
PHOTO_TYPES = {b"\xff\xd8\xff": ("image/jpeg", ".jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", ".png")}
#: Tips a client address may send per window, and lookups of a receipt.
TIPS_PER_WINDOW = 5  # the default of the setting public_tips_per_window
LOOKUPS_PER_WINDOW = 30
WINDOW_S = 15 * 60
#: The text of a tip that is taken must have this many characters at least.
MIN_TEXT = 5
#: Who acts for a tip in the audit log: the public, with no address kept.
PUBLIC = Actor(user_id=None, username="public", client=None)
_LINK = re.compile(r"(https?://|www\.)", re.IGNORECASE)
_RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_RECEIPT = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")

#: The case's state as the public is told it.
PUBLIC_STAGE = {
    "found": "received",
    "assessed": "assessed",
    "handling": "handling",
    "reinspecting": "handling",
    "closed": "resolved",
    "dismissed": "no_action",
}


# --- the abuse guard ----------------------------------------------------------------------------


def _sign(cipher: FieldCipher, payload: str) -> str:
    return cipher.keyed_digest("public-tip-form:" + payload)[:32]


def issue_token(cipher: FieldCipher, *, now_s: float | None = None) -> str:
    """A signed form token: ``issued.nonce.signature``."""
    issued = int(now_s if now_s is not None else time.time())
    payload = f"{issued}.{secrets.token_hex(8)}"
    return f"{payload}.{_sign(cipher, payload)}"


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def work_done(token: str, nonce: str, difficulty: int = DIFFICULTY_BITS) -> bool:
    """Whether SHA-256 of ``token:nonce`` starts with ``difficulty`` zero bits."""
    digest = hashlib.sha256(f"{token}:{nonce}".encode()).digest()
    return leading_zero_bits(digest) >= difficulty


def solve(token: str, difficulty: int = DIFFICULTY_BITS) -> str:
    """A nonce that does the work (what the page's script finds; tests and the CLI use it)."""
    n = 0
    while not work_done(token, format(n, "x"), difficulty):
        n += 1
    return format(n, "x")


def check_token(
    cipher: FieldCipher,
    token: str,
    nonce: str,
    *,
    now_s: float | None = None,
    difficulty: int = DIFFICULTY_BITS,
) -> str:
    """The token's nonce (kept with the tip, so that it is taken once) when the token is the
    server's, of the right age, and the work is done; else invalid input naming the rule."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not re.fullmatch(r"[0-9a-f]{16}", parts[1]):
        raise InvalidInput(key="error.community.tip_token", field="token")
    payload = f"{parts[0]}.{parts[1]}"
    if not secrets.compare_digest(parts[2], _sign(cipher, payload)):
        raise InvalidInput(key="error.community.tip_token", field="token")
    age = (now_s if now_s is not None else time.time()) - int(parts[0])
    if age < TOKEN_MIN_AGE_S:
        raise InvalidInput(
            key="error.community.tip_too_fast", params={"s": TOKEN_MIN_AGE_S}, field="token"
        )
    if age > TOKEN_MAX_AGE_S:
        raise InvalidInput(
            key="error.community.tip_token_old",
            params={"min": TOKEN_MAX_AGE_S // 60},
            field="token",
        )
    if not work_done(token, nonce, difficulty):
        raise InvalidInput(key="error.community.tip_work", field="nonce")
    return parts[1]


class ClientLimit:
    """At most ``limit`` events per client address in a sliding window of ``window_s``
    seconds, in this process's memory (nothing stored; with several server processes each
    counts its own). O(1) amortised per event."""

    def __init__(self, limit: int, window_s: float = WINDOW_S, max_clients: int = 100_000):
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, *, now: float | None = None) -> bool:
        """Count an event of ``client``; False when it is over the limit (not counted)."""
        at = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) >= self.max_clients:
                self._forget(at)
            times = self._seen.setdefault(client, deque())
            while times and times[0] <= at - self.window_s:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(at)
            return True

    def retry_after(self, client: str, *, now: float | None = None) -> int:
        at = time.monotonic() if now is None else now
        with self._lock:
            times = self._seen.get(client)
            if not times:
                return 0
            return max(1, int(times[0] + self.window_s - at) + 1)

    def _forget(self, at: float) -> None:
        for key in [k for k, v in self._seen.items() if not v or v[-1] <= at - self.window_s]:
            del self._seen[key]
        if len(self._seen) >= self.max_clients:  # a flood of addresses: start again
            self._seen.clear()


def limit_or_raise(limit: ClientLimit, client: str) -> None:
    """Count an event of ``client``; past its rate, 429 with when to try again."""
    if not limit.take(client):
        raise Throttled(
            key="error.community.tip_rate",
            params={"s": limit.retry_after(client)},
            retry_after_s=limit.retry_after(client),
        )


# --- intake -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    filename: str
    data: bytes


def check_photo(photo: Photo) -> tuple[str, str]:
    """The photo's content type and suffix, read from its first bytes; too large, empty or of
    another type is invalid input."""
    if not photo.data:
        raise InvalidInput(key="error.community.photo_empty", field="photo")
    if len(photo.data) > PHOTO_MAX_BYTES:
        raise InvalidInput(
            key="error.community.photo_large",
            params={"mib": PHOTO_MAX_BYTES // (1024 * 1024)},
            field="photo",
        )
    for magic, kind in PHOTO_TYPES.items():
        if photo.data.startswith(magic):
            return kind
    raise InvalidInput(key="error.community.photo_type", field="photo")


def _receipt() -> str:
    raw = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def receipt_digest(cipher: FieldCipher, receipt: str) -> str:
    return cipher.keyed_digest("public-tip-receipt:" + receipt.strip().upper())


@dataclass(frozen=True)
class Taken:
    tip: PublicTip
    receipt: str | None
    case: Case | None


def _rejection(data: PublicTipIn, leaf: int) -> str | None:
    text = data.text.strip()
    if leaf < 0:
        return "outside_area"
    if len(text) < MIN_TEXT:
        return "too_short"
    if _LINK.search(text) or _LINK.search(data.place):
        return "links"
    return None


def take_tip(
    session: Session,
    *,
    data: PublicTipIn,
    photo: Photo | None,
    cipher: FieldCipher,
    storage: AttachmentStorage,
    calendar: BusinessCalendar,
    now: datetime,
    now_s: float | None = None,
    difficulty: int = DIFFICULTY_BITS,
) -> Taken:
    """Take a tip from the public: the guard first (token, work), then the tip is either a
    hazard case at intake or rejected with a reason. Runs as the system (no user)."""
    nonce = check_token(cipher, data.token, data.nonce, now_s=now_s, difficulty=difficulty)
    kind = check_photo(photo) if photo is not None else None
    with as_system(session):
        used = session.scalars(select(PublicTip.id).where(PublicTip.form_nonce == nonce)).first()
        if used is not None:
            raise Conflict(key="error.community.tip_token_used", field="token")
        index = area_index.get(session)
        leaf = int(index.locate([data.lon], [data.lat])[0])
        path = index.path_of(leaf) if leaf >= 0 else None
        reason = _rejection(data, leaf)
        receipt = _receipt() if reason is None else None
        tip = PublicTip(
            receipt_digest=receipt_digest(cipher, receipt)
            if receipt
            else cipher.keyed_digest("public-tip-rejected:" + nonce),
            form_nonce=nonce,
            category=data.category,
            status=TipStatus.REJECTED if reason else TipStatus.ACCEPTED,
            reject_reason=reason,
            received_at=now,
            lon=data.lon,
            lat=data.lat,
            h3_cell=h3_cell(data.lon, data.lat),
            area_id=leaf if leaf >= 0 else None,
            area_path=path,
            has_photo=photo is not None and reason is None,
            # A rejected tip keeps no contact: there is nothing to follow up.
            contact_encrypted=cipher.encrypt(data.contact.strip())
            if data.contact.strip() and reason is None
            else None,
            language="en" if data.language == "en" else "zh-CN",
        )
        session.add(tip)
        session.flush()
        case: Case | None = None
        if reason is None:
            area = session.get_one(Area, leaf)
            label = translate(f"community.tip_category.{data.category.value}", "zh-CN")
            case = cases.create(
                session,
                case_type="hazard",
                title=f"{translate('community.tip_title', 'zh-CN')}：{label}",
                area=area,
                fields={
                    "finding_route": "public_tip",
                    "category": data.category.value,
                    **({"place": data.place.strip()} if data.place.strip() else {}),
                },
                user=None,
                actor=PUBLIC,
                now=now,
                calendar=calendar,
                description=data.text.strip(),
                lon=data.lon,
                lat=data.lat,
            )
            cases.add_link(
                session,
                case=case,
                kind="tip",
                ref_id=str(tip.id),
                label=f"tip {tip.id}",
                user=None,
                actor=PUBLIC,
                now=now,
            )
            if photo is not None and kind is not None:
                cases.add_attachment(
                    session,
                    case=case,
                    filename=f"tip-{tip.id}{kind[1]}",
                    content_type=kind[0],
                    data=photo.data,
                    storage=storage,
                    cipher=cipher,
                    user=None,
                    actor=PUBLIC,
                    now=now,
                )
            tip.case_id = case.id
            session.flush()
        audit.record(
            session,
            actor=PUBLIC,
            action="tip",
            entity="public_tip",
            entity_id=tip.id,
            detail={"status": tip.status.value, "reason": reason, "category": data.category.value},
            area_path=path,
        )
    return Taken(tip=tip, receipt=receipt, case=case)


def follow(session: Session, *, receipt: str, cipher: FieldCipher) -> tuple[PublicTip, str]:
    """The tip of a receipt code and its stage as the public is told it."""
    code = receipt.strip().upper()
    if not _RECEIPT.match(code):
        raise InvalidInput(key="error.community.receipt_format", field="receipt")
    with as_system(session):
        tip = session.scalars(
            select(PublicTip).where(PublicTip.receipt_digest == receipt_digest(cipher, code))
        ).one_or_none()
        if tip is None or tip.status is not TipStatus.ACCEPTED:
            raise NotFound(key="error.community.receipt_unknown", field="receipt")
        case = session.get(Case, tip.case_id) if tip.case_id else None
        stage = PUBLIC_STAGE.get(case.state, "handling") if case is not None else "closed"
    return tip, stage


def categories() -> list[str]:
    return [c.value for c in TipCategory]
