"""The key text every provider reads: `<version>:<base64>[@<retire-after>]`, comma-separated.

`2:AbC...,1:XyZ...@2026-12-31T00:00:00Z` holds version 2 (current) and version 1,
resolvable until the end of 2026. Problems read `<where>: <problem>`, all at once,
and never quote the text: it is a secret, or wraps one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streams.keys.ring import MIN_KEY_BYTES, Clock, KeyRing, KeyUnavailable, PseudonymKey, utc_now, utc_text

ENTRY_FORMAT = '"<version>:<base64 key>[@<retire-after, e.g. 2026-12-31T00:00:00Z>]"'

# Turns an entry's material into the key's secret: itself, or what KMS decrypts it to.
# Raises ValueError with a message that doesn't quote the material.
Unwrap = Callable[["KeyText", "KeyEntry"], bytes]


@dataclass(frozen=True, slots=True)
class KeyText:
    """The key text of one region, and where it came from (a variable's name, a file's path)."""

    region: str
    where: str
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    version: int
    material: bytes = field(repr=False)  # the key itself, or a KMS ciphertext blob
    retire_after: datetime | None = None


def format_entry(version: int, material: bytes, retire_after: datetime | None = None) -> str:
    entry = f"{version}:{base64.b64encode(material).decode('ascii')}"
    return entry if retire_after is None else f"{entry}@{utc_text(retire_after)}"


def parse_key_text(text: str, where: str) -> tuple[list[KeyEntry], list[str]]:
    """The entries of a key text and every problem found in it, each as `<where>: <problem>`."""
    parts = [part.strip() for part in text.strip().split(",")]
    if parts == [""]:
        return [], [f"{where}: is empty; expected {ENTRY_FORMAT}"]
    entries: list[KeyEntry] = []
    problems: list[str] = []
    seen: set[int] = set()
    for number, part in enumerate(parts, start=1):
        label = where if len(parts) == 1 else f"{where}: entry {number}"
        entry, entry_problems = _parse_entry(part)
        problems.extend(f"{label}: {problem}" for problem in entry_problems)
        if entry is None:
            continue
        if entry.version in seen:
            problems.append(f"{label}: version {entry.version} appears more than once")
            continue
        seen.add(entry.version)
        entries.append(entry)
    return entries, problems


def _parse_entry(part: str) -> tuple[KeyEntry | None, list[str]]:
    if not part:
        return None, ["is empty (a stray comma?)"]
    version_text, sep, rest = part.partition(":")
    version_text = version_text.strip()
    problems: list[str] = []
    if not sep or not version_text.isdigit() or int(version_text) < 1:
        problems.append(f"expected {ENTRY_FORMAT} with a version of 1 or more")
    encoded, at, retire_text = rest.partition("@")
    material = _decoded(encoded.strip())
    if sep and material is None:
        problems.append("the key is not valid base64")
    retire_after = _retire_after(retire_text.strip()) if at else None
    if at and retire_after is None:
        problems.append("the retire-after time is not an ISO-8601 UTC time such as 2026-12-31T00:00:00Z")
    if problems or material is None:
        return None, problems
    return KeyEntry(int(version_text), material, retire_after), []


def _decoded(encoded: str) -> bytes | None:
    if not encoded:
        return None
    standard = encoded.replace("-", "+").replace("_", "/")  # accept url-safe base64 too
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _retire_after(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a time without a zone would depend on the machine reading it
    return moment.astimezone(UTC)


def plain(_text: KeyText, entry: KeyEntry) -> bytes:
    """The `Unwrap` of providers whose key text holds the key itself."""
    return entry.material


def key_ring(
    texts: Iterable[KeyText],
    problems: list[str],
    *,
    unwrap: Unwrap = plain,
    clock: Clock = utc_now,
) -> KeyRing:
    """Parse and unwrap every region's text; raise KeyUnavailable with all problems, if any.

    `problems` are those the caller met finding the texts (a variable not set, a file unreadable).
    Every region must end up with a current key: a region whose versions are all retired
    would hold every event, so it is refused at load rather than discovered in traffic.
    """
    problems = list(problems)
    keys: list[PseudonymKey] = []
    now = clock()
    for text in texts:
        entries, text_problems = parse_key_text(text.text, text.where)
        problems.extend(text_problems)
        if text_problems:
            continue
        region_keys: list[PseudonymKey] = []
        for entry in entries:
            try:
                secret = unwrap(text, entry)
            except ValueError as exc:
                problems.append(f"{text.where}: version {entry.version}: {exc}")
                continue
            if len(secret) < MIN_KEY_BYTES:
                problems.append(
                    f"{text.where}: version {entry.version}: the key has {len(secret)} bytes; "
                    f"at least {MIN_KEY_BYTES} are needed"
                )
                continue
            region_keys.append(PseudonymKey(text.region, entry.version, secret, entry.retire_after))
        if region_keys and all(key.retired(now) for key in region_keys):
            problems.append(f"{text.where}: every version is retired; add a new version (keys new)")
        keys.extend(region_keys)
    if problems:
        raise KeyUnavailable(*problems)
    return KeyRing(keys, clock=clock)
