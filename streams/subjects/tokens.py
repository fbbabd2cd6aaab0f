"""Reversible tokens under per-subject keys: destroy a subject's key and its tokens can't be read again.

A token is `tk:<region>:<dek id>:<base64url AES-SIV ciphertext>`. AES-SIV is
deterministic, so one subject's value always gives the same token and joins
downstream keep working; the region and key id are bound in as associated data,
so a token re-labelled to another key doesn't decrypt. The subject keys (DEKs)
are stored wrapped under the region's pseudonymization key, never in the clear.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streams.keys.ring import PseudonymKey

SUBJECT_KEY_BYTES = 64  # AES-256-SIV: one 256-bit key for the MAC and one for CTR
DEK_ID_HEX = 16
TOKEN_PREFIX = "tk"  # noqa: S105  # a format tag, not a secret
_REF_INFO = b"residency-gateway/subject-ref/v1"
_WRAP_INFO = b"residency-gateway/subject-key-wrap/v1"
_WRAP_FORMAT = 1  # first byte of a wrapped key, so the layout can change without guessing
_NONCE_BYTES = 12
_WRAPPED_BYTES = 1 + DEK_ID_HEX + _NONCE_BYTES + SUBJECT_KEY_BYTES + 16  # + the GCM tag
_HEX = frozenset("0123456789abcdef")


class TokenUnreadable(Exception):
    """A token can't be turned back into its value: its key was destroyed, or it is malformed or altered.

    The message never includes the value, and never the token's ciphertext.
    """


class WrappedKeyUnreadable(Exception):
    """A wrapped subject key doesn't open under the region key given: another key, region or version."""


@dataclass(frozen=True, slots=True)
class SubjectKey:
    dek_id: str
    secret: bytes = field(repr=False)
    wrapped_with: int  # the version of the region key that wraps it


def new_subject_key(region_key: PseudonymKey) -> SubjectKey:
    """A fresh random data key for one subject, to be wrapped under `region_key`."""
    return SubjectKey(
        secrets.token_hex(DEK_ID_HEX // 2), secrets.token_bytes(SUBJECT_KEY_BYTES), region_key.version
    )


def subject_ref(key: PseudonymKey, subject: str) -> str:
    """`<key version>.<base64url HMAC>`: names a subject in the key store without naming the person.

    The HMAC key is derived for this purpose only, so a ref never equals the
    gateway's pseudonym of the same value. The version is part of the ref
    because a ref made under another key version is another ref.
    """
    digest = hmac.digest(_derived(key, _REF_INFO), subject.encode("utf-8"), "sha256")
    return f"{key.version}.{_b64(digest)}"


def wrap(key: PseudonymKey, subject: SubjectKey) -> bytes:
    """The subject key encrypted (AES-256-GCM) under a key derived from the region key."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    dek_id = subject.dek_id.encode("ascii")
    sealed = AESGCM(_derived(key, _WRAP_INFO)).encrypt(nonce, subject.secret, _wrap_context(key, dek_id))
    return bytes([_WRAP_FORMAT]) + dek_id + nonce + sealed


def unwrap(key: PseudonymKey, blob: bytes) -> SubjectKey:
    if len(blob) != _WRAPPED_BYTES or blob[0] != _WRAP_FORMAT:
        raise WrappedKeyUnreadable("a wrapped subject key has the wrong length or format")
    dek_id = blob[1 : 1 + DEK_ID_HEX]
    nonce = blob[1 + DEK_ID_HEX : 1 + DEK_ID_HEX + _NONCE_BYTES]
    try:
        secret = AESGCM(_derived(key, _WRAP_INFO)).decrypt(
            nonce, blob[1 + DEK_ID_HEX + _NONCE_BYTES :], _wrap_context(key, dek_id)
        )
    except InvalidTag:
        raise WrappedKeyUnreadable(
            f"a subject key doesn't unwrap under the {key.key_id!r} key version {key.version}"
        ) from None
    return SubjectKey(dek_id.decode("ascii"), secret, key.version)


def token(value: str, subject: SubjectKey, region: str) -> str:
    sealed = AESSIV(subject.secret).encrypt(value.encode("utf-8"), _token_context(region, subject.dek_id))
    return f"{TOKEN_PREFIX}:{region}:{subject.dek_id}:{_b64(sealed)}"


def detokenize(token: str, lookup: Callable[[str, str], SubjectKey | None]) -> str:
    """The value inside `token`; `lookup(region, dek_id)` gives the subject key, None once destroyed."""
    prefix, region, dek_id, encoded = _split(token)
    if prefix != TOKEN_PREFIX or not region or len(dek_id) != DEK_ID_HEX or not _HEX.issuperset(dek_id):
        raise TokenUnreadable("not a token: expected tk:<region>:<dek id>:<ciphertext>")
    try:
        sealed = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise TokenUnreadable("the token's ciphertext is not base64url") from None
    subject = lookup(region, dek_id)
    if subject is None:
        raise TokenUnreadable(f"no key {dek_id} in region {region!r}: erased, or never known here")
    try:
        return AESSIV(subject.secret).decrypt(sealed, _token_context(region, dek_id)).decode("utf-8")
    except (InvalidTag, ValueError):
        raise TokenUnreadable(f"token under key {dek_id} was altered or is not this key's") from None


def _split(token: str) -> tuple[str, str, str, str]:
    parts = token.split(":", 3) if isinstance(token, str) else []
    if len(parts) != 4:
        raise TokenUnreadable("not a token: expected tk:<region>:<dek id>:<ciphertext>")
    return parts[0], parts[1], parts[2], parts[3]


def _token_context(region: str, dek_id: str) -> list[bytes]:
    return [b"residency-gateway/token/v1", region.encode("utf-8"), dek_id.encode("ascii")]


def _wrap_context(key: PseudonymKey, dek_id: bytes) -> bytes:
    return b"\0".join((key.key_id.encode("utf-8"), str(key.version).encode("ascii"), dek_id))


@lru_cache(maxsize=256)
def _derived(key: PseudonymKey, info: bytes) -> bytes:
    # Keys already live in memory; caching what's derived from them saves an HKDF (~5 µs) per call.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key.secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
