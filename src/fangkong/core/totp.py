"""Time-based one-time codes for the second factor: RFC 6238 (TOTP) over RFC 4226 (HOTP).

What authenticator apps use: a 160-bit secret in base32, HMAC-SHA-1, 6 digits, 30-second
steps. A code is accepted for its step and one step either side (RFC 6238 section 5.2 lets a
verifier allow for clock drift and the time the user takes), and only once: the step of the last
code used is kept, and a code of that step or an earlier one is refused (section 5.2, "the
verifier MUST NOT accept the second attempt of the same OTP").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
#: Steps either side of the current one that a code may belong to.
WINDOW = 1
_SECRET_BYTES = 20


def new_secret() -> str:
    """A new shared secret: 160 random bits as base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii").rstrip("=")


def key_of(secret: str) -> bytes:
    """The key bytes of a base32 secret (spaces, case and missing padding forgiven)."""
    text = secret.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: the ``digits``-digit code of ``counter`` (dynamic truncation of the HMAC).

    Complexity: one HMAC of 8 bytes.
    """
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(
    key: bytes, at: float, *, step_s: int = STEP_S, digits: int = DIGITS, digest: str = "sha1"
) -> str:
    """RFC 6238: the code of the ``step_s``-second step holding ``at`` (Unix seconds)."""
    return hotp(key, int(at // step_s), digits=digits, digest=digest)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI that authenticator apps read (as a QR code or pasted)."""
    label = f"{quote(issuer)}:{quote(account)}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_S,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def matching_step(
    secret: str, code: str | None, *, at: float, after_step: int | None = None
) -> int | None:
    """The step whose code ``code`` is, within :data:`WINDOW` steps of ``at``; None when it
    matches none, is malformed, or belongs to ``after_step`` or an earlier step (used).

    Codes are compared in constant time.
    """
    if code is None:
        return None
    code = code.replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = key_of(secret)
    now = int(at // STEP_S)
    found: int | None = None
    for step in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(hotp(key, step), code) and found is None:
            found = step
    if found is None or (after_step is not None and found <= after_step):
        return None
    return found
