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


def pseudonymized_copy(
    event: dict[str, Any], collector: CollectorFormat, key: PseudonymKey
) -> dict[str, Any]:
    def identifier(value: Any) -> Any:
        return _DROP if value is None else pseudonym(normalize_identifier(value), key)

    def email(value: Any) -> Any:
        return _DROP if value is None else pseudonym(normalize_email(value), key)

    def ip(value: Any) -> Any:
        truncated = truncate_ip(value) if isinstance(value, str) else None
        return _DROP if truncated is None else truncated

    copy = event
    for paths, transform in (
        (collector.identifier_paths, identifier),
        (collector.email_paths, email),
        (collector.ip_paths, ip),
    ):
        for path in paths:
            copy = _replaced(copy, path, transform)
    return copy


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
