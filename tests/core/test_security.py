"""Password hashing, field encryption, masking and token digests."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher, extract_parameters

from fangkong.core import security
from fangkong.core.security import (
    FieldCipher,
    hash_password,
    mask_phone,
    new_token,
    token_digest,
    tokens_equal,
    verify_password,
)


@pytest.fixture()
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


def test_production_hash_is_argon2id_with_owasp_parameters() -> None:
    hashed = hash_password("correct-horse-battery")
    params = extract_parameters(hashed)
    assert hashed.startswith("$argon2id$")
    # OWASP's floor for argon2id: 19 MiB of memory and 2 passes.
    assert params.memory_cost >= 19 * 1024
    assert params.time_cost >= 2
    assert verify_password(hashed, "correct-horse-battery")


@pytest.mark.usefixtures("cheap_hashes")
def test_password_hash_verifies_only_the_right_password() -> None:
    hashed = hash_password("correct-horse-battery")
    assert hashed.startswith("$argon2id$")
    assert "correct-horse-battery" not in hashed
    assert verify_password(hashed, "correct-horse-battery")
    assert not verify_password(hashed, "correct-horse-batterY")
    assert not verify_password(hashed, "")


@pytest.mark.usefixtures("cheap_hashes")
def test_password_hashes_are_salted() -> None:
    assert hash_password("same password") != hash_password("same password")


@pytest.mark.parametrize(
    "garbage", ["", "not a hash", "$argon2id$v=19$m=65536,t=3,p=4$broken", "$2b$12$" + "a" * 53]
)
def test_garbage_hash_is_false_not_an_error(garbage: str) -> None:
    assert verify_password(garbage, "anything") is False


def test_field_cipher_round_trip() -> None:
    cipher = FieldCipher("k" * 40)
    for plain in ["13800001234", "电话 0571-8888 8888", ""]:
        token = cipher.encrypt(plain)
        assert cipher.decrypt(token) == plain
    # Same key, new object (a restart): still readable.
    assert FieldCipher("k" * 40).decrypt(cipher.encrypt("13800001234")) == "13800001234"


def test_ciphertext_hides_the_plain_text() -> None:
    cipher = FieldCipher("k" * 40)
    token = cipher.encrypt("13800001234")
    assert "13800001234" not in token
    assert "1380000" not in token
    # Fresh IV each time: equal values do not give equal ciphertexts.
    assert cipher.encrypt("13800001234") != token


def test_other_key_cannot_decrypt() -> None:
    token = FieldCipher("k" * 40).encrypt("13800001234")
    with pytest.raises(ValueError, match="cannot be read with this secret key"):
        FieldCipher("j" * 40).decrypt(token)


def test_tampered_ciphertext_is_refused() -> None:
    cipher = FieldCipher("k" * 40)
    token = cipher.encrypt("13800001234")
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(ValueError):
        cipher.decrypt(flipped)
    with pytest.raises(ValueError):
        cipher.decrypt("not a token")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13800001234", "138******34"),
        ("0571-88888888", "057********88"),
        ("123456", "123*56"),
        ("12345", "*****"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
    assert len(mask_phone(phone)) == len(phone)


def test_new_tokens_are_unique_and_prefixed() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith("fk_") and len(t) >= 40 for t in tokens)


def test_token_digest_is_sha256_hex() -> None:
    token = "fk_example"
    digest = token_digest(token)
    assert digest == hashlib.sha256(b"fk_example").hexdigest()
    assert len(digest) == 64 and token not in digest
    assert token_digest(token) == digest
    assert token_digest(token + "x") != digest


def test_tokens_equal() -> None:
    assert tokens_equal("abc", "abc")
    assert not tokens_equal("abc", "abd")
    assert not tokens_equal("abc", "abcd")


def test_keyed_digests_need_the_key() -> None:
    """A digest of personal data is an HMAC under a key derived from the secret: another
    installation's key, or a plain hash, never finds the same value."""
    ours, theirs = FieldCipher("a" * 40), FieldCipher("b" * 40)
    digest = ours.keyed_digest("13800138000")
    assert digest == ours.keyed_digest(b"13800138000") and len(digest) == 64
    assert digest != theirs.keyed_digest("13800138000")
    assert digest != hashlib.sha256(b"13800138000").hexdigest()
    assert digest != ours.keyed_digest("13800138001")


def test_sealed_files_open_with_their_key_only() -> None:
    cipher = FieldCipher("a" * 40)
    data = "张三的身份证".encode() * 100
    sealed, key = cipher.seal(data)
    assert data not in sealed and "张三".encode() not in sealed
    assert cipher.unseal(sealed, key) == data
    again, other_key = cipher.seal(data)
    assert again != sealed and other_key != key  # a key and a nonce of its own per file
    with pytest.raises(ValueError, match="cannot be read"):
        cipher.unseal(sealed[:-1] + bytes([sealed[-1] ^ 1]), key)  # altered
    with pytest.raises(ValueError, match="cannot be read"):
        cipher.unseal(sealed, other_key)
    with pytest.raises(ValueError, match="cannot be read"):
        FieldCipher("b" * 40).unseal(sealed, key)


def test_a_field_under_another_key_is_shown_unreadable_not_a_fault(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ours, theirs = FieldCipher("k" * 40), FieldCipher("o" * 40)
    assert ours.masked(ours.encrypt("13800001234"), security.mask_phone) == "138******34"
    with caplog.at_level("WARNING"):
        shown = ours.masked(theirs.encrypt("13800001234"), security.mask_phone)
    assert shown == security.UNREADABLE and "13800001234" not in caplog.text
    assert "cannot be read" in caplog.text
    with pytest.raises(ValueError):
        ours.decrypt(theirs.encrypt("13800001234"))  # a reveal still refuses
