"""Pseudonymization keys: one per jurisdiction, with a version, held in memory only.

Keys never sit in config or git; the config names where they come from. A key's
bytes are never part of its repr, so they can't reach a log line by accident.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MIN_KEY_BYTES = 32  # HMAC-SHA256 gains nothing past its block size, and loses below its output size
DEVELOPMENT_KEY_VERSION = 0  # pseudonyms under an ephemeral key say so: pz:<region>:0:...


class KeyUnavailable(Exception):
    """No usable key for a jurisdiction; the gateway holds data rather than pass it in the clear."""


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    key_id: str  # the jurisdiction (region) the key belongs to
    version: int
    secret: bytes = field(repr=False)


class KeyRing:
    """The current key of every jurisdiction that exports pseudonymized data."""

    def __init__(self, keys: Iterable[PseudonymKey], *, ephemeral: bool = False) -> None:
        self._keys = {key.key_id: key for key in keys}
        # True for development keys: pseudonyms made with them can't be joined across runs.
        self.ephemeral = ephemeral

    def for_region(self, region: str) -> PseudonymKey:
        try:
            return self._keys[region]
        except KeyError:
            raise KeyUnavailable(f"no pseudonymization key for region {region!r}") from None

    def regions(self) -> list[str]:
        return sorted(self._keys)


def development_keys(regions: Iterable[str]) -> KeyRing:
    """Random keys that live as long as the process: for demo, explain and tests only."""
    keys = [PseudonymKey(r, DEVELOPMENT_KEY_VERSION, secrets.token_bytes(MIN_KEY_BYTES)) for r in regions]
    return KeyRing(keys, ephemeral=True)


def env_var_name(prefix: str, region: str) -> str:
    return f"{prefix}{region.upper()}"


def keys_from_env(regions: Iterable[str], prefix: str, environ: Mapping[str, str] | None = None) -> KeyRing:
    """Read `<prefix><REGION>="<version>:<base64 key>"` for each region; report every problem at once."""
    environ = os.environ if environ is None else environ
    keys, problems = [], []
    for region in regions:
        name = env_var_name(prefix, region)
        value = environ.get(name)
        if not value:
            problems.append(f"{name} is not set")
            continue
        try:
            keys.append(_parse_key(region, value))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")  # the message never includes the value
    if problems:
        raise KeyUnavailable("; ".join(problems))
    return KeyRing(keys)


def _parse_key(region: str, value: str) -> PseudonymKey:
    version_text, sep, encoded = value.partition(":")
    if not sep or not version_text.isdigit() or int(version_text) < 1:
        raise ValueError('expected "<version>:<base64 key>" with a version of 1 or more')
    try:
        secret = base64.urlsafe_b64decode(_padded(encoded.strip().replace("+", "-").replace("/", "_")))
    except (binascii.Error, ValueError):
        raise ValueError("the key is not valid base64") from None
    if len(secret) < MIN_KEY_BYTES:
        raise ValueError(f"the key has {len(secret)} bytes; at least {MIN_KEY_BYTES} are needed")
    return PseudonymKey(region, int(version_text), secret)


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)
