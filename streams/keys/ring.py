"""Pseudonymization keys: per jurisdiction, versioned for rotation, held in memory only.

Keys never sit in config or git; the config names where they come from
(`streams.keys.providers`). A key's bytes are never part of its repr, so they
can't reach a log line by accident; logs name a key by its fingerprint.

Rotation: a region may hold several versions. The highest version not yet
retired pseudonymizes new data; an older version stays resolvable (its
pseudonyms recomputable, its tokens decryptable) until its `retire_after`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

MIN_KEY_BYTES = 32  # HMAC-SHA256 gains nothing past its block size, and loses below its output size
DEVELOPMENT_KEY_VERSION = 0  # pseudonyms under an ephemeral key say so: pz:<region>:0:...
_FINGERPRINT_LABEL = b"residency-gateway key fingerprint"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class KeyUnavailable(Exception):
    """No usable key for a jurisdiction; the gateway holds data rather than pass it in the clear.

    `problems` lists every reason, each naming where the key should come from, never its value.
    """

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    key_id: str  # the jurisdiction (region) the key belongs to
    version: int
    secret: bytes = field(repr=False)
    # UTC; after it the version neither pseudonymizes nor resolves. None: until a later rotation.
    retire_after: datetime | None = None

    def retired(self, now: datetime) -> bool:
        return self.retire_after is not None and now > self.retire_after


def key_fingerprint(key: PseudonymKey) -> str:
    """A short, non-secret name of a key for logs and audits: an HMAC under the key, never the key."""
    return hmac.digest(key.secret, _FINGERPRINT_LABEL, "sha256").hex()[:8]


class KeyRing:
    """Every loaded key version of every jurisdiction that exports pseudonymized data."""

    def __init__(
        self, keys: Iterable[PseudonymKey], *, ephemeral: bool = False, clock: Clock = utc_now
    ) -> None:
        self._keys: dict[str, dict[int, PseudonymKey]] = {}
        for key in keys:
            versions = self._keys.setdefault(key.key_id, {})
            if key.version in versions:
                raise ValueError(f"region {key.key_id!r} has key version {key.version} twice")
            versions[key.version] = key
        # True for development keys: pseudonyms made with them can't be joined across runs.
        self.ephemeral = ephemeral
        self._clock = clock

    def for_region(self, region: str) -> PseudonymKey:
        """The current key: the highest version not retired. New data is pseudonymized with it."""
        now = self._clock()
        live = [key for key in self._keys.get(region, {}).values() if not key.retired(now)]
        if not live:
            if region in self._keys:
                raise KeyUnavailable(f"every pseudonymization key version of region {region!r} is retired")
            raise KeyUnavailable(f"no pseudonymization key for region {region!r}")
        return max(live, key=lambda key: key.version)

    def version(self, region: str, version: int) -> PseudonymKey:
        """A given version, while it is within its overlap window: to recompute or resolve old data."""
        key = self._keys.get(region, {}).get(version)
        if key is None:
            raise KeyUnavailable(f"no pseudonymization key version {version} for region {region!r}")
        if key.retire_after is not None and key.retired(self._clock()):
            raise KeyUnavailable(
                f"pseudonymization key version {version} of region {region!r} "
                f"was retired after {utc_text(key.retire_after)}"
            )
        return key

    def versions(self, region: str) -> list[int]:
        """The versions of a region that still resolve now, lowest first."""
        now = self._clock()
        return sorted(v for v, key in self._keys.get(region, {}).items() if not key.retired(now))

    def all_keys(self, region: str) -> list[PseudonymKey]:
        """Every loaded version of a region, retired ones included, highest first: for `keys check`."""
        return sorted(self._keys.get(region, {}).values(), key=lambda key: -key.version)

    def fingerprint(self, region: str) -> str:
        """The current key's fingerprint (see `key_fingerprint`)."""
        return key_fingerprint(self.for_region(region))

    def regions(self) -> list[str]:
        return sorted(self._keys)


def development_keys(regions: Iterable[str]) -> KeyRing:
    """Random keys that live as long as the process: for demo, explain and tests only."""
    keys = [PseudonymKey(r, DEVELOPMENT_KEY_VERSION, secrets.token_bytes(MIN_KEY_BYTES)) for r in regions]
    return KeyRing(keys, ephemeral=True)


def utc_text(moment: datetime) -> str:
    """A UTC time as the key text writes it: 2026-12-31T00:00:00Z."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
