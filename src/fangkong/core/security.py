"""Password hashing, API tokens, encryption of personal fields and files, keyed digests, masking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_log = logging.getLogger(__name__)

#: What a list shows for a personal field it cannot read (encrypted under another key).
UNREADABLE = "***"

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return "fk_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


_NONCE_BYTES = 12


def _derive(secret_key: str, info: bytes) -> bytes:
    """A 32-byte key of its own for ``info``, derived from the installation's secret key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fangkong-field-v1", info=info).derive(
        secret_key.encode("utf-8")
    )


class FieldCipher:
    """Encrypts personal fields and files at rest, and digests personal data with a key, all
    with keys derived from the installation's secret key (one per use)."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret_key, b"personal")))
        self._digest_key = _derive(secret_key, b"digest")

    def keyed_digest(self, data: str | bytes) -> str:
        """HMAC-SHA256 of ``data`` (hex): what a digest of personal data must be (SCOPE), for
        without the key no search of guesses finds the data back, as it would from a plain
        hash of a phone number."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return hmac.new(self._digest_key, raw, hashlib.sha256).hexdigest()

    def seal(self, data: bytes) -> tuple[bytes, str]:
        """Encrypt a file with a key of its own (AES-256-GCM): the sealed bytes (nonce first)
        and the file's key, encrypted with the field key, to keep beside its record. Deleting
        that record's key leaves the file unreadable, copies and backups included."""
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + AESGCM(key).encrypt(nonce, data, None)
        return sealed, self._fernet.encrypt(key).decode("ascii")

    def unseal(self, sealed: bytes, wrapped_key: str) -> bytes:
        """The file :meth:`seal` sealed; a wrong key or altered bytes raise ``ValueError``."""
        try:
            key = self._fernet.decrypt(wrapped_key.encode("ascii"))
            return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], None)
        except (InvalidToken, InvalidTag) as exc:
            raise ValueError("sealed file cannot be read with this secret key") from exc

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError("encrypted field cannot be read with this secret key") from exc

    def masked(self, token: str, mask: Callable[[str], str]) -> str:
        """``token``'s value as ``mask`` shows it; :data:`UNREADABLE` (and a warning in the
        log) where it was encrypted under another key, so that one such row (a restore with
        the wrong key file, a key rotated by hand) never takes a list or a board down."""
        try:
            return mask(self.decrypt(token))
        except ValueError:
            _log.warning("an encrypted field cannot be read with this secret key")
            return UNREADABLE


def mask_phone(phone: str) -> str:
    """Keep the first three and last two digits: enough to recognise, not to dial."""
    if len(phone) <= 5:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]
