"""Make the copy of an event that may leave its region: identifiers keyed-HMAC'd, IPs truncated.

A pseudonym is `pz:<key id>:<key version>:<base64url HMAC-SHA256>`: keyed, so it
can't be reversed by hashing guesses; versioned, so rotation never silently
breaks a join. Only the paths that change are copied; the input is never mutated.
"""

from __future__ import annotations

import base64
import hmac
import socket
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from streams.formats.base import CollectorFormat, Path
from streams.keys import PseudonymKey

_DROP = object()  # a transform's answer meaning "remove the field"


def pseudonym(value: str, key: PseudonymKey) -> str:
    digest = hmac.digest(key.secret, value.encode("utf-8"), "sha256")
    encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return f"pz:{key.key_id}:{key.version}:{encoded}"


def normalize_identifier(value: Any) -> str:
    # Collectors send ids as strings or numbers; 42 and "42" are the same person.
    return value.strip() if isinstance(value, str) else str(value)


def normalize_email(value: Any) -> str:
    return normalize_identifier(value).lower()


def truncate_ip(ip: str) -> str | None:
    """IPv4 to its /24, IPv6 to its /48; None when the text isn't an IP (it is then dropped)."""
    try:
        if ":" in ip:
            packed = socket.inet_pton(socket.AF_INET6, ip)
            return socket.inet_ntop(socket.AF_INET6, packed[:6] + bytes(10))
        packed = socket.inet_pton(socket.AF_INET, ip)
        return socket.inet_ntop(socket.AF_INET, packed[:3] + b"\0")
    except (OSError, TypeError):
        return None


class Pseudonymizer:
    """Makes exportable copies under one key. Built once per key: the hot path allocates no closures.

    Identifiers repeat heavily in real traffic (a user emits many events), and an
    HMAC costs ~2 µs, so recent pseudonyms are cached in memory, where the key
    itself already lives.
    """

    def __init__(self, key: PseudonymKey, cache_size: int = 131_072) -> None:
        self.key = key
        self._pseudonym = lru_cache(maxsize=cache_size)(self._compute)

    def _compute(self, normalized: str) -> str:
        return pseudonym(normalized, self.key)

    def _identifier(self, value: Any) -> Any:
        return _DROP if value is None else self._pseudonym(normalize_identifier(value))

    def _email(self, value: Any) -> Any:
        return _DROP if value is None else self._pseudonym(normalize_email(value))

    @staticmethod
    def _ip(value: Any) -> Any:
        truncated = truncate_ip(value) if isinstance(value, str) else None
        return _DROP if truncated is None else truncated

    def copy(self, event: dict[str, Any], collector: CollectorFormat) -> dict[str, Any]:
        copy = event
        for path in collector.identifier_paths:
            copy = _replaced(copy, path, self._identifier)
        for path in collector.email_paths:
            copy = _replaced(copy, path, self._email)
        for path in collector.ip_paths:
            copy = _replaced(copy, path, self._ip)
        return copy


def pseudonymized_copy(
    event: dict[str, Any], collector: CollectorFormat, key: PseudonymKey
) -> dict[str, Any]:
    """One-off form of `Pseudonymizer.copy`, for callers that don't keep a pseudonymizer."""
    return Pseudonymizer(key, cache_size=0).copy(event, collector)


def _replaced(node: dict[str, Any], path: Path, transform: Callable[[Any], Any]) -> dict[str, Any]:
    """`node` with the field at `path` transformed, sharing every untouched branch."""
    key = path[0]
    if key not in node:
        return node
    value = node[key]
    if len(path) == 1:
        new_value = transform(value)
    elif isinstance(value, dict):
        new_value = _replaced(value, path[1:], transform)
        if new_value is value:
            return node
    else:
        return node
    copy = dict(node)
    if new_value is _DROP:
        del copy[key]
    else:
        copy[key] = new_value
    return copy
