"""The one-time codes of the second factor (RFC 6238 over RFC 4226), against the RFCs' vectors."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import pytest

from fangkong.core import totp

RFC_SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
# RFC 6238, appendix B: time (s), then the 8-digit codes for SHA-1, SHA-256, SHA-512.
RFC_6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
# RFC 4226, appendix D: HOTP of the SHA-1 seed for the counters 0-9.
RFC_4226 = ["755224", "287082", "359152", "969429", "338314"]
RFC_4226 += ["254676", "287922", "162583", "399871", "520489"]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), RFC_6238)
def test_totp_matches_rfc_6238(at: int, sha1: str, sha256: str, sha512: str) -> None:
    for digest, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp.totp(RFC_SEEDS[digest], at, digits=8, digest=digest) == expected


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC_4226)))
def test_hotp_matches_rfc_4226(counter: int, expected: str) -> None:
    assert totp.hotp(RFC_SEEDS["sha1"], counter) == expected


def test_secret_is_160_bits_of_base32() -> None:
    secret = totp.new_secret()
    assert len(totp.key_of(secret)) == 20
    assert secret == secret.upper() and "=" not in secret
    assert totp.new_secret() != secret
    # Authenticator apps take it spaced and in lower case too.
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)).lower()
    assert totp.key_of(spaced) == totp.key_of(secret)


def test_provisioning_uri() -> None:
    secret = base64.b32encode(RFC_SEEDS["sha1"]).decode().rstrip("=")
    uri = urlparse(totp.provisioning_uri(secret, account="alice", issuer="fangkong 防控"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/fangkong%20%E9%98%B2%E6%8E%A7:alice"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["fangkong 防控"]
    assert (query["digits"], query["period"], query["algorithm"]) == (["6"], ["30"], ["SHA1"])


def test_a_code_matches_its_step_and_one_either_side() -> None:
    secret = totp.new_secret()
    key = totp.key_of(secret)
    at = 1_700_000_015.0
    step = int(at // 30)
    for offset in (-1, 0, 1):
        code = totp.hotp(key, step + offset)
        assert totp.matching_step(secret, code, at=at) == step + offset
    assert totp.matching_step(secret, totp.hotp(key, step + 2), at=at) is None
    assert totp.matching_step(secret, totp.hotp(key, step - 2), at=at) is None


def test_a_code_is_used_once() -> None:
    secret = totp.new_secret()
    at = 1_700_000_015.0
    step = int(at // 30)
    code = totp.hotp(totp.key_of(secret), step)
    assert totp.matching_step(secret, code, at=at, after_step=step - 1) == step
    # The same code again, or an older one, is refused once a step was used.
    assert totp.matching_step(secret, code, at=at, after_step=step) is None
    older = totp.hotp(totp.key_of(secret), step - 1)
    assert totp.matching_step(secret, older, at=at, after_step=step) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 56x", None])
def test_malformed_codes_never_match(code: str | None) -> None:
    assert totp.matching_step(totp.new_secret(), code, at=1_700_000_000.0) is None


def test_spaces_in_a_code_are_ignored() -> None:
    secret = totp.new_secret()
    code = totp.totp(totp.key_of(secret), 1_700_000_000.0)
    spaced = f"{code[:3]} {code[3:]}"
    assert totp.matching_step(secret, spaced, at=1_700_000_000.0) is not None
